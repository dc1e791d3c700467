import test from 'ava';
import { verifyPassword } from '../../api/auth/passwords.js';
import { assertError } from '../helpers/envelope.js';
import { login, useApp } from '../helpers/app.js';
import { seedTenant, type SeededTenant } from '../helpers/tenant.js';

const r = useApp(test);
let t1: SeededTenant;

test.before(async () => {
  await r.ready;
  t1 = await seedTenant(r.app);
});

interface Pair {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
  refreshExpiresIn: number;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

test('login answers a token pair; the access token works and lastLoginAt is set', async (t) => {
  const res = await r.req<Pair>('POST', '/api/v1/auth/login', { body: { email: t1.ownerEmail, password: t1.ownerPassword } });
  t.is(res.status, 200);
  t.deepEqual(Object.keys(res.body).sort(), ['accessToken', 'expiresIn', 'refreshExpiresIn', 'refreshToken', 'tokenType']);
  t.is(res.body.tokenType, 'Bearer');
  t.is(res.body.expiresIn, r.config.auth.accessTokenTtlSeconds);
  t.is(res.body.refreshExpiresIn, r.config.auth.refreshTokenTtlSeconds);
  const me = await r.req<{ kind: string; user: { id: string; lastLoginAt: string | null } }>('GET', '/api/v1/auth/me', {
    headers: bearer(res.body.accessToken),
  });
  t.is(me.status, 200);
  t.is(me.body.kind, 'user');
  t.is(me.body.user.id, t1.ownerId);
  t.truthy(me.body.user.lastLoginAt);
});

test('the e-mail is matched without regard to case', async (t) => {
  const res = await r.req('POST', '/api/v1/auth/login', { body: { email: t1.ownerEmail.toUpperCase(), password: t1.ownerPassword } });
  t.is(res.status, 200);
});

test.serial('a wrong password and an unknown e-mail get the same 401, after comparable work', async (t) => {
  // One scrypt verification, at its quickest here: the floor of a login that checks a hash.
  const stored = r.app.engine.store.users.get(t1.ownerId)!.passwordHash;
  let floor = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await verifyPassword('not the password', stored);
    floor = Math.min(floor, performance.now() - t0);
  }
  const time = async (email: string) => {
    const t0 = performance.now();
    const res = await r.req('POST', '/api/v1/auth/login', { body: { email, password: 'not the password' } });
    return { res, ms: performance.now() - t0 };
  };
  const wrong = await time(t1.ownerEmail);
  const unknown = await time('nobody@example.test');
  assertError(t, wrong.res, 'authentication_error', 'Invalid email or password');
  assertError(t, unknown.res, 'authentication_error', 'Invalid email or password');
  // An unknown e-mail that skipped the hash would answer in a millisecond or two.
  t.true(unknown.ms >= floor / 2, `unknown e-mail ${unknown.ms.toFixed(1)} ms, one hash ${floor.toFixed(1)} ms`);
  t.true(wrong.ms >= floor / 2, `wrong password ${wrong.ms.toFixed(1)} ms, one hash ${floor.toFixed(1)} ms`);
});

test('login validation failures answer the whole envelope', async (t) => {
  assertError(t, await r.req('POST', '/api/v1/auth/login', { body: { email: 'not-an-email' } }), 'validation_error', 'Invalid request body', [
    { field: 'email', message: 'Invalid email address' },
    { field: 'password', message: 'Field is required' },
  ]);
  assertError(t, await r.req('POST', '/api/v1/auth/refresh', { body: {} }), 'validation_error', 'Invalid request body', [
    { field: 'refreshToken', message: 'Field is required' },
  ]);
  assertError(t, await r.req('POST', '/api/v1/auth/logout', { body: { refreshToken: 42 } }), 'validation_error', 'Invalid request body', [
    { field: 'refreshToken', message: 'Invalid input: expected string, received number' },
  ]);
});

test('refresh rotates: the new pair works, the spent token cannot be used again', async (t) => {
  const first = await login(r, t1.ownerEmail, t1.ownerPassword);
  const res = await r.req<Pair>('POST', '/api/v1/auth/refresh', { body: { refreshToken: first.refreshToken } });
  t.is(res.status, 200);
  t.not(res.body.refreshToken, first.refreshToken);
  t.not(res.body.accessToken, first.accessToken);
  t.is((await r.req('GET', '/api/v1/auth/me', { headers: bearer(res.body.accessToken) })).status, 200);
  const next = await r.req<Pair>('POST', '/api/v1/auth/refresh', { body: { refreshToken: res.body.refreshToken } });
  t.is(next.status, 200);
});

