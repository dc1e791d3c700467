/**
 * A caller cannot hand out more than it has (`api/auth/grants.ts`): for API keys and for users,
 * by role, scopes (wildcards, unrestricted), rate limit and mode, each case in both directions:
 * equal (or narrower) is created with exactly those powers, which then apply at run time; wider
 * is `authorization_error` naming what exceeds and the caller's own, and nothing is created.
 */
import test from 'ava';
import { knownScopes } from '../../api/auth/scopes.js';
import { commandAccess } from '../../api/realtime/commands.js';
import { assertError } from '../helpers/envelope.js';
import { login, useApp } from '../helpers/app.js';
import { mintKey, seedTenant, userWithRole, type SeededTenant } from '../helpers/tenant.js';

const r = useApp(test);
let tn: SeededTenant;

test.before(async () => {
  await r.ready;
  tn = await seedTenant(r.app);
});

type KeyOpts = Parameters<typeof mintKey>[2];
interface Key {
  id: string;
  key: string;
  mode: string;
  role: string;
  scopes: string[] | null;
  rateLimit: number | null;
}

const keyCaller = (opts: KeyOpts) => ({ 'x-api-key': mintKey(r.app, tn.tenantId, opts) });
const userCaller = async (role: 'owner' | 'admin') => (await userWithRole(r.app, tn.tenantId, role)).headers;
const exceeds = (what: 'key' | 'user', ...parts: string[]) => `The ${what} would exceed the caller's own: ${parts.join('; ')}`;
const keysNamed = (name: string) => r.app.engine.store.db.prepare('SELECT COUNT(*) AS n FROM api_keys WHERE name = ?').get(name) as { n: number };

interface KeyCase {
  title: string;
  caller: KeyOpts | 'owner user' | 'admin user';
  body: Record<string, unknown>;
  /** The key as created, or the refusal's message. */
  expect: Partial<Key> | string;
}

const W = ['api_keys:write'];
const keyCases: KeyCase[] = [
  // Role: equal allowed, stronger refused.
  { title: 'admin key, role admin', caller: { role: 'admin' }, body: { role: 'admin' }, expect: { role: 'admin' } },
  { title: 'admin key, role owner', caller: { role: 'admin' }, body: { role: 'owner' }, expect: exceeds('key', "role owner (the caller's: admin)") },
  { title: 'owner user, role owner', caller: 'owner user', body: { role: 'owner' }, expect: { role: 'owner' } },
  { title: 'admin user, role owner', caller: 'admin user', body: { role: 'owner' }, expect: exceeds('key', "role owner (the caller's: admin)") },
  // Scopes: the same or narrower allowed; wider, a wildcard over more, `*` or unrestricted refused.
  { title: 'scoped key, same scopes', caller: { scopes: ['agents:read', ...W] }, body: { scopes: ['agents:read', ...W] }, expect: { scopes: ['agents:read', ...W] } },
  { title: 'scoped key, scopes left out: its own', caller: { scopes: ['agents:read', ...W] }, body: {}, expect: { scopes: ['agents:read', ...W] } },
  { title: 'scoped key, narrower', caller: { scopes: ['agents:read', ...W] }, body: { scopes: ['agents:read'] }, expect: { scopes: ['agents:read'] } },
  {
    title: 'scoped key, another action',
    caller: { scopes: ['agents:read', ...W] },
    body: { scopes: ['agents:write'] },
    expect: exceeds('key', "scopes agents:write (the caller's: agents:read, api_keys:write)"),
  },
  {
    title: 'scoped key, a wildcard over its actions',
    caller: { scopes: ['agents:read', 'agents:write', ...W] },
    body: { scopes: ['agents:*'] },
    expect: exceeds('key', "scopes agents:* (the caller's: agents:read, agents:write, api_keys:write)"),
  },
  { title: 'wildcard key, its actions and itself', caller: { scopes: ['agents:*', ...W] }, body: { scopes: ['agents:read', 'agents:write', 'agents:*'] }, expect: { scopes: ['agents:read', 'agents:write', 'agents:*'] } },
  { title: 'wildcard key, *', caller: { scopes: ['agents:*', ...W] }, body: { scopes: ['*'] }, expect: exceeds('key', "scopes * (the caller's: agents:*, api_keys:write)") },
  { title: 'wildcard key, unrestricted', caller: { scopes: ['agents:*', ...W] }, body: { scopes: null }, expect: exceeds('key', "scopes unrestricted (the caller's: agents:*, api_keys:write)") },
  { title: '* key, unrestricted (the same)', caller: { scopes: ['*'] }, body: { scopes: null }, expect: { scopes: null } },
  { title: 'unrestricted key, *', caller: {}, body: { scopes: ['*'] }, expect: { scopes: ['*'] } },
  { title: 'user, any scopes', caller: 'admin user', body: { scopes: ['calls:*', 'users:read'] }, expect: { scopes: ['calls:*', 'users:read'] } },
  // Rate limit: the effective limit (null is the default, 100) at most the caller's.
  { title: 'key at 50/min, 50', caller: { rateLimit: 50 }, body: { rateLimit: 50 }, expect: { rateLimit: 50 } },
  { title: 'key at 50/min, left out: its own', caller: { rateLimit: 50 }, body: {}, expect: { rateLimit: 50 } },
  { title: 'key at 50/min, 51', caller: { rateLimit: 50 }, body: { rateLimit: 51 }, expect: exceeds('key', "rate limit 51/min (the caller's: 50/min)") },
  { title: 'key at 50/min, null (the default)', caller: { rateLimit: 50 }, body: { rateLimit: null }, expect: exceeds('key', "rate limit 100/min (the caller's: 50/min)") },
  { title: 'key at 500/min, 500', caller: { rateLimit: 500 }, body: { rateLimit: 500 }, expect: { rateLimit: 500 } },
  { title: 'key at 500/min, left out: the default', caller: { rateLimit: 500 }, body: {}, expect: { rateLimit: null } },
  { title: 'user (100/min), 100', caller: 'owner user', body: { rateLimit: 100 }, expect: { rateLimit: 100 } },
  { title: 'user (100/min), 101', caller: 'owner user', body: { rateLimit: 101 }, expect: exceeds('key', "rate limit 101/min (the caller's: 100/min)") },
  // Mode: test makes test; live makes either.
  { title: 'test key, test', caller: { mode: 'test' }, body: { mode: 'test' }, expect: { mode: 'test' } },
  { title: 'test key, live', caller: { mode: 'test' }, body: { mode: 'live' }, expect: exceeds('key', "mode live (the caller's: test)") },
  { title: 'live key, test', caller: { mode: 'live' }, body: { mode: 'test' }, expect: { mode: 'test' } },
  // Everything at once: each excess named.
  {
    title: 'test admin key at 10/min with scopes, everything wider',
    caller: { role: 'admin', mode: 'test', rateLimit: 10, scopes: W },
    body: { role: 'owner', mode: 'live', rateLimit: 11, scopes: null },
    expect: exceeds('key', "role owner (the caller's: admin)", "scopes unrestricted (the caller's: api_keys:write)", "rate limit 11/min (the caller's: 10/min)", "mode live (the caller's: test)"),
  },
];

