/**
 * Every resource route against the callers it must refuse: no credentials (401), a role or an
 * API-key scope that may not act (403), another tenant's object and a missing object (404,
 * without touching the object). Then mode isolation: a test key neither sees nor changes live
 * rows, and the reverse.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import { writeWav } from '../../media/audio/wav.js';
import { testConfig, testLogger } from '../helpers/config.js';
import { client, envelope, freshNumber, seedObjects, simpleGraph, type Client, type Seeded } from '../helpers/resources.js';
import { mintKey, seedTenant, userWithRole } from '../helpers/tenant.js';

let app: App;
let a: Seeded;
let tenantA: string;
const as: Record<string, Client> = {};

test.before(async () => {
  const config = testConfig();
  app = await startApp(config, testLogger(config));
  const ta = await seedTenant(app);
  const tb = await seedTenant(app);
  tenantA = ta.tenantId;
  a = seedObjects(app, { tenantId: ta.tenantId, mode: 'live' });
  seedObjects(app, { tenantId: tb.tenantId, mode: 'live' });
  // The admin walks every case several times: a key whose rate limit the walk cannot reach.
  as.admin = client(app, { 'x-api-key': mintKey(app, ta.tenantId, { rateLimit: 1_000_000 }) });
  as.nobody = client(app, {});
  as.viewer = client(app, (await userWithRole(app, ta.tenantId, 'viewer')).headers);
  as.member = client(app, (await userWithRole(app, ta.tenantId, 'member')).headers);
  as.otherTenant = client(app, tb.headers);
  as.test = client(app, { 'x-api-key': mintKey(app, ta.tenantId, { mode: 'test' }) });
  as.unrelatedScope = client(app, { 'x-api-key': mintKey(app, ta.tenantId, { scopes: ['unrelated:read'] }) });
});
test.after.always(() => app?.close());

type Write = 'editor' | 'manager';
interface Case {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: (o: Seeded) => string;
  body?: () => unknown;
  scope: string;
  write?: Write;
  /** The not_found message when the path names an object. */
  missing?: string;
  /** The answer once authorization passed, when it is not a success: the route's own validation. */
  passes?: number;
}

