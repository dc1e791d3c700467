import test from 'ava';
import { assertError } from '../helpers/envelope.js';
import { useApp } from '../helpers/app.js';
import { mintKey, seedTenant, userWithRole, type SeededTenant } from '../helpers/tenant.js';

const r = useApp(test);
let t1: SeededTenant;
let t2: SeededTenant;

test.before(async () => {
  await r.ready;
  t1 = await seedTenant(r.app);
  t2 = await seedTenant(r.app);
});

interface Key {
  id: string;
  name: string;
  mode: 'live' | 'test';
  role: string;
  prefix: string;
  scopes: string[] | null;
  rateLimit: number | null;
  createdBy: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  createdAt: string;
  key?: string;
}
interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

const key = (k: string) => ({ 'x-api-key': k });
const missing = '00000000-0000-4000-8000-000000000000';

/** A fresh live admin key in tenant 1 (each test its own, so rate limits never interfere). */
const admin = (tenantId = t1.tenantId, opts: Parameters<typeof mintKey>[2] = {}) => key(mintKey(r.app, tenantId, opts));

const create = (headers: Record<string, string>, body: unknown) => r.req<Key>('POST', '/api/v1/api-keys', { headers, body });

test('create returns the whole key once; it works; list and get never show it', async (t) => {
  const owner = await userWithRole(r.app, t1.tenantId, 'owner');
  const res = await create(owner.headers, { name: 'ci', mode: 'live', scopes: ['agents:*'], rateLimit: 60, role: 'member' });
  t.is(res.status, 201);
  t.regex(res.body.key!, /^as_live_[0-9A-Za-z]{32}$/);
  t.like(res.body, { name: 'ci', mode: 'live', role: 'member', scopes: ['agents:*'], rateLimit: 60, createdBy: owner.userId, lastUsedAt: null, revokedAt: null });
  t.is(res.body.prefix, `${res.body.key!.slice(0, 12)}…`);

  const me = await r.req<{ kind: string; role: string; scopes: string[] }>('GET', '/api/v1/auth/me', { headers: key(res.body.key!) });
  t.like(me.body, { kind: 'api_key', role: 'member', scopes: ['agents:*'] });

  const got = await r.req<Key>('GET', `/api/v1/api-keys/${res.body.id}`, { headers: owner.headers });
  t.is(got.status, 200);
  t.false('key' in got.body);
  t.truthy(got.body.lastUsedAt, 'last_used_at is set by the request above');
  const { key: _secret, ...withoutSecret } = res.body;
  t.deepEqual({ ...got.body, lastUsedAt: null }, withoutSecret);

  const list = await r.req<Page<Key>>('GET', '/api/v1/api-keys?limit=100', { headers: owner.headers });
  t.is(list.status, 200);
  const listed = list.body.items.find((k) => k.id === res.body.id)!;
  t.false('key' in listed);
  t.false(JSON.stringify(list.body).includes(res.body.key!));
  const row = r.app.engine.store.db.prepare('SELECT * FROM api_keys WHERE id = ?').get(res.body.id);
  t.false(JSON.stringify(row).includes(res.body.key!), 'the key is stored hashed');
});

test('defaults: the caller’s mode, role admin, unrestricted, default rate limit', async (t) => {
  const live = await create(admin(), { name: 'defaults' });
  t.like(live.body, { mode: 'live', role: 'admin', scopes: null, rateLimit: null });
  const test_ = await create(admin(t1.tenantId, { mode: 'test' }), { name: 'from a test key' });
  t.is(test_.status, 201);
  t.is(test_.body.mode, 'test');
  t.regex(test_.body.key!, /^as_test_/);
});

test('create validation failures answer the whole envelope', async (t) => {
  const res = await create(admin(), { name: '', mode: 'prod', scopes: ['Bad Scope'], rateLimit: 0, role: 'god', extra: 1 });
  assertError(t, res, 'validation_error', 'Invalid request body', [
    { field: 'name', message: 'Too small: expected string to have >=1 characters' },
    { field: 'mode', message: 'Invalid option: expected one of "live"|"test"' },
    { field: 'scopes[0]', message: 'must be "*", "resource:*" or "resource:action"' },
    { field: 'rateLimit', message: 'Too small: expected number to be >=1' },
    { field: 'role', message: 'Invalid option: expected one of "owner"|"admin"|"member"|"viewer"' },
    { field: 'extra', message: 'Unknown field' },
  ]);
  assertError(t, await create(admin(), undefined), 'validation_error', 'Invalid request body', [
    { field: 'body', message: 'Field is required' },
  ]);
  assertError(t, await r.req('GET', '/api/v1/api-keys?limit=1000&offset=-1', { headers: admin() }), 'validation_error', 'Invalid query', [
    { field: 'query.limit', message: 'Too big: expected number to be <=100' },
    { field: 'query.offset', message: 'Too small: expected number to be >=0' },
  ]);
});

