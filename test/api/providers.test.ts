/**
 * Providers (`/api/v1/providers`): CRUD with a write-only API key (never in a response, nor in any
 * log line of the engine, captured at `trace`), names unique per tenant and mode with `flite`
 * reserved, tenant isolation, test/live separation, the runtime's `resolve`, and the agents'
 * side: a config naming a missing provider, or one of the wrong kind, is a 422 at that field;
 * a provider agents use cannot be deleted, renamed, or given a kind that no longer serves them.
 */
import { Writable } from 'node:stream';
import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import { createLogger } from '../../config/logger.js';
import { testConfig } from '../helpers/config.js';
import { client, envelope, type Client } from '../helpers/resources.js';
import { mintKey, seedTenant, userWithRole, type SeededTenant } from '../helpers/tenant.js';

let app: App;
let t1: SeededTenant;
let admin: Client;
/** Every log line the engine wrote, as text. */
const logText: string[] = [];
/** Every response body the tests received, as text. */
const responses: string[] = [];

test.before(async () => {
  const config = testConfig({ log: { level: 'trace' } });
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logText.push(chunk.toString());
      cb();
    },
  });
  app = await startApp(config, createLogger(config.log, dest));
  t1 = await seedTenant(app);
  admin = client(app, t1.headers);
});
test.after.always(() => app?.close());

/** A client whose every response body is kept, to look for keys in. */
function recorded(c: Client): Client {
  const keep = async <T extends { body: unknown }>(p: Promise<T>) => {
    const r = await p;
    responses.push(JSON.stringify(r.body));
    return r;
  };
  return {
    get: (p) => keep(c.get(p)),
    post: (p, b) => keep(c.post(p, b)),
    patch: (p, b) => keep(c.patch(p, b)),
    del: (p) => keep(c.del(p)),
    call: (m, p, b) => keep(c.call(m, p, b)),
  };
}

let n = 0;
/** A key no other test uses, printable ASCII like a real one. */
const secret = () => `sk-proj-SECRET${++n}-${Math.random().toString(36).slice(2)}~!`;

/** Checks that `keys` are in no response body and no log line so far. */
function neverShown(t: { false(v: boolean, m?: string): void; true(v: boolean, m?: string): void }, keys: string[]) {
  const logs = logText.join('');
  t.true(logs.length > 0, 'the engine logged something');
  for (const k of keys) {
    t.false(responses.some((r) => r.includes(k)), `${k} in a response`);
    t.false(logs.includes(k), `${k} in a log line`);
  }
}

