import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import { testConfig, testLogger } from '../helpers/config.js';
import { client, envelope, seedObjects, type Client, type Seeded } from '../helpers/resources.js';
import { seedTenant, userWithRole, type SeededTenant } from '../helpers/tenant.js';

let app: App;
let t1: SeededTenant;
let admin: Client;
let member: Client;
let viewer: Client;
let o: Seeded;

test.before(async () => {
  const config = testConfig();
  app = await startApp(config, testLogger(config));
  t1 = await seedTenant(app);
  admin = client(app, t1.headers);
  member = client(app, (await userWithRole(app, t1.tenantId, 'member')).headers);
  viewer = client(app, (await userWithRole(app, t1.tenantId, 'viewer')).headers);
  o = seedObjects(app, { tenantId: t1.tenantId, mode: 'live' });
  // The providers the configs below name (an agent may name only its tenant's providers).
  const scope = { tenantId: t1.tenantId, mode: 'live' as const };
  for (const [name, kind] of [['elevenlabs', 'elevenlabs'], ['deepgram', 'deepgram'], ['openai', 'openai'], ['my-ollama', 'openai']] as const) {
    app.engine.store.providers.create(scope, { name, kind });
  }
});
test.after.always(() => app?.close());

const fullConfig = () => ({
  prompt: { system: 'You are the front desk of a dental clinic.' },
  firstMessage: 'Hello, Smile Dental, how can I help?',
  language: 'en-GB',
  voice: { provider: 'elevenlabs', voiceId: 'rachel' },
  transcriber: { provider: 'deepgram', model: 'nova-2', language: 'en-GB' },
  llm: { provider: 'openai', model: 'gpt-4o-mini', temperature: 0.3 },
  toolIds: [o.toolId],
  workflowId: o.workflowId,
  bargeIn: false,
  timeouts: { silenceMs: 8000, maxDurationMs: 600000 },
  variables: { clinic: 'Smile Dental', floor: 2, open: true },
  webhookUrl: 'https://hooks.example.com/agent',
});

test('a member creates an agent with a full config and reads it back', async (t) => {
  const created = await member.post('/api/v1/agents', { name: ' Front desk ', description: 'Answers the main line', config: fullConfig() });
  t.is(created.status, 201);
  const { id, createdAt, updatedAt, ...rest } = created.body;
  t.regex(id, /^[0-9a-f-]{36}$/);
  t.is(createdAt, updatedAt);
  t.deepEqual(rest, { mode: 'live', name: 'Front desk', description: 'Answers the main line', status: 'active', config: fullConfig() });
  const got = await viewer.get(`/api/v1/agents/${id}`);
  t.is(got.status, 200);
  t.deepEqual(got.body, created.body);
});

test('config.prompt.system is required, as in the reference example', async (t) => {
  for (const body of [{ name: 'No config' }, { name: 'Empty config', config: {} }, { name: 'Empty prompt', config: { prompt: {} } }]) {
    const res = await admin.post('/api/v1/agents', body);
    t.is(res.status, 422);
    t.deepEqual(res.body, {
      error: { code: 'validation_error', message: 'Invalid request body', details: [{ field: 'config.prompt.system', message: 'Field is required' }] },
    });
  }
});

test('every config setting is validated, each error at its field', async (t) => {
  const res = await admin.post('/api/v1/agents', {
    name: '',
    status: 'paused',
    config: {
      prompt: { system: 'x' },
      language: 'english please',
      voice: { provider: 'elevenlabs' },
      llm: { provider: 'openai', model: 'gpt', temperature: 2.5 },
      timeouts: { silenceMs: 10 },
      webhookUrl: 'ftp://example.com',
      surprise: true,
    },
  });
  t.is(res.status, 422);
  t.deepEqual(res.body.error.details, [
    { field: 'name', message: 'Too small: expected string to have >=1 characters' },
    { field: 'status', message: 'Invalid option: expected one of "active"|"inactive"' },
    { field: 'config.language', message: 'Must be a BCP 47 language tag such as en-US' },
    { field: 'config.voice.voiceId', message: 'Field is required' },
    { field: 'config.llm.temperature', message: 'Too big: expected number to be <=2' },
    { field: 'config.timeouts.silenceMs', message: 'Too small: expected number to be >=1000' },
    { field: 'config.webhookUrl', message: 'Must be an http or https URL' },
    { field: 'config.surprise', message: 'Unknown field' },
  ]);
});