let n = 0;
for (const c of keyCases) {
  const allowed = typeof c.expect !== 'string';
  test(`API key: ${c.title}: ${allowed ? 'created' : 'refused'}`, async (t) => {
    const headers = c.caller === 'owner user' ? await userCaller('owner') : c.caller === 'admin user' ? await userCaller('admin') : keyCaller(c.caller);
    const name = `grant ${++n}`;
    const res = await r.req<Key>('POST', '/api/v1/api-keys', { headers, body: { name, ...c.body } });
    if (typeof c.expect === 'string') {
      assertError(t, res, 'authorization_error', c.expect);
      t.is(keysNamed(name).n, 0, 'nothing was created');
      return;
    }
    t.is(res.status, 201, JSON.stringify(res.body));
    t.like(res.body, c.expect);
    // The powers apply at run time: the limit in the headers, the scopes and role in /auth/me.
    const me = await r.req<{ role: string; scopes: string[] | null; mode: string; rateLimit: number }>('GET', '/api/v1/auth/me', { headers: { 'x-api-key': res.body.key } });
    t.is(me.status, 200);
    const limit = res.body.rateLimit ?? 100;
    t.deepEqual(
      { role: me.body.role, scopes: me.body.scopes, mode: me.body.mode, rateLimit: me.body.rateLimit },
      { role: res.body.role, scopes: res.body.scopes, mode: res.body.mode, rateLimit: limit },
    );
    t.is(me.headers.get('x-ratelimit-limit'), String(limit));
  });
}

interface UserCase {
  title: string;
  caller: KeyOpts | 'owner user' | 'admin user';
  role: 'owner' | 'admin' | 'member';
  expect: 'created' | string;
}

const userCases: UserCase[] = [
  { title: 'admin user, admin', caller: 'admin user', role: 'admin', expect: 'created' },
  { title: 'admin user, owner', caller: 'admin user', role: 'owner', expect: exceeds('user', "role owner (the caller's: admin)") },
  { title: 'owner user, owner', caller: 'owner user', role: 'owner', expect: 'created' },
  { title: 'admin key, admin', caller: { role: 'admin' }, role: 'admin', expect: 'created' },
  { title: 'admin key, owner', caller: { role: 'admin' }, role: 'owner', expect: exceeds('user', "role owner (the caller's: admin)") },
  { title: '* key, member', caller: { scopes: ['*'] }, role: 'member', expect: 'created' },
  {
    title: 'key with users scopes only, member (a person has no scopes)',
    caller: { scopes: ['users:read', 'users:write'] },
    role: 'member',
    expect: exceeds('user', "scopes unrestricted (the caller's: users:read, users:write)"),
  },
  { title: 'key at 50/min, member (a person gets 100/min)', caller: { rateLimit: 50 }, role: 'member', expect: exceeds('user', "rate limit 100/min (the caller's: 50/min)") },
  { title: 'key at 100/min, member', caller: { rateLimit: 100 }, role: 'member', expect: 'created' },
];