test.serial('CRUD: the API key is write-only (apiKeySet), kept when left out, removed by null, replaced when given; resolve gives the runtime the key', async (t) => {
  const api = recorded(admin);
  const [k1, k2] = [secret(), secret()];
  const created = await api.post('/api/v1/providers', { name: 'openai', kind: 'openai', apiKey: k1 });
  t.is(created.status, 201);
  const { id, createdAt, updatedAt, ...rest } = created.body;
  t.is(createdAt, updatedAt);
  t.deepEqual(rest, { mode: 'live', name: 'openai', kind: 'openai', baseUrl: null, apiKeySet: true });
  t.deepEqual((await api.get(`/api/v1/providers/${id}`)).body, created.body);
  const store = app.engine.store.providers;
  t.deepEqual(store.resolve(t1.tenantId, 'live', 'openai'), { kind: 'openai', apiKey: k1, baseUrl: null });

  // Left out: kept. A base URL for an OpenAI-compatible server.
  const patched = await api.patch(`/api/v1/providers/${id}`, { baseUrl: 'http://127.0.0.1:11434/v1' });
  t.is(patched.status, 200);
  t.like(patched.body, { name: 'openai', baseUrl: 'http://127.0.0.1:11434/v1', apiKeySet: true });
  t.deepEqual(store.resolve(t1.tenantId, 'live', 'openai'), { kind: 'openai', apiKey: k1, baseUrl: 'http://127.0.0.1:11434/v1' });
  // Replaced, then removed; baseUrl null is the public endpoint again.
  t.like((await api.patch(`/api/v1/providers/${id}`, { apiKey: k2 })).body, { apiKeySet: true });
  t.is(store.resolve(t1.tenantId, 'live', 'openai')?.apiKey, k2);
  t.like((await api.patch(`/api/v1/providers/${id}`, { apiKey: null, baseUrl: null })).body, { apiKeySet: false, baseUrl: null });
  t.deepEqual(store.resolve(t1.tenantId, 'live', 'openai'), { kind: 'openai', apiKey: null, baseUrl: null });
  t.is(store.resolve(t1.tenantId, 'live', 'flite'), null, 'flite is built in, never stored');
  t.is(store.resolve(t1.tenantId, 'live', 'nope'), null);

  // A second one with a wss URL; the list, and the list by kind.
  const dg = await api.post('/api/v1/providers', { name: 'dg', kind: 'deepgram', baseUrl: 'wss://127.0.0.1:9/v1', apiKey: k1 });
  t.is(dg.status, 201);
  const list = await api.get('/api/v1/providers');
  t.deepEqual(list.body.items.map((p: { name: string }) => p.name), ['openai', 'dg']);
  t.is(list.body.total, 2);
  t.deepEqual((await api.get('/api/v1/providers?kind=deepgram')).body.items.map((p: { id: string }) => p.id), [dg.body.id]);
  t.true(list.body.items.every((p: Record<string, unknown>) => !('apiKey' in p) && typeof p.apiKeySet === 'boolean'));

  // A name is taken per tenant and mode; taking it by rename is a conflict too.
  const dup = await api.post('/api/v1/providers', { name: 'openai', kind: 'openai', apiKey: k2 });
  t.deepEqual([dup.status, dup.body], [409, envelope('conflict', 'A provider named "openai" already exists')]);
  const renamed = await api.patch(`/api/v1/providers/${dg.body.id}`, { name: 'openai', apiKey: k2 });
  t.deepEqual([renamed.status, renamed.body], [409, envelope('conflict', 'A provider named "openai" already exists')]);

  t.is((await api.del(`/api/v1/providers/${dg.body.id}`)).status, 204);
  t.is((await api.get(`/api/v1/providers/${dg.body.id}`)).status, 404);
  t.is(store.resolve(t1.tenantId, 'live', 'dg'), null);
  t.is((await api.del(`/api/v1/providers/${id}`)).status, 204);
  neverShown(t, [k1, k2]);
});

test.serial('validation: names (flite reserved), kinds, URLs, keys; each error at its field, the key never echoed', async (t) => {
  const api = recorded(admin);
  const k = secret();
  const cases: [unknown, { field: string; message: string }[]][] = [
    [{ name: 'flite', kind: 'openai', apiKey: k }, [{ field: 'name', message: 'flite is the built-in text-to-speech provider: choose another name' }]],
    [{ name: 'Flite', kind: 'elevenlabs', apiKey: k }, [{ field: 'name', message: 'flite is the built-in text-to-speech provider: choose another name' }]],
    [{ name: 'my ollama', kind: 'openai' }, [{ field: 'name', message: 'Must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit' }]],
    [{ name: 'x', kind: 'anthropic', apiKey: k }, [{ field: 'kind', message: 'Invalid option: expected one of "openai"|"deepgram"|"elevenlabs"' }]],
    [{ name: 'x', kind: 'openai', baseUrl: 'ftp://127.0.0.1/v1' }, [{ field: 'baseUrl', message: 'Must be an http, https, ws or wss URL' }]],
    [{ name: 'x', kind: 'openai', apiKey: `${k} with spaces` }, [{ field: 'apiKey', message: 'Must be printable ASCII without spaces' }]],
    [{ name: 'x', kind: 'openai', apiKey: `${k}\r\nX-Injected: 1` }, [{ field: 'apiKey', message: 'Must be printable ASCII without spaces' }]],
    [{ name: 'x', kind: 'openai', apiKey: '' }, [{ field: 'apiKey', message: 'Must be printable ASCII without spaces' }]],
    [{ name: 'x', kind: 'openai', apiKey: 'k'.repeat(4097) }, [{ field: 'apiKey', message: 'Too big: expected string to have <=4096 characters' }]],
    [{ name: 'x', kind: 'openai', apiKey: k, secret: k }, [{ field: 'secret', message: 'Unknown field' }]],
    [{ kind: 'openai', apiKey: k }, [{ field: 'name', message: 'Field is required' }]],
  ];
  for (const [body, details] of cases) {
    const r = await api.post('/api/v1/providers', body);
    t.deepEqual([r.status, r.body], [422, envelope('validation_error', 'Invalid request body', details)], JSON.stringify(body));
  }
  t.is((await api.get('/api/v1/providers')).body.total, 0, 'nothing was created');
  neverShown(t, [k]);
});

