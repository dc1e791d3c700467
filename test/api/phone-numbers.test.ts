import test from 'ava';
import fc from 'fast-check';
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
  t.deepEqual(res.body, { id, mode: 'live', number, name: 'Main line', agentId: o.agentId, sipUserId: null, trunkId: o.trunkId, createdAt, updatedAt });
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

test('an empty agentId, sipUserId or trunkId is a validation error, not a server error', async (t) => {
  for (const field of ['agentId', 'sipUserId', 'trunkId']) {
    const res = await admin.post('/api/v1/phone-numbers', { number: freshNumber(), [field]: '' });
    t.is(res.status, 422, JSON.stringify(res.body));
    t.like(res.body, { error: { code: 'validation_error', details: [{ field }] } });
  }
});

test('a number rings a SIP user: read back, filtered by sipUserId, switched to an agent, cleared when the user is deleted', async (t) => {
  const user = await admin.post('/api/v1/sip-users', { username: `ring${Date.now() % 100000}`, password: 'ring-secret-1' });
  t.is(user.status, 201, JSON.stringify(user.body));
  const res = await owner.post('/api/v1/phone-numbers', { number: freshNumber(), sipUserId: user.body.id, trunkId: o.trunkId });
  t.is(res.status, 201, JSON.stringify(res.body));
  t.like(res.body, { agentId: null, sipUserId: user.body.id, trunkId: o.trunkId });
  t.like(app.engine.store.phoneNumbers.findByNumber(res.body.number), { sipUserId: user.body.id, agentId: null });
  const byUser = await admin.get(`/api/v1/phone-numbers?sipUserId=${user.body.id}`);
  t.deepEqual(byUser.body.items.map((n: { id: string }) => n.id), [res.body.id]);
  // Setting the agent alone would leave both: refused; with the user cleared, it routes to the agent.
  const both = await admin.patch(`/api/v1/phone-numbers/${res.body.id}`, { agentId: o.agentId });
  t.is(both.status, 422);
  t.deepEqual(both.body, envelope('validation_error', 'Invalid request body', [{ field: 'agentId', message: 'A number routes to an agent or a SIP user, not both (set the other to null)' }]));
  const toAgent = await admin.patch(`/api/v1/phone-numbers/${res.body.id}`, { agentId: o.agentId, sipUserId: null });
  t.like(toAgent.body, { agentId: o.agentId, sipUserId: null });
  const back = await admin.patch(`/api/v1/phone-numbers/${res.body.id}`, { agentId: null, sipUserId: user.body.id });
  t.like(back.body, { agentId: null, sipUserId: user.body.id });
  t.is((await admin.del(`/api/v1/sip-users/${user.body.id}`)).status, 204);
  t.like((await admin.get(`/api/v1/phone-numbers/${res.body.id}`)).body, { agentId: null, sipUserId: null, trunkId: o.trunkId });
});

test("a number's SIP user must be the tenant's own, in the same mode, and not next to an agent", async (t) => {
  const other = await seedTenant(app);
  const foreign = seedObjects(app, { tenantId: other.tenantId, mode: 'live' });
  const theirs = await admin.post('/api/v1/phone-numbers', { number: freshNumber(), sipUserId: foreign.sipUserId });
  t.is(theirs.status, 422);
  t.deepEqual(theirs.body, envelope('validation_error', 'Invalid request body', [{ field: 'sipUserId', message: `SIP user ${foreign.sipUserId} not found` }]));
  const testMode = client(app, { 'x-api-key': mintKey(app, t1.tenantId, { mode: 'test' }) });
  const crossMode = await testMode.post('/api/v1/phone-numbers', { number: freshNumber(), sipUserId: o.sipUserId });
  t.deepEqual(crossMode.body, envelope('validation_error', 'Invalid request body', [{ field: 'sipUserId', message: `SIP user ${o.sipUserId} not found` }]));
  const both = await admin.post('/api/v1/phone-numbers', { number: freshNumber(), agentId: o.agentId, sipUserId: o.sipUserId });
  t.deepEqual(both.body, envelope('validation_error', 'Invalid request body', [{ field: 'sipUserId', message: 'A number routes to an agent or a SIP user, not both (set the other to null)' }]));
  const unknown = await admin.post('/api/v1/phone-numbers', { number: freshNumber(), sipUserId: 'c2d4e6f8-1a3b-4c5d-8e7f-9a0b1c2d3e4f' });
  t.is(unknown.status, 422);
});

/**
 * Number bodies over every target combination: the status is exactly what the rules say (201, or
 * 422 in the envelope), never a 5xx, and what is stored is what was asked.
 */
test('property: number bodies with any mix of agent, SIP user and trunk get exactly the expected answer', async (t) => {
  const RUNS = 120;
  const other = await seedTenant(app);
  const foreign = seedObjects(app, { tenantId: other.tenantId, mode: 'live' });
  const ref = (own: string, theirs: string) => fc.constantFrom<string | null | undefined>(undefined, null, own, theirs, '', 'not-a-uuid');
  const counts: Record<number, number> = {};
  // A key whose rate limit the runs cannot reach.
  const api = client(app, { 'x-api-key': mintKey(app, t1.tenantId, { rateLimit: 1_000_000 }) });
  await fc.assert(
    fc.asyncProperty(ref(o.agentId, foreign.agentId), ref(o.sipUserId, foreign.sipUserId), ref(o.trunkId, foreign.trunkId), async (agentId, sipUserId, trunkId) => {
      const body: Record<string, unknown> = { number: freshNumber() };
      for (const [k, v] of Object.entries({ agentId, sipUserId, trunkId })) if (v !== undefined) body[k] = v;
      const res = await api.post('/api/v1/phone-numbers', body);
      counts[res.status] = (counts[res.status] ?? 0) + 1;
      const own = (v: string | null | undefined, mine: string) => v === undefined || v === null || v === mine;
      const ok = [agentId, sipUserId, trunkId].every((v) => v !== '') && own(agentId, o.agentId) && own(sipUserId, o.sipUserId) && own(trunkId, o.trunkId) && !(agentId && sipUserId);
      if (!ok) {
        t.is(res.status, 422, JSON.stringify({ body, got: res.body }));
        t.is(res.body.error.code, 'validation_error');
        return;
      }
      t.is(res.status, 201, JSON.stringify({ body, got: res.body }));
      t.like(res.body, { agentId: agentId ?? null, sipUserId: sipUserId ?? null, trunkId: trunkId ?? null });
    }),
    { numRuns: RUNS },
  );
  t.log(`${RUNS} bodies per run: ${Object.entries(counts).map(([s, n]) => `${n} × ${s}`).join(', ')}`);
});
