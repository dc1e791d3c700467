import test from 'ava';
import { assertError } from '../helpers/envelope.js';
import { login, useApp } from '../helpers/app.js';
import { mintKey, seedTenant, userWithRole, type SeededTenant } from '../helpers/tenant.js';

const r = useApp(test);
let t2: SeededTenant;

test.before(async () => {
  await r.ready;
  t2 = await seedTenant(r.app);
});

interface User {
  id: string;
  tenantId: string;
  email: string;
  name: string | null;
  role: string;
  superAdmin: boolean;
  status: string;
  lastLoginAt: string | null;
  createdAt: string;
  updatedAt: string;
}

const missing = '00000000-0000-4000-8000-000000000000';
let n = 0;
const newUser = (role = 'member') => ({ email: `person${++n}@users.test`, name: `Person ${n}`, role, password: 'a long enough password' });

/** A tenant of its own per test: owner counts and lists stay predictable. */
async function tenant() {
  const tn = await seedTenant(r.app);
  const owner = (await login(r, tn.ownerEmail, tn.ownerPassword)).headers;
  return { ...tn, owner };
}

test('an owner adds a person, who can sign in; get and list show them without secrets', async (t) => {
  const tn = await tenant();
  const body = newUser('admin');
  const res = await r.req<User>('POST', '/api/v1/users', { headers: tn.owner, body });
  t.is(res.status, 201);
  t.like(res.body, { email: body.email, name: body.name, role: 'admin', tenantId: tn.tenantId, superAdmin: false, status: 'active', lastLoginAt: null });
  t.deepEqual(Object.keys(res.body).sort(), ['createdAt', 'email', 'id', 'lastLoginAt', 'name', 'role', 'status', 'superAdmin', 'tenantId', 'updatedAt']);
  await login(r, body.email, body.password);
  const got = await r.req<User>('GET', `/api/v1/users/${res.body.id}`, { headers: tn.owner });
  t.is(got.status, 200);
  t.truthy(got.body.lastLoginAt);
  const list = await r.req<{ items: User[]; total: number }>('GET', '/api/v1/users', { headers: tn.owner });
  t.is(list.body.total, 2);
  t.deepEqual(list.body.items.map((u) => u.email).sort(), [body.email, tn.ownerEmail].sort());
  t.false(JSON.stringify(list.body).includes('scrypt'));
});

test('validation failures answer the whole envelope', async (t) => {
  const tn = await tenant();
  assertError(t, await r.req('POST', '/api/v1/users', { headers: tn.owner, body: { email: 'nope', role: 'boss', password: 'short' } }), 'validation_error', 'Invalid request body', [
    { field: 'email', message: 'Invalid email address' },
    { field: 'role', message: 'Invalid option: expected one of "owner"|"admin"|"member"|"viewer"' },
    { field: 'password', message: 'Too small: expected string to have >=12 characters' },
  ]);
  assertError(t, await r.req('PATCH', `/api/v1/users/${tn.ownerId}`, { headers: tn.owner, body: { status: 'gone', superAdmin: true } }), 'validation_error', 'Invalid request body', [
    { field: 'status', message: 'Invalid option: expected one of "active"|"disabled"' },
    { field: 'superAdmin', message: 'Unknown field' },
  ]);
});

test('every route answers 401 without credentials', async (t) => {
  for (const [m, p] of [
    ['GET', '/api/v1/users'],
    ['POST', '/api/v1/users'],
    ['GET', `/api/v1/users/${missing}`],
    ['PATCH', `/api/v1/users/${missing}`],
    ['DELETE', `/api/v1/users/${missing}`],
  ] as const) {
    const res = await r.req(m, p, m === 'POST' || m === 'PATCH' ? { body: {} } : {});
    assertError(t, res, 'authentication_error', 'Missing credentials: send X-API-Key or Authorization: Bearer');
  }
});

test('members and viewers may read but get authorization_error on every write', async (t) => {
  const tn = await tenant();
  for (const role of ['member', 'viewer'] as const) {
    for (const headers of [(await userWithRole(r.app, tn.tenantId, role)).headers, { 'x-api-key': mintKey(r.app, tn.tenantId, { role }) }]) {
      t.is((await r.req('GET', '/api/v1/users', { headers })).status, 200);
      t.is((await r.req('GET', `/api/v1/users/${tn.ownerId}`, { headers })).status, 200);
      for (const [m, p, body] of [
        ['POST', '/api/v1/users', newUser()],
        ['PATCH', `/api/v1/users/${tn.ownerId}`, { name: 'x' }],
        ['DELETE', `/api/v1/users/${tn.ownerId}`, undefined],
      ] as const) {
        assertError(t, await r.req(m, p, { headers, body }), 'authorization_error', `Role ${role} may not do this (needs owner or admin)`);
      }
    }
  }
  t.is(r.app.engine.store.users.get(tn.ownerId)!.name, 'Owner ' + tn.ownerEmail.match(/owner(\d+)/)![1]);
});