test.serial('access: owners and admins write, members and viewers only read; scoped keys need providers:read / providers:write', async (t) => {
  const k = secret();
  const p = await recorded(admin).post('/api/v1/providers', { name: 'el', kind: 'elevenlabs', apiKey: k });
  t.is(p.status, 201);
  const member = recorded(client(app, (await userWithRole(app, t1.tenantId, 'member')).headers));
  const viewer = recorded(client(app, (await userWithRole(app, t1.tenantId, 'viewer')).headers));
  const denied = envelope('authorization_error', 'Role member may not do this (needs owner or admin)');
  t.deepEqual((await member.post('/api/v1/providers', { name: 'm', kind: 'openai' })).body, denied);
  t.deepEqual((await member.patch(`/api/v1/providers/${p.body.id}`, { apiKey: null })).body, denied);
  t.deepEqual((await member.del(`/api/v1/providers/${p.body.id}`)).body, denied);
  t.deepEqual((await viewer.get(`/api/v1/providers/${p.body.id}`)).body, p.body);
  const readKey = recorded(client(app, { 'x-api-key': mintKey(app, t1.tenantId, { scopes: ['providers:read'] }) }));
  t.is((await readKey.get('/api/v1/providers')).status, 200);
  t.deepEqual((await readKey.post('/api/v1/providers', { name: 'r', kind: 'openai' })).body, envelope('authorization_error', 'API key lacks scope providers:write'));
  const agentsKey = recorded(client(app, { 'x-api-key': mintKey(app, t1.tenantId, { scopes: ['agents:*'] }) }));
  t.deepEqual((await agentsKey.get('/api/v1/providers')).body, envelope('authorization_error', 'API key lacks scope providers:read'));
  t.is((await admin.del(`/api/v1/providers/${p.body.id}`)).status, 204);
  neverShown(t, [k]);
});