const cases: Case[] = [
  { method: 'GET', path: () => '/api/v1/agents', scope: 'agents:read' },
  { method: 'GET', path: (o) => `/api/v1/agents/${o.agentId}`, scope: 'agents:read', missing: 'No such agent' },
  { method: 'POST', path: () => '/api/v1/agents', body: () => ({ name: 'A', config: { prompt: { system: 'x' } } }), scope: 'agents:write', write: 'editor' },
  { method: 'PATCH', path: (o) => `/api/v1/agents/${o.agentId}`, body: () => ({ name: 'B' }), scope: 'agents:write', write: 'editor', missing: 'No such agent' },
  { method: 'DELETE', path: (o) => `/api/v1/agents/${o.agentId}`, scope: 'agents:write', write: 'editor', missing: 'No such agent' },
  { method: 'GET', path: () => '/api/v1/workflows', scope: 'workflows:read' },
  { method: 'GET', path: (o) => `/api/v1/workflows/${o.workflowId}`, scope: 'workflows:read', missing: 'No such workflow' },
  { method: 'POST', path: () => '/api/v1/workflows', body: () => ({ name: 'W', graph: simpleGraph() }), scope: 'workflows:write', write: 'editor' },
  { method: 'PATCH', path: (o) => `/api/v1/workflows/${o.workflowId}`, body: () => ({ name: 'W2' }), scope: 'workflows:write', write: 'editor', missing: 'No such workflow' },
  { method: 'DELETE', path: (o) => `/api/v1/workflows/${o.workflowId}`, scope: 'workflows:write', write: 'editor', missing: 'No such workflow' },
  { method: 'GET', path: (o) => `/api/v1/workflows/${o.workflowId}/versions`, scope: 'workflows:read', missing: 'No such workflow' },
  { method: 'GET', path: (o) => `/api/v1/workflows/${o.workflowId}/versions/1`, scope: 'workflows:read', missing: 'No such workflow version' },
  { method: 'GET', path: () => '/api/v1/tools', scope: 'tools:read' },
  { method: 'GET', path: (o) => `/api/v1/tools/${o.toolId}`, scope: 'tools:read', missing: 'No such tool' },
  { method: 'POST', path: () => '/api/v1/tools', body: () => ({ name: `t${randomUUID().slice(0, 8)}`, action: { type: 'builtin', name: 'hangup' } }), scope: 'tools:write', write: 'editor' },
  { method: 'PATCH', path: (o) => `/api/v1/tools/${o.toolId}`, body: () => ({ description: 'd' }), scope: 'tools:write', write: 'editor', missing: 'No such tool' },
  { method: 'DELETE', path: (o) => `/api/v1/tools/${o.toolId}`, scope: 'tools:write', write: 'editor', missing: 'No such tool' },
  { method: 'POST', path: (o) => `/api/v1/tools/${o.toolId}/test`, body: () => ({ arguments: { city: 'Paris' } }), scope: 'tools:write', write: 'editor', missing: 'No such tool' },
  { method: 'GET', path: () => '/api/v1/audio-files', scope: 'audio_files:read' },
  { method: 'GET', path: (o) => `/api/v1/audio-files/${o.audioFileId}`, scope: 'audio_files:read', missing: 'No such audio file' },
  { method: 'GET', path: (o) => `/api/v1/audio-files/${o.audioFileId}/content`, scope: 'audio_files:read', missing: 'No such audio file' },
  { method: 'POST', path: () => '/api/v1/audio-files', body: () => ({ name: `s${randomUUID().slice(0, 8)}`, wav: writeWav({ sampleRate: 8000, channels: 1, samples: new Int16Array(160) }).toString('base64') }), scope: 'audio_files:write', write: 'editor' },
  { method: 'DELETE', path: (o) => `/api/v1/audio-files/${o.audioFileId}`, scope: 'audio_files:write', write: 'editor', missing: 'No such audio file' },
  { method: 'GET', path: () => '/api/v1/phone-numbers', scope: 'phone_numbers:read' },
  { method: 'GET', path: (o) => `/api/v1/phone-numbers/${o.numberId}`, scope: 'phone_numbers:read', missing: 'No such phone number' },
  { method: 'POST', path: () => '/api/v1/phone-numbers', body: () => ({ number: freshNumber() }), scope: 'phone_numbers:write', write: 'manager' },
  { method: 'PATCH', path: (o) => `/api/v1/phone-numbers/${o.numberId}`, body: () => ({ name: 'Main' }), scope: 'phone_numbers:write', write: 'manager', missing: 'No such phone number' },
  { method: 'DELETE', path: (o) => `/api/v1/phone-numbers/${o.numberId}`, scope: 'phone_numbers:write', write: 'manager', missing: 'No such phone number' },
  { method: 'GET', path: () => '/api/v1/sip-trunks', scope: 'sip_trunks:read' },
  { method: 'GET', path: (o) => `/api/v1/sip-trunks/${o.trunkId}`, scope: 'sip_trunks:read', missing: 'No such SIP trunk' },
  { method: 'POST', path: () => '/api/v1/sip-trunks', body: () => ({ name: 'T' }), scope: 'sip_trunks:write', write: 'manager' },
  { method: 'PATCH', path: (o) => `/api/v1/sip-trunks/${o.trunkId}`, body: () => ({ name: 'T2' }), scope: 'sip_trunks:write', write: 'manager', missing: 'No such SIP trunk' },
  { method: 'DELETE', path: (o) => `/api/v1/sip-trunks/${o.trunkId}`, scope: 'sip_trunks:write', write: 'manager', missing: 'No such SIP trunk' },
  { method: 'GET', path: () => '/api/v1/providers', scope: 'providers:read' },
  { method: 'GET', path: (o) => `/api/v1/providers/${o.providerId}`, scope: 'providers:read', missing: 'No such provider' },
  { method: 'POST', path: () => '/api/v1/providers', body: () => ({ name: `p${randomUUID().slice(0, 8)}`, kind: 'deepgram' }), scope: 'providers:write', write: 'manager' },
  { method: 'PATCH', path: (o) => `/api/v1/providers/${o.providerId}`, body: () => ({ baseUrl: 'http://127.0.0.1:9/v1' }), scope: 'providers:write', write: 'manager', missing: 'No such provider' },
  { method: 'DELETE', path: (o) => `/api/v1/providers/${o.providerId}`, scope: 'providers:write', write: 'manager', missing: 'No such provider' },
  { method: 'GET', path: () => '/api/v1/calls', scope: 'calls:read' },
  { method: 'GET', path: (o) => `/api/v1/calls/${o.callId}`, scope: 'calls:read', missing: 'No such call' },
  { method: 'GET', path: (o) => `/api/v1/calls/${o.callId}/events`, scope: 'calls:read', missing: 'No such call' },
  { method: 'GET', path: (o) => `/api/v1/calls/${o.callId}/recording`, scope: 'calls:read', missing: 'No such call' },
  // Live call actions (the seeded call is not live: a caller allowed to act gets 409).
  { method: 'POST', path: (o) => `/api/v1/calls/${o.callId}/hangup`, scope: 'calls:write', write: 'editor', missing: 'Call not found' },
  { method: 'POST', path: (o) => `/api/v1/calls/${o.callId}/say`, body: () => ({ text: 'hi' }), scope: 'calls:write', write: 'editor', missing: 'Call not found' },
  { method: 'POST', path: (o) => `/api/v1/calls/${o.callId}/dtmf`, body: () => ({ digits: '1' }), scope: 'calls:write', write: 'editor', missing: 'Call not found' },
  { method: 'POST', path: (o) => `/api/v1/calls/${o.callId}/mute`, scope: 'calls:write', write: 'editor', missing: 'Call not found' },
  { method: 'POST', path: (o) => `/api/v1/calls/${o.callId}/unmute`, scope: 'calls:write', write: 'editor', missing: 'Call not found' },
  { method: 'POST', path: (o) => `/api/v1/calls/${o.callId}/transfer`, body: () => ({ target: '+15551234567' }), scope: 'calls:write', write: 'editor', missing: 'Call not found' },
  // Placing a call through the seeded trunk, which has no outbound gateway: 422 once authorized.
  { method: 'POST', path: () => '/api/v1/calls', body: () => ({ agentId: a.agentId, trunkId: a.trunkId, to: '+15551234567' }), scope: 'calls:write', write: 'editor', passes: 422 },
  // A browser identity for the seeded agent: a call's write.
  { method: 'POST', path: () => '/api/v1/calls/web', body: () => ({ agentId: a.agentId }), scope: 'calls:write', write: 'editor' },
  { method: 'DELETE', path: (o) => `/api/v1/calls/${o.callId}`, scope: 'calls:write', write: 'editor', missing: 'No such call' },
  { method: 'POST', path: (o) => `/api/v1/calls/${o.callId}/cancel`, scope: 'calls:write', write: 'editor', missing: 'No such call' },
  { method: 'GET', path: () => '/api/v1/sip-users', scope: 'sip_users:read' },
  { method: 'GET', path: (o) => `/api/v1/sip-users/${o.sipUserId}`, scope: 'sip_users:read', missing: 'No such SIP user' },
  { method: 'GET', path: (o) => `/api/v1/sip-users/${o.sipUserId}/registrations`, scope: 'sip_users:read', missing: 'No such SIP user' },
  { method: 'POST', path: () => '/api/v1/sip-users', body: () => ({ username: `u${Date.now()}${Math.random().toString(36).slice(2, 6)}`, password: 'a-long-secret' }), scope: 'sip_users:write', write: 'manager' },
  { method: 'PATCH', path: (o) => `/api/v1/sip-users/${o.sipUserId}`, body: () => ({ displayName: 'Desk' }), scope: 'sip_users:write', write: 'manager', missing: 'No such SIP user' },
  { method: 'DELETE', path: (o) => `/api/v1/sip-users/${o.sipUserId}`, scope: 'sip_users:write', write: 'manager', missing: 'No such SIP user' },
  { method: 'GET', path: () => '/api/v1/analytics/metrics', scope: 'analytics:read' },
  { method: 'GET', path: () => '/api/v1/analytics/statistics', scope: 'analytics:read' },
  { method: 'GET', path: () => '/api/v1/analytics/errors', scope: 'analytics:read' },
];

