import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import { testConfig, testLogger } from '../helpers/config.js';
import { at, client, envelope, recordCall, type Client } from '../helpers/resources.js';
import { seedTenant, type SeededTenant } from '../helpers/tenant.js';

let app: App;
let tenant: SeededTenant;
let c: Client;
const agentIds: string[] = [];
const callIds: string[] = [];

test.before(async () => {
  const config = testConfig();
  app = await startApp(config, testLogger(config));
  tenant = await seedTenant(app);
  c = client(app, tenant.headers);
  for (let i = 0; i < 45; i++) {
    const res = await c.post('/api/v1/agents', { name: `Agent ${i}`, config: { prompt: { system: 'x' } } });
    agentIds.push(res.body.id);
  }
  for (let i = 0; i < 45; i++) {
    callIds.push(
      recordCall(app, { tenantId: tenant.tenantId, mode: 'live', direction: 'inbound', startedAt: at('2024-05-01T00:00:00.000Z', i * 60) }),
    );
  }
});
test.after.always(() => app?.close());

const ids = (body: { items: { id: string }[] }) => body.items.map((x) => x.id);

test('45 agents: the default page is the first 20, and every window reports total 45', async (t) => {
  const first = await c.get('/api/v1/agents');
  t.is(first.status, 200);
  t.like(first.body, { total: 45, limit: 20, offset: 0 });
  t.is(first.body.items.length, 20);

  const seen: string[] = [];
  for (const offset of [0, 20, 40]) {
    const res = await c.get(`/api/v1/agents?limit=20&offset=${offset}`);
    t.like(res.body, { total: 45, limit: 20, offset });
    seen.push(...ids(res.body));
  }
  t.is(seen.length, 45);
  t.deepEqual([...seen].sort(), [...agentIds].sort(), 'the pages cover every row exactly once');
  t.deepEqual(ids((await c.get('/api/v1/agents?limit=100')).body), seen, 'windows follow one stable order');

  const last = await c.get('/api/v1/agents?limit=20&offset=40');
  t.is(last.body.items.length, 5);
  const beyond = await c.get('/api/v1/agents?offset=45');
  t.deepEqual(beyond.body, { items: [], total: 45, limit: 20, offset: 45 });
  const odd = await c.get('/api/v1/agents?limit=7&offset=13');
  t.deepEqual(ids(odd.body), seen.slice(13, 20));
});

test('limit is 1–100 and offset ≥ 0; anything else is a validation_error, never clamped', async (t) => {
  const cases: [string, { field: string; message: string }[]][] = [
    ['limit=101', [{ field: 'query.limit', message: 'Too big: expected number to be <=100' }]],
    ['limit=0', [{ field: 'query.limit', message: 'Too small: expected number to be >=1' }]],
    ['limit=ten', [{ field: 'query.limit', message: 'Invalid input: expected number, received NaN' }]],
    ['limit=2.5', [{ field: 'query.limit', message: 'Invalid input: expected int, received number' }]],
    ['offset=-5', [{ field: 'query.offset', message: 'Too small: expected number to be >=0' }]],
  ];
  for (const [q, details] of cases) {
    const res = await c.get(`/api/v1/agents?${q}`);
    t.is(res.status, 422, q);
    t.deepEqual(res.body, envelope('validation_error', 'Invalid query', details), q);
  }
  const max = await c.get('/api/v1/agents?limit=100');
  t.is(max.body.items.length, 45);
});

test('45 calls: newest first, windows and total correct, time range narrows the total', async (t) => {
  const all: string[] = [];
  for (const offset of [0, 20, 40]) {
    const res = await c.get(`/api/v1/calls?offset=${offset}`);
    t.like(res.body, { total: 45, limit: 20, offset });
    all.push(...ids(res.body));
  }
  t.deepEqual(all, [...callIds].reverse());
  // Calls 10..19 started in [10 min, 20 min).
  const range = await c.get(`/api/v1/calls?from=${at('2024-05-01T00:00:00.000Z', 600)}&to=${at('2024-05-01T00:00:00.000Z', 1200)}&limit=3&offset=2`);
  t.like(range.body, { total: 10, limit: 3, offset: 2 });
  t.deepEqual(ids(range.body), callIds.slice(10, 20).reverse().slice(2, 5));
});