for (const c of userCases) {
  test(`user: ${c.title}: ${c.expect === 'created' ? 'created' : 'refused'}`, async (t) => {
    const headers = c.caller === 'owner user' ? await userCaller('owner') : c.caller === 'admin user' ? await userCaller('admin') : keyCaller(c.caller);
    const email = `grant-${++n}@grants.test`;
    const password = 'a long enough password';
    const res = await r.req<{ role: string }>('POST', '/api/v1/users', { headers, body: { email, role: c.role, password } });
    if (c.expect !== 'created') {
      assertError(t, res, 'authorization_error', c.expect);
      t.is(r.app.engine.store.users.byEmail(email), undefined, 'nothing was created');
      return;
    }
    t.is(res.status, 201, JSON.stringify(res.body));
    t.is(res.body.role, c.role);
    const me = await r.req<{ role: string; scopes: null }>('GET', '/api/v1/auth/me', { headers: (await login(r, email, password)).headers });
    t.like(me.body, { role: c.role, scopes: null, rateLimit: 100 });
  });
}

test('PATCH of a user: promoting, setting a password or enabling again must be within the caller; demoting, disabling and renaming need not', async (t) => {
  const scoped = keyCaller({ scopes: ['users:read', 'users:write'] });
  const slow = keyCaller({ rateLimit: 50 });
  const admin = await userCaller('admin');
  const target = await userWithRole(r.app, tn.tenantId, 'member');
  const patch = (headers: Record<string, string>, body: Record<string, unknown>) => r.req<{ role: string; status: string; name: string }>('PATCH', `/api/v1/users/${target.userId}`, { headers, body });
  const scopedNo = exceeds('user', "scopes unrestricted (the caller's: users:read, users:write)");

  assertError(t, await patch(scoped, { password: 'another long password' }), 'authorization_error', scopedNo);
  assertError(t, await patch(slow, { password: 'another long password' }), 'authorization_error', exceeds('user', "rate limit 100/min (the caller's: 50/min)"));
  assertError(t, await patch(scoped, { role: 'admin' }), 'authorization_error', scopedNo);
  assertError(t, await patch(admin, { role: 'owner' }), 'authorization_error', exceeds('user', "role owner (the caller's: admin)"));
  t.like(r.app.engine.store.users.get(target.userId), { role: 'member' });

  t.like((await patch(scoped, { name: 'Renamed' })).body, { name: 'Renamed' });
  t.like((await patch(scoped, { role: 'viewer' })).body, { role: 'viewer' });
  t.like((await patch(scoped, { status: 'disabled' })).body, { status: 'disabled' });
  assertError(t, await patch(scoped, { status: 'active' }), 'authorization_error', scopedNo);
  t.like(r.app.engine.store.users.get(target.userId), { status: 'disabled' });
  t.like((await patch(admin, { status: 'active', role: 'admin' })).body, { status: 'active', role: 'admin' });
  t.is((await patch(admin, { password: 'another long password' })).status, 200, 'an admin sets an admin’s password');
});

test('a scope that nothing checks is refused, not stored: a typo, an action no route asks for', async (t) => {
  const res = await r.req('POST', '/api/v1/api-keys', {
    headers: tn.headers,
    body: { name: 'typos', scopes: ['agents:*', 'agent:write', 'analytics:write', 'agents:delete', '*', 'calls:write'] },
  });
  assertError(t, res, 'validation_error', 'Invalid request body', [
    { field: 'scopes[1]', message: 'unknown resource "agent" (one of agents, workflows, tools, audio_files, phone_numbers, sip_trunks, sip_users, providers, webhooks, calls, analytics, events, users, api_keys)' },
    { field: 'scopes[2]', message: 'analytics has no action "write" (read, *)' },
    { field: 'scopes[3]', message: 'agents has no action "delete" (read, write, *)' },
  ]);
  t.is(keysNamed('typos').n, 0);
});

test('the scope catalogue is exactly what the routes and WebSocket commands check', (t) => {
  const checked = new Set<string>([commandAccess.scope]);
  for (const route of r.app.routes) if (route.auth && route.auth.scope) checked.add(route.auth.scope);
  t.deepEqual([...checked].sort(), [...knownScopes].sort());
  t.log(`${knownScopes.length} scopes checked by ${r.app.routes.length} routes and the WebSocket commands`);
});
