import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import { testConfig, testLogger } from '../helpers/config.js';
import { request } from '../helpers/http.js';
import { mintKey, seedTenant, userWithRole, type SeededTenant } from '../helpers/tenant.js';

let app: App;
let base: string;
let t1: SeededTenant;

test.before(async () => {
  const config = testConfig();
  app = await startApp(config, testLogger(config));
  base = `http://127.0.0.1:${app.http.port}`;
  t1 = await seedTenant(app);
});
test.after.always(() => app?.close());

const unauthenticated = (message: string) => ({ error: { code: 'authentication_error', message, details: [] } });

test('an API key authenticates, and me describes it', async (t) => {
  const res = await request<Record<string, unknown>>(base, 'GET', '/api/v1/auth/me', { headers: t1.headers });
  t.is(res.status, 200);
  t.like(res.body, { kind: 'api_key', tenantId: t1.tenantId, role: 'admin', mode: 'live', superAdmin: false, user: null });
  t.regex((res.body.apiKey as { prefix: string }).prefix, /^as_live_[0-9A-Za-z]{4}…$/);
});

test('a user token authenticates with the role from the user row', async (t) => {
  const viewer = await userWithRole(app, t1.tenantId, 'viewer');
  const res = await request<Record<string, unknown>>(base, 'GET', '/api/v1/auth/me', { headers: viewer.headers });
  t.is(res.status, 200);
  t.like(res.body, { kind: 'user', role: 'viewer', mode: 'live', apiKey: null });
  app.engine.store.users.update(t1.tenantId, viewer.userId, { status: 'disabled' });
  const after = await request(base, 'GET', '/api/v1/auth/me', { headers: viewer.headers });
  t.is(after.status, 401);
  t.deepEqual(after.body, unauthenticated('Invalid token'));
});

test('missing, malformed, unknown and revoked credentials answer 401 in the envelope', async (t) => {
  const cases: [Record<string, string>, string][] = [
    [{}, 'Missing credentials: send X-API-Key or Authorization: Bearer'],
    [{ 'x-api-key': 'nope' }, 'Malformed API key'],
    [{ 'x-api-key': `as_live_${'A'.repeat(32)}` }, 'Invalid API key'],
    [{ authorization: 'Basic abc' }, 'Authorization must be "Bearer <token>"'],
    [{ authorization: 'Bearer abc.def.ghi' }, 'Invalid or expired token'],
    [{ authorization: 'Bearer x', 'x-api-key': t1.apiKey }, 'Send either X-API-Key or Authorization, not both'],
  ];
  for (const [headers, message] of cases) {
    const res = await request(base, 'GET', '/api/v1/auth/me', { headers });
    t.is(res.status, 401, JSON.stringify(headers));
    t.deepEqual(res.body, unauthenticated(message));
  }
  const key = mintKey(app, t1.tenantId, {});
  t.is((await request(base, 'GET', '/api/v1/auth/me', { headers: { 'x-api-key': key } })).status, 200);
  const id = app.engine.store.apiKeys.list(t1.tenantId, 100, 0).items.at(-1)!.id;
  t.true(app.engine.store.apiKeys.revoke(t1.tenantId, id));
  const revoked = await request(base, 'GET', '/api/v1/auth/me', { headers: { 'x-api-key': key } });
  t.deepEqual(revoked.body, unauthenticated('API key revoked'));
});