const nowhere: Seeded = {
  agentId: randomUUID(),
  workflowId: randomUUID(),
  toolId: randomUUID(),
  numberId: randomUUID(),
  trunkId: randomUUID(),
  callId: randomUUID(),
  providerId: randomUUID(),
  audioFileId: randomUUID(),
  sipUserId: randomUUID(),
};

const roleRefusal: Record<Write, [string, string]> = {
  editor: ['viewer', 'Role viewer may not do this (needs owner or admin or member)'],
  manager: ['member', 'Role member may not do this (needs owner or admin)'],
};

test('the cases cover every resource route the app mounts', (t) => {
  const mounted = app.routes
    .filter((r) => /^\/api\/v1\/(agents|workflows|tools|audio-files|phone-numbers|sip-trunks|sip-users|providers|calls|analytics)/.test(r.path))
    .map((r) => `${r.method.toUpperCase()} ${r.path}`)
    .sort();
  const covered = cases.map((c) => `${c.method} ${c.path({ agentId: ':id', workflowId: ':id', toolId: ':id', numberId: ':id', trunkId: ':id', callId: ':id', providerId: ':id', audioFileId: ':id', sipUserId: ':id' }).replace('/versions/1', '/versions/:version')}`).sort();
  t.deepEqual(covered, mounted);
});