test.serial('tenants and modes are apart: the same name in each, none sees or changes another’s', async (t) => {
  const [kLive, kTest, kOther] = [secret(), secret(), secret()];
  const live = recorded(admin);
  const test_ = recorded(client(app, { 'x-api-key': mintKey(app, t1.tenantId, { mode: 'test' }) }));
  const t2 = await seedTenant(app);
  const other = recorded(client(app, t2.headers));
  const a = await live.post('/api/v1/providers', { name: 'llm', kind: 'openai', apiKey: kLive });
  const b = await test_.post('/api/v1/providers', { name: 'llm', kind: 'openai', baseUrl: 'http://127.0.0.1:8000/v1', apiKey: kTest });
  const c = await other.post('/api/v1/providers', { name: 'llm', kind: 'openai', apiKey: kOther });
  t.deepEqual([a.status, b.status, c.status], [201, 201, 201]);
  t.is(b.body.mode, 'test');
  const store = app.engine.store.providers;
  t.is(store.resolve(t1.tenantId, 'live', 'llm')?.apiKey, kLive);
  t.deepEqual(store.resolve(t1.tenantId, 'test', 'llm'), { kind: 'openai', apiKey: kTest, baseUrl: 'http://127.0.0.1:8000/v1' });
  t.is(store.resolve(t2.tenantId, 'live', 'llm')?.apiKey, kOther);
  t.is(store.resolve(t2.tenantId, 'test', 'llm'), null);

  const notFound = envelope('not_found', 'No such provider');
  for (const [who, theirs] of [[other, a.body.id], [test_, a.body.id], [live, b.body.id], [live, c.body.id]] as const) {
    t.deepEqual((await who.get(`/api/v1/providers/${theirs}`)).body, notFound);
    t.deepEqual((await who.patch(`/api/v1/providers/${theirs}`, { apiKey: null })).body, notFound);
    t.deepEqual((await who.del(`/api/v1/providers/${theirs}`)).body, notFound);
  }
  t.deepEqual((await live.get('/api/v1/providers')).body.items.map((p: { id: string }) => p.id), [a.body.id]);
  t.deepEqual((await test_.get('/api/v1/providers')).body.items.map((p: { id: string }) => p.id), [b.body.id]);
  t.deepEqual((await other.get('/api/v1/providers')).body.items.map((p: { id: string }) => p.id), [c.body.id]);
  t.is(store.resolve(t1.tenantId, 'live', 'llm')?.apiKey, kLive, 'nothing changed');

  // An agent sees only its own mode's providers.
  const testAgent = await test_.post('/api/v1/agents', { name: 'T', config: { prompt: { system: 'x' }, llm: { provider: 'llm', model: 'm' } } });
  t.is(testAgent.status, 201);
  const otherAgent = await other.post('/api/v1/agents', { name: 'O', config: { prompt: { system: 'x' }, voice: { provider: 'llm', voiceId: 'alloy' } } });
  t.is(otherAgent.status, 201);
  // The test agent uses the test provider, not the live one of the same name.
  t.is((await test_.del(`/api/v1/providers/${b.body.id}`)).status, 409);
  t.is((await live.del(`/api/v1/providers/${a.body.id}`)).status, 204);
  neverShown(t, [kLive, kTest, kOther]);
});

test.serial('agents: each provider must exist in the tenant and mode and be of a kind that serves where it is named (422 at the field)', async (t) => {
  const api = recorded(admin);
  for (const [name, kind] of [['oa', 'openai'], ['dg', 'deepgram'], ['el', 'elevenlabs']] as const) {
    t.is((await api.post('/api/v1/providers', { name, kind })).status, 201);
  }
  const agent = (config: Record<string, unknown>) => api.post('/api/v1/agents', { name: 'A', config: { prompt: { system: 'x' }, ...config } });
  // Every kind where it fits, and flite for the voice.
  const fits: Record<string, unknown>[] = [
    { voice: { provider: 'flite', voiceId: 'kal' }, transcriber: { provider: 'dg' }, llm: { provider: 'oa', model: 'gpt-4o-mini' } },
    { voice: { provider: 'el', voiceId: 'rachel' }, transcriber: { provider: 'oa' } },
    { voice: { provider: 'oa', voiceId: 'alloy' } },
  ];
  for (const config of fits) t.is((await agent(config)).status, 201, JSON.stringify(config));

  const bad = await agent({
    voice: { provider: 'dg', voiceId: 'v' },
    transcriber: { provider: 'el' },
    llm: { provider: 'nope', model: 'm' },
    toolIds: ['00000000-0000-4000-8000-000000000000'],
  });
  t.deepEqual(
    bad.body,
    envelope('validation_error', 'Invalid request body', [
      { field: 'config.voice.provider', message: 'Provider "dg" is of kind deepgram: voice needs flite or a provider of kind openai or elevenlabs' },
      { field: 'config.transcriber.provider', message: 'Provider "el" is of kind elevenlabs: transcriber needs a provider of kind deepgram or openai' },
      { field: 'config.llm.provider', message: 'Provider "nope" not found: llm needs a provider of kind openai' },
      { field: 'config.toolIds[0]', message: 'Tool 00000000-0000-4000-8000-000000000000 not found' },
    ]),
  );
  const onlyLlm = await agent({ llm: { provider: 'dg', model: 'm' } });
  t.deepEqual(onlyLlm.body, envelope('validation_error', 'Invalid request body', [
    { field: 'config.llm.provider', message: 'Provider "dg" is of kind deepgram: llm needs a provider of kind openai' },
  ]));
  // PATCH checks the keys it gives.
  const a = await agent({ llm: { provider: 'oa', model: 'm' } });
  const p = await api.patch(`/api/v1/agents/${a.body.id}`, { config: { llm: { provider: 'el', model: 'm' } } });
  t.deepEqual(p.body, envelope('validation_error', 'Invalid request body', [
    { field: 'config.llm.provider', message: 'Provider "el" is of kind elevenlabs: llm needs a provider of kind openai' },
  ]));
  t.is((await api.patch(`/api/v1/agents/${a.body.id}`, { config: { voice: { provider: 'flite', voiceId: 'kal' } } })).status, 200);
  // Another mode's provider of that name does not count.
  const testKey = recorded(client(app, { 'x-api-key': mintKey(app, t1.tenantId, { mode: 'test' }) }));
  const inTest = await testKey.post('/api/v1/agents', { name: 'T', config: { prompt: { system: 'x' }, llm: { provider: 'oa', model: 'm' } } });
  t.deepEqual(inTest.body, envelope('validation_error', 'Invalid request body', [
    { field: 'config.llm.provider', message: 'Provider "oa" not found: llm needs a provider of kind openai' },
  ]));
});