test('tool ids and the workflow id must exist in the tenant', async (t) => {
  const ghost = '00000000-0000-4000-8000-000000000000';
  const res = await admin.post('/api/v1/agents', {
    name: 'Dangling',
    config: { prompt: { system: 'x' }, toolIds: [o.toolId, ghost], workflowId: ghost },
  });
  t.deepEqual(
    res.body,
    envelope('validation_error', 'Invalid request body', [
      { field: 'config.toolIds[1]', message: `Tool ${ghost} not found` },
      { field: 'config.workflowId', message: `Workflow ${ghost} not found` },
    ]),
  );
});

test('PATCH replaces the fields given, and config keys one by one', async (t) => {
  const created = await admin.post('/api/v1/agents', { name: 'Sales', config: fullConfig() });
  const id = created.body.id;
  const res = await admin.patch(`/api/v1/agents/${id}`, {
    status: 'inactive',
    description: null,
    config: { llm: { provider: 'my-ollama', model: 'llama3.1:8b' }, firstMessage: null, toolIds: [] },
  });
  t.is(res.status, 200);
  t.is(res.body.status, 'inactive');
  t.is(res.body.name, 'Sales');
  t.is(res.body.description, null);
  t.deepEqual(res.body.config, { ...fullConfig(), llm: { provider: 'my-ollama', model: 'llama3.1:8b' }, firstMessage: null, toolIds: [] });
  t.is(res.body.createdAt, created.body.createdAt);
  t.true(res.body.updatedAt >= created.body.updatedAt);
  t.deepEqual((await admin.get(`/api/v1/agents/${id}`)).body, res.body);

  const bad = await admin.patch(`/api/v1/agents/${id}`, { config: { prompt: {} } });
  t.deepEqual(bad.body, envelope('validation_error', 'Invalid request body', [{ field: 'config.prompt.system', message: 'Field is required' }]));
});