test('test keys cannot reach users at all', async (t) => {
  const tn = await tenant();
  const headers = { 'x-api-key': mintKey(r.app, tn.tenantId, { mode: 'test', role: 'owner' }) };
  for (const [m, p, body] of [
    ['GET', '/api/v1/users', undefined],
    ['GET', `/api/v1/users/${tn.ownerId}`, undefined],
    ['POST', '/api/v1/users', newUser('owner')],
    ['PATCH', `/api/v1/users/${tn.ownerId}`, { role: 'viewer' }],
    ['DELETE', `/api/v1/users/${tn.ownerId}`, undefined],
  ] as const) {
    assertError(t, await r.req(m, p, { headers, body }), 'authorization_error', 'Test-mode keys may not do this');
  }
});

test("another tenant's user answers not_found and is left alone; a missing one too", async (t) => {
  const tn = await tenant();
  for (const id of [t2.ownerId, missing]) {
    assertError(t, await r.req('GET', `/api/v1/users/${id}`, { headers: tn.owner }), 'not_found', 'User not found');
    assertError(t, await r.req('PATCH', `/api/v1/users/${id}`, { headers: tn.owner, body: { role: 'viewer' } }), 'not_found', 'User not found');
    assertError(t, await r.req('DELETE', `/api/v1/users/${id}`, { headers: tn.owner }), 'not_found', 'User not found');
  }
  assertError(t, await r.req('GET', '/api/v1/users/not-a-uuid', { headers: tn.owner }), 'not_found', 'Resource not found');
  t.like(r.app.engine.store.users.get(t2.ownerId), { role: 'owner', status: 'active' });
  const list = await r.req<{ items: User[] }>('GET', '/api/v1/users?limit=100', { headers: tn.owner });
  t.true(list.body.items.every((u) => u.tenantId === tn.tenantId));
});

test('an admin cannot create, promote to, change or delete an owner', async (t) => {
  const tn = await tenant();
  const admin = await userWithRole(r.app, tn.tenantId, 'admin');
  const member = await userWithRole(r.app, tn.tenantId, 'member');
  assertError(t, await r.req('POST', '/api/v1/users', { headers: admin.headers, body: newUser('owner') }), 'authorization_error', "The user would exceed the caller's own: role owner (the caller's: admin)");
  assertError(t, await r.req('PATCH', `/api/v1/users/${member.userId}`, { headers: admin.headers, body: { role: 'owner' } }), 'authorization_error', "The user would exceed the caller's own: role owner (the caller's: admin)");
  assertError(t, await r.req('PATCH', `/api/v1/users/${admin.userId}`, { headers: admin.headers, body: { role: 'owner' } }), 'authorization_error', "The user would exceed the caller's own: role owner (the caller's: admin)");
  assertError(t, await r.req('PATCH', `/api/v1/users/${tn.ownerId}`, { headers: admin.headers, body: { role: 'viewer' } }), 'authorization_error', 'Only an owner may change or delete an owner');
  assertError(t, await r.req('DELETE', `/api/v1/users/${tn.ownerId}`, { headers: admin.headers }), 'authorization_error', 'Only an owner may change or delete an owner');
  // What an admin may do: manage the others.
  const promoted = await r.req<User>('PATCH', `/api/v1/users/${member.userId}`, { headers: admin.headers, body: { role: 'admin', name: 'Promoted' } });
  t.like(promoted.body, { role: 'admin', name: 'Promoted' });
  t.is((await r.req('POST', '/api/v1/users', { headers: admin.headers, body: newUser('viewer') })).status, 201);
});

test('the role change takes effect at once for the person’s live token', async (t) => {
  const tn = await tenant();
  const admin = await userWithRole(r.app, tn.tenantId, 'admin');
  t.is((await r.req('POST', '/api/v1/users', { headers: admin.headers, body: newUser() })).status, 201);
  t.is((await r.req('PATCH', `/api/v1/users/${admin.userId}`, { headers: tn.owner, body: { role: 'viewer' } })).status, 200);
  assertError(t, await r.req('POST', '/api/v1/users', { headers: admin.headers, body: newUser() }), 'authorization_error', 'Role viewer may not do this (needs owner or admin)');
});