for (const c of cases) {
  const title = `${c.method} ${c.path({ agentId: '{id}', workflowId: '{id}', toolId: '{id}', numberId: '{id}', trunkId: '{id}', callId: '{id}', providerId: '{id}', audioFileId: '{id}', sipUserId: '{id}' })}`;

  test(`${title}: 401 without credentials, 403 for a role or scope that may not act`, async (t) => {
    const path = c.path(a);
    const anon = await as.nobody!.call(c.method, path, c.body?.());
    t.is(anon.status, 401);
    t.deepEqual(anon.body, envelope('authentication_error', 'Missing credentials: send X-API-Key or Authorization: Bearer'));

    if (c.write) {
      const [role, message] = roleRefusal[c.write];
      const refused = await as[role]!.call(c.method, path, c.body?.());
      t.is(refused.status, 403);
      t.deepEqual(refused.body, envelope('authorization_error', message));
    }
    const [resource] = c.scope.split(':');
    const narrow = c.write ? client(app, { 'x-api-key': mintKey(app, tenantA, { scopes: [`${resource}:read`] }) }) : as.unrelatedScope!;
    const lacking = await narrow.call(c.method, path, c.body?.());
    t.is(lacking.status, 403);
    t.deepEqual(lacking.body, envelope('authorization_error', `API key lacks scope ${c.scope}`));

    // The exact scope is enough (aimed at a missing object, so nothing is changed).
    const scoped = client(app, { 'x-api-key': mintKey(app, tenantA, { scopes: [c.scope] }) });
    const allowed = await scoped.call(c.method, c.missing ? c.path(nowhere) : path, c.body?.());
    t.true(allowed.status < 400 || allowed.status === 404 || allowed.status === c.passes, `${allowed.status} ${JSON.stringify(allowed.body)}`);
  });

  if (c.missing) {
    test(`${title}: another tenant's object and a missing one are not_found`, async (t) => {
      const before = JSON.stringify(snapshot());
      const foreign = await as.otherTenant!.call(c.method, c.path(a), c.body?.());
      t.is(foreign.status, 404);
      t.deepEqual(foreign.body, envelope('not_found', c.missing!));
      t.is(JSON.stringify(snapshot()), before, "another tenant's request changed nothing");

      const missing = await as.admin!.call(c.method, c.path(nowhere), c.body?.());
      t.is(missing.status, 404);
      t.deepEqual(missing.body, envelope('not_found', c.missing!));

      const malformed = await as.admin!.call(c.method, c.path(a).replace(/[0-9a-f-]{36}/, 'not-a-uuid'), c.body?.());
      t.is(malformed.status, 404);
      t.deepEqual(malformed.body, envelope('not_found', 'Resource not found'));
    });
  }
}

/** Tenant A's seeded objects as stored. */
function snapshot() {
  const s = app.engine.store;
  const scope = { tenantId: tenantA, mode: 'live' as const };
  return [
    s.agents.get(scope, a.agentId),
    s.workflows.get(scope, a.workflowId),
    s.tools.get(scope, a.toolId),
    s.phoneNumbers.get(scope, a.numberId),
    s.sipTrunks.get(scope, a.trunkId),
    s.calls.get(scope, a.callId),
    s.providers.get(scope, a.providerId),
    s.audioFiles.get(scope, a.audioFileId),
    s.sipUsers.get(scope, a.sipUserId),
  ].map((o) => o && { ...o, updatedAt: o.updatedAt });
}

