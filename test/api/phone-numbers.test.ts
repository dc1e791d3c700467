import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import { testConfig, testLogger } from '../helpers/config.js';
import { client, envelope, freshNumber, seedObjects, type Client, type Seeded } from '../helpers/resources.js';
import { mintKey, seedTenant, userWithRole, type SeededTenant } from '../helpers/tenant.js';

let app: App;
let t1: SeededTenant;
let admin: Client;
let owner: Client;
let o: Seeded;

test.before(async () => {
  const config = testConfig();
  app = await startApp(config, testLogger(config));
  t1 = await seedTenant(app);
  admin = client(app, t1.headers);
  owner = client(app, (await userWithRole(app, t1.tenantId, 'owner')).headers);
  o = seedObjects(app, { tenantId: t1.tenantId, mode: 'live' });
});
test.after.always(() => app?.close());

test('an owner maps a number to an agent and a trunk; read, update, delete', async (t) => {
  const number = freshNumber();
  const res = await owner.post('/api/v1/phone-numbers', { number, name: 'Main line', agentId: o.agentId, trunkId: o.trunkId });
  t.is(res.status, 201);
  const { id, createdAt, updatedAt } = res.body;
  t.deepEqual(res.body, { id, mode: 'live', number, name: 'Main line', agentId: o.agentId, trunkId: o.trunkId, createdAt, updatedAt });
  t.deepEqual((await admin.get(`/api/v1/phone-numbers/${id}`)).body, res.body);

  const moved = await admin.patch(`/api/v1/phone-numbers/${id}`, { number: 'reception.desk', trunkId: null });
  t.like(moved.body, { number: 'reception.desk', trunkId: null, agentId: o.agentId, name: 'Main line' });
  t.like(app.engine.store.phoneNumbers.findByNumber('reception.desk'), { id, tenantId: t1.tenantId, mode: 'live', agentId: o.agentId });

  const byAgent = await admin.get(`/api/v1/phone-numbers?agentId=${o.agentId}&limit=100`);
  t.true(byAgent.body.items.some((n: { id: string }) => n.id === id));
  t.true(byAgent.body.items.every((n: { agentId: string }) => n.agentId === o.agentId));
  const byTrunk = await admin.get(`/api/v1/phone-numbers?trunkId=${o.trunkId}`);
  t.false(byTrunk.body.items.some((n: { id: string }) => n.id === id));

  t.is((await owner.del(`/api/v1/phone-numbers/${id}`)).status, 204);
  t.is((await owner.get(`/api/v1/phone-numbers/${id}`)).status, 404);
  t.is(app.engine.store.phoneNumbers.findByNumber('reception.desk'), undefined);
});

test('numbers are E.164 or a SIP user', async (t) => {
  const res = await admin.post('/api/v1/phone-numbers', { number: '+1234567', agentId: 42 });
  t.is(res.status, 422);
  t.deepEqual(res.body, {
    error: {
      code: 'validation_error',
      message: 'Invalid request body',
      details: [
        { field: 'number', message: 'Must be an E.164 number (+ and 8–15 digits) or a SIP user (letters, digits, . _ -)' },
        { field: 'agentId', message: 'Invalid input: expected string, received number' },
      ],
    },
  });
  for (const bad of ['+1234567890123456', 'sales desk', '+44 20 7946 0000', '']) {
    t.is((await admin.post('/api/v1/phone-numbers', { number: bad })).status, 422, bad);
  }
  for (const good of ['+12345678', '+123456789012345', 'sales_desk-2.eu']) {
    t.is((await admin.post('/api/v1/phone-numbers', { number: good })).status, 201, good);
  }
});

test('a number is unique across the installation: another tenant or mode gets conflict', async (t) => {
  const number = freshNumber();
  t.is((await admin.post('/api/v1/phone-numbers', { number })).status, 201);
  const other = await seedTenant(app);
  const theirs = await client(app, other.headers).post('/api/v1/phone-numbers', { number });
  t.is(theirs.status, 409);
  t.deepEqual(theirs.body, envelope('conflict', `Number ${number} is already in use`));
  const testMode = client(app, { 'x-api-key': mintKey(app, t1.tenantId, { mode: 'test' }) });
  t.is((await testMode.post('/api/v1/phone-numbers', { number })).status, 409);
  const second = await admin.post('/api/v1/phone-numbers', { number: freshNumber() });
  const clash = await admin.patch(`/api/v1/phone-numbers/${second.body.id}`, { number });
  t.deepEqual(clash.body, envelope('conflict', `Number ${number} is already in use`));
});

test("the agent and the trunk must be the tenant's own, in the same mode", async (t) => {
  const other = await seedTenant(app);
  const foreign = seedObjects(app, { tenantId: other.tenantId, mode: 'live' });
  const res = await admin.post('/api/v1/phone-numbers', { number: freshNumber(), agentId: foreign.agentId, trunkId: foreign.trunkId });
  t.deepEqual(res.body, envelope('validation_error', 'Invalid request body', [
    { field: 'agentId', message: `Agent ${foreign.agentId} not found` },
    { field: 'trunkId', message: `SIP trunk ${foreign.trunkId} not found` },
  ]));
  const testMode = client(app, { 'x-api-key': mintKey(app, t1.tenantId, { mode: 'test' }) });
  const crossMode = await testMode.post('/api/v1/phone-numbers', { number: freshNumber(), agentId: o.agentId });
  t.deepEqual(crossMode.body, envelope('validation_error', 'Invalid request body', [{ field: 'agentId', message: `Agent ${o.agentId} not found` }]));
});

test('an empty agentId or trunkId is a validation error, not a server error', async (t) => {
  for (const field of ['agentId', 'trunkId']) {
    const res = await admin.post('/api/v1/phone-numbers', { number: freshNumber(), [field]: '' });
    t.is(res.status, 422, JSON.stringify(res.body));
    t.like(res.body, { error: { code: 'validation_error', details: [{ field }] } });
  }
});
