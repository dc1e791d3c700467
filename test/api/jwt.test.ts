/**
 * Forged and broken access tokens. Each case starts from the claims of a real, working token and
 * changes one thing; the unchanged claims, re-signed the same way, must work (so every refusal
 * below is caused by the one change, and the test can fail).
 */
import test from 'ava';
import * as jose from 'jose';
import { assertError } from '../helpers/envelope.js';
import { login, useApp } from '../helpers/app.js';
import { seedTenant, type SeededTenant } from '../helpers/tenant.js';

const r = useApp(test);
let t1: SeededTenant;
let claims: jose.JWTPayload;
let secret: Uint8Array;
let refreshToken: string;

test.before(async () => {
  await r.ready;
  t1 = await seedTenant(r.app);
  const s = await login(r, t1.ownerEmail, t1.ownerPassword);
  claims = jose.decodeJwt(s.accessToken);
  refreshToken = s.refreshToken;
  secret = new TextEncoder().encode(r.config.auth.jwtSecret);
});

const sign = (payload: jose.JWTPayload, key: Uint8Array = secret, header: jose.JWTHeaderParameters = { alg: 'HS256', typ: 'JWT' }) =>
  new jose.SignJWT(payload).setProtectedHeader(header).sign(key);

const me = (token: string) => r.req('GET', '/api/v1/auth/me', { headers: { authorization: `Bearer ${token}` } });
const now = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

test('control: the real claims, re-signed with the real key, are accepted', async (t) => {
  const res = await me(await sign({ ...claims }));
  t.is(res.status, 200, JSON.stringify(res.body));
});

const rejected: [string, () => Promise<string>][] = [
  ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`],
  ['alg none with a signature part', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.${b64('x')}`],
  ['another algorithm (HS512) with the same secret', async () => sign({ ...claims }, secret, { alg: 'HS512', typ: 'JWT' })],
  ['a wrong key', async () => sign({ ...claims }, new TextEncoder().encode('another-secret-another-secret-another-1'))],
  ['expired', async () => sign({ ...claims, iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600 })],
  ['not yet valid', async () => sign({ ...claims, nbf: now() + 3600 })],
  ['a wrong issuer', async () => sign({ ...claims, iss: 'someone-else' })],
  ['a wrong audience', async () => sign({ ...claims, aud: 'another-api' })],
  ['no expiry', async () => sign(Object.fromEntries(Object.entries(claims).filter(([k]) => k !== 'exp')))],
  ['no session', async () => sign(Object.fromEntries(Object.entries(claims).filter(([k]) => k !== 'sid')))],
  [
    'a tampered payload (role raised to owner, super-admin), original signature kept',
    async () => {
      const [h, , sig] = (await sign({ ...claims })).split('.');
      return `${h}.${b64({ ...claims, role: 'owner', sa: true })}.${sig}`;
    },
  ],
  ['a refresh token', async () => refreshToken],
  ['the right signature on a non-access type', async () => sign({ ...claims, typ: 'refresh' })],
  ['garbage', async () => 'not-a-jwt'],
];

for (const [name, make] of rejected) {
  test(`an access token with ${name} is refused`, async (t) => {
    const res = await me(await make());
    assertError(t, res, 'authentication_error', 'Invalid or expired token');
  });
}

test('a well-signed token of a session that does not exist (or was signed out) is refused', async (t) => {
  assertError(t, await me(await sign({ ...claims, sid: crypto.randomUUID() })), 'authentication_error', 'Session ended');
});

test('a token for another tenant than the user is refused even when signed with the real key', async (t) => {
  const other = await seedTenant(r.app);
  assertError(t, await me(await sign({ ...claims, tid: other.tenantId })), 'authentication_error', 'Invalid token');
});

test('the role comes from the user row, not the token', async (t) => {
  const res = await me(await sign({ ...claims, role: 'viewer' }));
  t.is(res.status, 200);
  t.is((res.body as { role: string }).role, 'owner');
});