test.serial('a test key sees none of the live rows and cannot change them', async (t) => {
  const before = JSON.stringify(snapshot());
  for (const c of cases.filter((x) => x.missing || x.method === 'GET')) {
    const res = await as.test!.call(c.method, c.path(a), c.body?.());
    if (c.missing) {
      t.is(res.status, 404, `${c.method} ${c.path(a)}`);
      t.deepEqual(res.body, envelope('not_found', c.missing));
    } else if ('items' in res.body) {
      t.deepEqual(res.body.items, [], c.path(a));
      t.is(res.body.total, 0);
    }
  }
  t.is(JSON.stringify(snapshot()), before);
  const metrics = await as.test!.get('/api/v1/analytics/metrics');
  t.is(metrics.body.totalCalls, 0, 'the live call is not counted for the test key');
});

test.serial('rows a test key creates are test rows, invisible to live callers', async (t) => {
  const tool = await as.test!.post('/api/v1/tools', { name: 'test_tool', action: { type: 'builtin', name: 'end_call' } });
  t.is(tool.status, 201);
  t.is(tool.body.mode, 'test');
  const agent = await as.test!.post('/api/v1/agents', { name: 'Sandbox', config: { prompt: { system: 'x' }, toolIds: [tool.body.id] } });
  t.is(agent.status, 201);
  t.is(agent.body.mode, 'test');

  t.is((await as.admin!.get(`/api/v1/agents/${agent.body.id}`)).status, 404);
  t.is((await as.admin!.patch(`/api/v1/agents/${agent.body.id}`, { name: 'x' })).status, 404);
  t.is((await as.admin!.del(`/api/v1/tools/${tool.body.id}`)).status, 404);
  const live = await as.admin!.get('/api/v1/agents?limit=100');
  t.false(live.body.items.some((x: { id: string }) => x.id === agent.body.id));
  t.true(live.body.items.every((x: { mode: string }) => x.mode === 'live'));

  // A test agent cannot point at a live tool, nor a live agent at a test tool.
  const crossed = await as.test!.post('/api/v1/agents', { name: 'X', config: { prompt: { system: 'x' }, toolIds: [a.toolId] } });
  t.deepEqual(crossed.body, envelope('validation_error', 'Invalid request body', [{ field: 'config.toolIds[0]', message: `Tool ${a.toolId} not found` }]));
  const back = await as.admin!.post('/api/v1/agents', { name: 'X', config: { prompt: { system: 'x' }, toolIds: [tool.body.id] } });
  t.is(back.status, 422);

  const listed = await as.test!.get('/api/v1/agents');
  t.deepEqual(listed.body.items.map((x: { id: string }) => x.id), [agent.body.id]);
});

test('another tenant lists only its own rows', async (t) => {
  for (const path of ['/api/v1/agents', '/api/v1/workflows', '/api/v1/tools', '/api/v1/phone-numbers', '/api/v1/sip-trunks', '/api/v1/providers', '/api/v1/calls']) {
    const res = await as.otherTenant!.get(`${path}?limit=100`);
    t.is(res.status, 200);
    t.true(res.body.total >= 1, path);
    t.false(Object.values(a).some((id) => res.body.items.some((x: { id: string }) => x.id === id)), path);
  }
});

test('every list bounds limit and offset the same way', async (t) => {
  for (const c of cases.filter((x) => x.method === 'GET' && !x.missing && !x.path(a).endsWith('metrics'))) {
    const path = c.path(a);
    const over = await as.admin!.get(`${path}?limit=101`);
    t.deepEqual(over.body, envelope('validation_error', 'Invalid query', [{ field: 'query.limit', message: 'Too big: expected number to be <=100' }]), path);
    const negative = await as.admin!.get(`${path}?offset=-1`);
    t.deepEqual(negative.body, envelope('validation_error', 'Invalid query', [{ field: 'query.offset', message: 'Too small: expected number to be >=0' }]), path);
    const ok = await as.admin!.get(path);
    t.like(ok.body, { limit: 20, offset: 0 }, path);
  }
});