test('an agent of kind websocket names its socket: validated at each field, and on the merged config of a PATCH', async (t) => {
  const prompt = { system: 'Runs elsewhere.' };
  const missing = await admin.post('/api/v1/agents', { name: 'BYO', config: { prompt, kind: 'websocket' } });
  t.deepEqual(missing.body, envelope('validation_error', 'Invalid request body', [{ field: 'config.websocket', message: 'Field is required when kind is websocket' }]));
  const bad = await admin.post('/api/v1/agents', {
    name: 'BYO',
    config: { prompt, kind: 'external', websocket: { url: 'http://agent.example.com/ws', audio: 'mp3', headers: { 'Sec-WebSocket-Key': 'x', 'X-Token': 'a\r\nInjected: 1' } } },
  });
  t.deepEqual(bad.body.error.details, [
    { field: 'config.kind', message: 'Invalid option: expected one of "builtin"|"websocket"' },
    { field: 'config.websocket.url', message: 'Must be a ws or wss URL' },
    { field: 'config.websocket.audio', message: 'Invalid option: expected one of "pcmu"|"l16"' },
    { field: 'config.websocket.headers.X-Token', message: 'Must not hold CR, LF or NUL' },
    { field: 'config.websocket.headers.Sec-WebSocket-Key', message: 'Is set by the WebSocket handshake itself' },
  ]);
  const websocket = { url: 'wss://agent.example.com/calls', audio: 'l16', headers: { Authorization: 'Bearer s3cret' } };
  const created = await admin.post('/api/v1/agents', { name: 'BYO', config: { prompt, kind: 'websocket', websocket } });
  t.is(created.status, 201);
  const control = await admin.post('/api/v1/agents', { name: 'BYO', config: { prompt, kind: 'websocket', websocket: { url: 'wss://a.example/ws', headers: { 'X-Token': 'a\u0007b', 'X-Name': 'Zoë ✓' } } } });
  t.deepEqual(control.body, envelope('validation_error', 'Invalid request body', [
    { field: 'config.websocket.headers.X-Token', message: 'Must hold only tab, printable ASCII and Latin-1 characters' },
    { field: 'config.websocket.headers.X-Name', message: 'Must hold only tab, printable ASCII and Latin-1 characters' },
  ]));
  // The header values are write-only: masked in every answer, stored as given.
  const masked = { ...websocket, headers: { Authorization: '********' } };
  t.deepEqual(created.body.config, { prompt, kind: 'websocket', websocket: masked });
  t.deepEqual((await admin.get(`/api/v1/agents/${created.body.id}`)).body.config.websocket, masked);
  const listed = (await admin.get('/api/v1/agents?limit=100')).body.items.find((a: { id: string }) => a.id === created.body.id);
  t.deepEqual(listed.config.websocket, masked);
  t.is(app.engine.store.agents.get({ tenantId: t1.tenantId, mode: 'live' }, created.body.id)?.config.websocket?.headers?.Authorization, 'Bearer s3cret');
  // Sending the mask back (a GET's body PATCHed as is) is refused rather than stored.
  const echoed = await admin.patch(`/api/v1/agents/${created.body.id}`, { config: { websocket: masked } });
  t.deepEqual(echoed.body, envelope('validation_error', 'Invalid request body', [{ field: 'config.websocket.headers.Authorization', message: 'Is the mask answers show: send the real value' }]));
  // Clearing the socket of a websocket agent, or making a builtin agent websocket without one: refused.
  const cleared = await admin.patch(`/api/v1/agents/${created.body.id}`, { config: { websocket: null } });
  t.deepEqual(cleared.body, envelope('validation_error', 'Invalid request body', [{ field: 'config.websocket', message: 'Field is required when kind is websocket' }]));
  const builtin = await admin.post('/api/v1/agents', { name: 'Built in', config: { prompt } });
  const toWs = await admin.patch(`/api/v1/agents/${builtin.body.id}`, { config: { kind: 'websocket' } });
  t.is(toWs.status, 422);
  t.is((await admin.patch(`/api/v1/agents/${builtin.body.id}`, { config: { kind: 'websocket', websocket } })).status, 200);
  // Both cleared: built in again.
  const back = await admin.patch(`/api/v1/agents/${created.body.id}`, { config: { kind: null, websocket: null } });
  t.is(back.status, 200);
  t.deepEqual(back.body.config, { prompt });
});