test('every route answers 401 without credentials', async (t) => {
  for (const [m, p] of [
    ['POST', '/api/v1/api-keys'],
    ['GET', '/api/v1/api-keys'],
    ['GET', `/api/v1/api-keys/${missing}`],
    ['DELETE', `/api/v1/api-keys/${missing}`],
  ] as const) {
    const res = await r.req(m, p, m === 'POST' ? { body: { name: 'x' } } : {});
    assertError(t, res, 'authentication_error', 'Missing credentials: send X-API-Key or Authorization: Bearer');
  }
});

test('members and viewers (users or keys) get authorization_error on every route', async (t) => {
  const someKey = (await create(admin(), { name: 'target' })).body.id;
  for (const role of ['member', 'viewer'] as const) {
    const callers = [(await userWithRole(r.app, t1.tenantId, role)).headers, admin(t1.tenantId, { role })];
    for (const headers of callers) {
      for (const [m, p] of [
        ['POST', '/api/v1/api-keys'],
        ['GET', '/api/v1/api-keys'],
        ['GET', `/api/v1/api-keys/${someKey}`],
        ['DELETE', `/api/v1/api-keys/${someKey}`],
      ] as const) {
        const res = await r.req(m, p, { headers, ...(m === 'POST' ? { body: { name: 'x' } } : {}) });
        assertError(t, res, 'authorization_error', `Role ${role} may not do this (needs owner or admin)`);
      }
    }
  }
  t.falsy(r.app.engine.store.apiKeys.get(t1.tenantId, someKey)!.revokedAt);
});

test('a key cannot be stronger than its creator; an admin cannot revoke an owner key', async (t) => {
  const adminUser = await userWithRole(r.app, t1.tenantId, 'admin');
  assertError(t, await create(adminUser.headers, { name: 'x', role: 'owner' }), 'authorization_error', "The key would exceed the caller's own: role owner (the caller's: admin)");
  const ownerKey = (await create((await userWithRole(r.app, t1.tenantId, 'owner')).headers, { name: 'o', role: 'owner' })).body;
  t.is(ownerKey.role, 'owner');
  assertError(
    t,
    await r.req('DELETE', `/api/v1/api-keys/${ownerKey.id}`, { headers: adminUser.headers }),
    'authorization_error',
    'A admin may not revoke a key with role owner',
  );
});

test('a key restricted to scopes hands out at most its own scopes', async (t) => {
  const scoped = admin(t1.tenantId, { scopes: ['api_keys:*', 'agents:read'] });
  const inherits = await create(scoped, { name: 'inherits' });
  t.deepEqual(inherits.body.scopes, ['api_keys:*', 'agents:read']);
  t.is((await create(scoped, { name: 'narrower', scopes: ['agents:read'] })).status, 201);
  assertError(t, await create(scoped, { name: 'wider', scopes: ['agents:write'] }), 'authorization_error', "The key would exceed the caller's own: scopes agents:write (the caller's: api_keys:*, agents:read)");
  assertError(t, await create(scoped, { name: 'unrestricted', scopes: null }), 'authorization_error', "The key would exceed the caller's own: scopes unrestricted (the caller's: api_keys:*, agents:read)");
  // And a key without the api_keys scope may not manage keys at all.
  assertError(t, await create(admin(t1.tenantId, { scopes: ['agents:*'] }), { name: 'x' }), 'authorization_error', 'API key lacks scope api_keys:write');
  assertError(t, await r.req('GET', '/api/v1/api-keys', { headers: admin(t1.tenantId, { scopes: ['api_keys:write'] }) }), 'authorization_error', 'API key lacks scope api_keys:read');
});

test("another tenant's key answers not_found, and is left alone", async (t) => {
  const theirs = (await create(admin(t2.tenantId), { name: 'theirs' })).body;
  const mine = admin();
  assertError(t, await r.req('GET', `/api/v1/api-keys/${theirs.id}`, { headers: mine }), 'not_found', 'API key not found');
  assertError(t, await r.req('DELETE', `/api/v1/api-keys/${theirs.id}`, { headers: mine }), 'not_found', 'API key not found');
  const list = await r.req<Page<Key>>('GET', '/api/v1/api-keys?limit=100', { headers: mine });
  t.false(list.body.items.some((k) => k.id === theirs.id));
  t.is((await r.req('GET', '/api/v1/auth/me', { headers: key(theirs.key!) })).status, 200);
});