test('the last owner cannot be demoted, disabled or deleted; with a second owner they can', async (t) => {
  const tn = await tenant();
  const owner = tn.ownerId;
  const last = 'The last owner of a tenant cannot be demoted, disabled or deleted';
  assertError(t, await r.req('PATCH', `/api/v1/users/${owner}`, { headers: tn.owner, body: { role: 'admin' } }), 'conflict', last);
  assertError(t, await r.req('PATCH', `/api/v1/users/${owner}`, { headers: tn.owner, body: { status: 'disabled' } }), 'conflict', last);
  assertError(t, await r.req('DELETE', `/api/v1/users/${owner}`, { headers: tn.owner }), 'conflict', last);
  t.like(r.app.engine.store.users.get(owner), { role: 'owner', status: 'active' });

  const second = await r.req<User>('POST', '/api/v1/users', { headers: tn.owner, body: newUser('owner') });
  t.is(second.status, 201);
  // A disabled owner does not count as one.
  t.is((await r.req('PATCH', `/api/v1/users/${second.body.id}`, { headers: tn.owner, body: { status: 'disabled' } })).status, 200);
  assertError(t, await r.req('DELETE', `/api/v1/users/${owner}`, { headers: tn.owner }), 'conflict', last);
  t.is((await r.req('PATCH', `/api/v1/users/${second.body.id}`, { headers: tn.owner, body: { status: 'active' } })).status, 200);
  const demoted = await r.req<User>('PATCH', `/api/v1/users/${owner}`, { headers: tn.owner, body: { role: 'admin' } });
  t.is(demoted.status, 200);
  t.is(demoted.body.role, 'admin');
});

test('the last super-admin cannot be disabled or deleted', async (t) => {
  const tn = await seedTenant(r.app, { superAdmin: true });
  const owner = (await login(r, tn.ownerEmail, tn.ownerPassword)).headers;
  const co = await r.req<User>('POST', '/api/v1/users', { headers: owner, body: newUser('owner') });
  // Two owners, so the owner rule allows it; only the super-admin rule stands in the way.
  const supers = r.app.engine.store.users.countActiveSuperAdmins();
  t.is(supers, 1);
  assertError(t, await r.req('DELETE', `/api/v1/users/${tn.ownerId}`, { headers: owner }), 'conflict', 'The last super-admin cannot be disabled or deleted');
  t.is((await r.req('DELETE', `/api/v1/users/${co.body.id}`, { headers: owner })).status, 204);
});

test('delete removes the person: their token and sign-in stop working', async (t) => {
  const tn = await tenant();
  const body = newUser();
  const u = (await r.req<User>('POST', '/api/v1/users', { headers: tn.owner, body })).body;
  const s = await login(r, body.email, body.password);
  const del = await r.req('DELETE', `/api/v1/users/${u.id}`, { headers: tn.owner });
  t.is(del.status, 204);
  t.is(del.body, '');
  assertError(t, await r.req('GET', `/api/v1/users/${u.id}`, { headers: tn.owner }), 'not_found', 'User not found');
  t.is((await r.req('GET', '/api/v1/auth/me', { headers: s.headers })).status, 401);
  assertError(t, await r.req('POST', '/api/v1/auth/login', { body: { email: body.email, password: body.password } }), 'authentication_error', 'Invalid email or password');
});

test('a new password or disabling ends the person’s sessions', async (t) => {
  const tn = await tenant();
  const body = newUser();
  const u = (await r.req<User>('POST', '/api/v1/users', { headers: tn.owner, body })).body;
  const s = await login(r, body.email, body.password);
  t.is((await r.req('GET', '/api/v1/auth/me', { headers: s.headers })).status, 200);
  t.is((await r.req('PATCH', `/api/v1/users/${u.id}`, { headers: tn.owner, body: { password: 'a brand new password' } })).status, 200);
  assertError(t, await r.req('GET', '/api/v1/auth/me', { headers: s.headers }), 'authentication_error', 'Session ended');
  assertError(t, await r.req('POST', '/api/v1/auth/refresh', { body: { refreshToken: s.refreshToken } }), 'authentication_error', 'Refresh token revoked');
  assertError(t, await r.req('POST', '/api/v1/auth/login', { body: { email: body.email, password: body.password } }), 'authentication_error', 'Invalid email or password');
  const s2 = await login(r, body.email, 'a brand new password');

  const disabled = await r.req<User>('PATCH', `/api/v1/users/${u.id}`, { headers: tn.owner, body: { status: 'disabled' } });
  t.is(disabled.body.status, 'disabled');
  t.is((await r.req('GET', '/api/v1/auth/me', { headers: s2.headers })).status, 401);
  assertError(t, await r.req('POST', '/api/v1/auth/refresh', { body: { refreshToken: s2.refreshToken } }), 'authentication_error', 'Refresh token revoked');
});

test('an e-mail in use (in any tenant) answers conflict', async (t) => {
  const tn = await tenant();
  assertError(t, await r.req('POST', '/api/v1/users', { headers: tn.owner, body: { ...newUser(), email: t2.ownerEmail } }), 'conflict', 'A user with this email already exists');
});