test.serial('a provider agents use cannot be deleted, renamed or given a kind that does not serve them (409 naming the agents)', async (t) => {
  const api = recorded(admin);
  const t3 = await seedTenant(app);
  const own = recorded(client(app, t3.headers));
  const oa = await own.post('/api/v1/providers', { name: 'oa', kind: 'openai' });
  const a1 = await own.post('/api/v1/agents', { name: 'A1', config: { prompt: { system: 'x' }, llm: { provider: 'oa', model: 'm' } } });
  const a2 = await own.post('/api/v1/agents', { name: 'A2', config: { prompt: { system: 'x' }, transcriber: { provider: 'oa' } } });
  const used = `agent ${a1.body.id}, agent ${a2.body.id}`;
  const del = await own.del(`/api/v1/providers/${oa.body.id}`);
  t.deepEqual([del.status, del.body], [409, envelope('conflict', `Provider is used by ${used}`)]);
  const ren = await own.patch(`/api/v1/providers/${oa.body.id}`, { name: 'oa2' });
  t.deepEqual([ren.status, ren.body], [409, envelope('conflict', `Provider is used by ${used} by its name: change their config first`)]);
  const kind = await own.patch(`/api/v1/providers/${oa.body.id}`, { kind: 'deepgram' });
  t.deepEqual([kind.status, kind.body], [409, envelope('conflict', `A deepgram provider cannot serve agent ${a1.body.id} (config.llm.provider needs a provider of kind openai)`)]);
  t.like((await own.get(`/api/v1/providers/${oa.body.id}`)).body, { name: 'oa', kind: 'openai' }, 'nothing changed');
  // Keys and URLs may change under the agents; once A1 is gone, deepgram serves A2's transcriber.
  t.is((await own.patch(`/api/v1/providers/${oa.body.id}`, { apiKey: secret(), baseUrl: 'https://127.0.0.1:1/v1' })).status, 200);
  t.is((await own.del(`/api/v1/agents/${a1.body.id}`)).status, 204);
  t.like((await own.patch(`/api/v1/providers/${oa.body.id}`, { kind: 'deepgram' })).body, { kind: 'deepgram' });
  t.is((await own.del(`/api/v1/agents/${a2.body.id}`)).status, 204);
  t.is((await own.del(`/api/v1/providers/${oa.body.id}`)).status, 204);
  t.is((await api.get('/api/v1/providers')).status, 200);
});