test('a websocket agent holds none of the built-in runtime’s settings, and a built-in agent no socket: refused, not stored and ignored', async (t) => {
  const prompt = { system: 'Runs elsewhere.' };
  const websocket = { url: 'wss://agent.example.com/calls' };
  const mixed = await admin.post('/api/v1/agents', {
    name: 'BYO',
    config: { prompt, kind: 'websocket', websocket, firstMessage: 'Hi', llm: { provider: 'p', model: 'm' }, workflowId: 'wf', toolIds: ['x'], bargeIn: false, variables: { a: 1 }, recording: true },
  });
  const ignored = 'Not used by a websocket agent (your program speaks and listens): remove it, or clear it with null';
  t.deepEqual(mixed.body, envelope('validation_error', 'Invalid request body', ['firstMessage', 'llm', 'toolIds', 'workflowId', 'bargeIn'].map((k) => ({ field: `config.${k}`, message: ignored }))));
  const stray = await admin.post('/api/v1/agents', { name: 'Built in', config: { prompt, websocket } });
  t.deepEqual(stray.body, envelope('validation_error', 'Invalid request body', [{ field: 'config.websocket', message: 'Used only when kind is websocket: remove it, or set kind' }]));
  // A built-in agent with an LLM becomes a websocket agent only with its LLM cleared in the same update.
  const builtin = await admin.post('/api/v1/agents', { name: 'Built in', config: { prompt, firstMessage: 'Hello', llm: { provider: 'my-ollama', model: 'llama3.1:8b' } } });
  t.is(builtin.status, 201, JSON.stringify(builtin.body));
  const toWs = await admin.patch(`/api/v1/agents/${builtin.body.id}`, { config: { kind: 'websocket', websocket } });
  t.deepEqual(toWs.body.error.details, [
    { field: 'config.firstMessage', message: ignored },
    { field: 'config.llm', message: ignored },
  ]);
  const switched = await admin.patch(`/api/v1/agents/${builtin.body.id}`, { config: { kind: 'websocket', websocket, firstMessage: null, llm: null } });
  t.is(switched.status, 200, JSON.stringify(switched.body));
  t.deepEqual(switched.body.config, { prompt, kind: 'websocket', websocket, firstMessage: null });
});

test('DELETE answers 204 and the agent is gone; its number is unassigned', async (t) => {
  const agent = app.engine.store.agents.create({ tenantId: t1.tenantId, mode: 'live' }, { name: 'Temp', config: { prompt: { system: 'x' } } });
  const number = app.engine.store.phoneNumbers.create({ tenantId: t1.tenantId, mode: 'live' }, { number: `temp-${agent.id.slice(0, 8)}`, agentId: agent.id });
  const res = await member.del(`/api/v1/agents/${agent.id}`);
  t.is(res.status, 204);
  t.is(res.body, '');
  t.is((await admin.get(`/api/v1/agents/${agent.id}`)).status, 404);
  t.is((await admin.del(`/api/v1/agents/${agent.id}`)).status, 404);
  t.is((await admin.get(`/api/v1/phone-numbers/${number.id}`)).body.agentId, null);
});

test('the list filters by status and creation time', async (t) => {
  const tenant = await seedTenant(app);
  const c = client(app, tenant.headers);
  const scope = { tenantId: tenant.tenantId, mode: 'live' as const };
  const on = app.engine.store.agents.create(scope, { name: 'On', config: { prompt: { system: 'x' } } });
  const off = app.engine.store.agents.create(scope, { name: 'Off', status: 'inactive', config: { prompt: { system: 'x' } } });
  const setCreated = app.engine.db.prepare('UPDATE agents SET created_at = ? WHERE id = ?');
  setCreated.run('2024-01-01T00:00:00.000Z', on.id);
  setCreated.run('2024-02-01T00:00:00.000Z', off.id);
  const ids = (r: { body: { items: { id: string }[] } }) => r.body.items.map((x) => x.id);
  t.deepEqual(ids(await c.get('/api/v1/agents')), [on.id, off.id], 'oldest first');
  t.deepEqual(ids(await c.get('/api/v1/agents?status=active')), [on.id]);
  t.deepEqual(ids(await c.get('/api/v1/agents?status=inactive')), [off.id]);
  t.deepEqual(ids(await c.get('/api/v1/agents?from=2024-01-15')), [off.id]);
  t.deepEqual(ids(await c.get('/api/v1/agents?to=2024-01-15')), [on.id]);
  t.deepEqual(ids(await c.get('/api/v1/agents?from=2024-01-01T01:00:00%2B01:00&to=2024-02-01T00:00:00Z')), [on.id], 'from inclusive, to exclusive');
  t.deepEqual(ids(await c.get('/api/v1/agents?status=inactive&to=2024-01-15')), []);
  const bad = await c.get('/api/v1/agents?status=paused&from=yesterday');
  t.deepEqual(bad.body.error.details.map((d: { field: string }) => d.field), ['query.from', 'query.status']);
});