test('reusing a spent refresh token ends the whole session: every token of the family stops working', async (t) => {
  const first = await login(r, t1.ownerEmail, t1.ownerPassword);
  const second = (await r.req<Pair>('POST', '/api/v1/auth/refresh', { body: { refreshToken: first.refreshToken } })).body;
  // The current access token works (and its verdict is now cached)...
  t.is((await r.req('GET', '/api/v1/auth/me', { headers: bearer(second.accessToken) })).status, 200);
  // ...until the spent token comes back.
  const reuse = await r.req('POST', '/api/v1/auth/refresh', { body: { refreshToken: first.refreshToken } });
  assertError(t, reuse, 'authentication_error', 'Refresh token already used; the session has been ended');
  assertError(
    t,
    await r.req('POST', '/api/v1/auth/refresh', { body: { refreshToken: second.refreshToken } }),
    'authentication_error',
    'Refresh token revoked',
  );
  assertError(t, await r.req('GET', '/api/v1/auth/me', { headers: bearer(second.accessToken) }), 'authentication_error', 'Session ended');
  assertError(t, await r.req('GET', '/api/v1/auth/me', { headers: bearer(first.accessToken) }), 'authentication_error', 'Session ended');
  // Another session of the same user is untouched.
  const other = await login(r, t1.ownerEmail, t1.ownerPassword);
  t.is((await r.req('GET', '/api/v1/auth/me', { headers: other.headers })).status, 200);
});

test('two concurrent uses of one refresh token: one wins, and the session ends', async (t) => {
  const s = await login(r, t1.ownerEmail, t1.ownerPassword);
  const [a, b] = await Promise.all([
    r.req<Pair>('POST', '/api/v1/auth/refresh', { body: { refreshToken: s.refreshToken } }),
    r.req<Pair>('POST', '/api/v1/auth/refresh', { body: { refreshToken: s.refreshToken } }),
  ]);
  t.deepEqual([a.status, b.status].sort(), [200, 401]);
  const winner = a.status === 200 ? a : b;
  t.is((await r.req('POST', '/api/v1/auth/refresh', { body: { refreshToken: winner.body.refreshToken } })).status, 401);
});

test('logout ends the session: the refresh token and the (cached) access token stop working', async (t) => {
  const s = await login(r, t1.ownerEmail, t1.ownerPassword);
  t.is((await r.req('GET', '/api/v1/auth/me', { headers: s.headers })).status, 200);
  const out = await r.req('POST', '/api/v1/auth/logout', { body: { refreshToken: s.refreshToken } });
  t.is(out.status, 204);
  t.is(out.body, '');
  assertError(t, await r.req('GET', '/api/v1/auth/me', { headers: s.headers }), 'authentication_error', 'Session ended');
  assertError(
    t,
    await r.req('POST', '/api/v1/auth/refresh', { body: { refreshToken: s.refreshToken } }),
    'authentication_error',
    'Refresh token revoked',
  );
  const rows = r.app.engine.store.db
    .prepare('SELECT COUNT(*) AS n FROM refresh_tokens WHERE user_id = ? AND revoked_at IS NULL')
    .get(t1.ownerId) as { n: number };
  t.true(rows.n >= 1, 'other sessions of the user are untouched');
});

test('logout and refresh refuse tokens that are not ours', async (t) => {
  for (const path of ['/api/v1/auth/logout', '/api/v1/auth/refresh']) {
    assertError(t, await r.req('POST', path, { body: { refreshToken: 'a.b.c' } }), 'authentication_error', 'Invalid or expired refresh token');
  }
  // An access token is not a refresh token.
  const s = await login(r, t1.ownerEmail, t1.ownerPassword);
  assertError(
    t,
    await r.req('POST', '/api/v1/auth/refresh', { body: { refreshToken: s.accessToken } }),
    'authentication_error',
    'Invalid or expired refresh token',
  );
});

test('a disabled user cannot log in or refresh; a suspended tenant cannot either', async (t) => {
  const tn = await seedTenant(r.app);
  const s = await login(r, tn.ownerEmail, tn.ownerPassword);
  r.app.engine.store.tenants.update(tn.tenantId, { status: 'suspended' });
  assertError(
    t,
    await r.req('POST', '/api/v1/auth/login', { body: { email: tn.ownerEmail, password: tn.ownerPassword } }),
    'authentication_error',
    'Tenant suspended',
  );
  assertError(t, await r.req('POST', '/api/v1/auth/refresh', { body: { refreshToken: s.refreshToken } }), 'authentication_error', 'Tenant suspended');
  r.app.engine.store.tenants.update(tn.tenantId, { status: 'active' });
  r.app.engine.store.users.update(tn.tenantId, tn.ownerId, { status: 'disabled' });
  assertError(
    t,
    await r.req('POST', '/api/v1/auth/login', { body: { email: tn.ownerEmail, password: tn.ownerPassword } }),
    'authentication_error',
    'Invalid email or password',
  );
  assertError(
    t,
    await r.req('POST', '/api/v1/auth/refresh', { body: { refreshToken: s.refreshToken } }),
    'authentication_error',
    'Invalid or expired refresh token',
  );
});

test('refresh tokens are stored hashed', async (t) => {
  const s = await login(r, t1.ownerEmail, t1.ownerPassword);
  const hit = r.app.engine.store.db
    .prepare("SELECT COUNT(*) AS n FROM refresh_tokens WHERE token_hash = ? OR token_hash LIKE '%.%'")
    .get(s.refreshToken) as { n: number };
  t.is(hit.n, 0);
});