test('a missing key, or an id that is not one, answers not_found', async (t) => {
  const h = admin();
  assertError(t, await r.req('GET', `/api/v1/api-keys/${missing}`, { headers: h }), 'not_found', 'API key not found');
  assertError(t, await r.req('DELETE', `/api/v1/api-keys/${missing}`, { headers: h }), 'not_found', 'API key not found');
  assertError(t, await r.req('GET', '/api/v1/api-keys/not-a-uuid', { headers: h }), 'not_found', 'Resource not found');
});

test('revoke: the key stops working at once, shows revokedAt, and revoking again is harmless', async (t) => {
  const h = admin();
  const k = (await create(h, { name: 'doomed' })).body;
  t.is((await r.req('GET', '/api/v1/auth/me', { headers: key(k.key!) })).status, 200);
  const del = await r.req('DELETE', `/api/v1/api-keys/${k.id}`, { headers: h });
  t.is(del.status, 204);
  t.is(del.body, '');
  assertError(t, await r.req('GET', '/api/v1/auth/me', { headers: key(k.key!) }), 'authentication_error', 'API key revoked');
  t.truthy((await r.req<Key>('GET', `/api/v1/api-keys/${k.id}`, { headers: h })).body.revokedAt);
  t.is((await r.req('DELETE', `/api/v1/api-keys/${k.id}`, { headers: h })).status, 204);
});

test('a key can revoke itself', async (t) => {
  const k = (await create(admin(), { name: 'self' })).body;
  t.is((await r.req('DELETE', `/api/v1/api-keys/${k.id}`, { headers: key(k.key!) })).status, 204);
  assertError(t, await r.req('GET', '/api/v1/api-keys', { headers: key(k.key!) }), 'authentication_error', 'API key revoked');
});

test('test keys see and make only test keys; live callers see both', async (t) => {
  const tn = await seedTenant(r.app);
  const liveKey = (await create(tn.headers, { name: 'live one', mode: 'live' })).body;
  const testCaller = admin(tn.tenantId, { mode: 'test' });
  const testKey = (await create(testCaller, { name: 'test one' })).body;
  t.is(testKey.mode, 'test');

  assertError(t, await create(testCaller, { name: 'escalate', mode: 'live' }), 'authorization_error', "The key would exceed the caller's own: mode live (the caller's: test)");
  assertError(t, await r.req('GET', `/api/v1/api-keys/${liveKey.id}`, { headers: testCaller }), 'not_found', 'API key not found');
  assertError(t, await r.req('DELETE', `/api/v1/api-keys/${liveKey.id}`, { headers: testCaller }), 'not_found', 'API key not found');
  t.is((await r.req('GET', '/api/v1/auth/me', { headers: key(liveKey.key!) })).status, 200, 'the live key still works');

  const seenByTest = await r.req<Page<Key>>('GET', '/api/v1/api-keys?mode=live', { headers: testCaller });
  t.true(seenByTest.body.items.length >= 2);
  t.true(seenByTest.body.items.every((k) => k.mode === 'test'), 'a test key sees only test keys, whatever it asks');
  t.is(seenByTest.body.total, seenByTest.body.items.length);

  const seenByLive = await r.req<Page<Key>>('GET', '/api/v1/api-keys', { headers: tn.headers });
  t.deepEqual(new Set(seenByLive.body.items.map((k) => k.mode)), new Set(['live', 'test']));
  const onlyLive = await r.req<Page<Key>>('GET', '/api/v1/api-keys?mode=live', { headers: tn.headers });
  t.true(onlyLive.body.items.length > 0 && onlyLive.body.items.every((k) => k.mode === 'live'));

  t.is((await r.req('DELETE', `/api/v1/api-keys/${testKey.id}`, { headers: testCaller })).status, 204);
});

test('list pages with limit and offset, and reports the total', async (t) => {
  const tn = await seedTenant(r.app); // one key already
  for (let i = 0; i < 4; i++) await create(tn.headers, { name: `k${i}` });
  const page = await r.req<Page<Key>>('GET', '/api/v1/api-keys?limit=2&offset=1', { headers: tn.headers });
  t.is(page.status, 200);
  t.is(page.body.total, 5);
  t.is(page.body.limit, 2);
  t.is(page.body.offset, 1);
  t.deepEqual(page.body.items.map((k) => k.name), ['k0', 'k1']);
  const all = await r.req<Page<Key>>('GET', '/api/v1/api-keys', { headers: tn.headers });
  t.is(all.body.limit, 20);
  t.is(all.body.offset, 0);
  t.is(all.body.items.length, 5);
});
