import test from 'ava';
import type { MiddlewareContext, Result } from '../../api/http/adapter.js';
import type { AuthContext, RouteDef } from '../../api/http/route.js';
import { rateLimit } from '../../api/middleware/rate-limit.js';
import { DEFAULT_RATE_LIMIT } from '../../api/app.js';
import { assertError } from '../helpers/envelope.js';
import { login, useApp } from '../helpers/app.js';
import { mintKey, seedTenant, type SeededTenant } from '../helpers/tenant.js';

const r = useApp(test);
let t1: SeededTenant;

test.before(async () => {
  await r.ready;
  t1 = await seedTenant(r.app);
});

const limits = (h: Headers) => ({
  limit: h.get('x-ratelimit-limit'),
  remaining: h.get('x-ratelimit-remaining'),
  reset: Number(h.get('x-ratelimit-reset')),
});

test('headers count down; request 101 in the minute gets 429 with Retry-After; other keys are unaffected', async (t) => {
  t.is(DEFAULT_RATE_LIMIT, 100);
  const headers = { 'x-api-key': mintKey(r.app, t1.tenantId, {}) };
  const start = Date.now() / 1000;
  let reset = 0;
  for (let i = 1; i <= 100; i++) {
    const res = await r.req('GET', '/api/v1/auth/me', { headers });
    t.is(res.status, 200);
    const l = limits(res.headers);
    t.is(l.limit, '100');
    t.is(l.remaining, String(100 - i));
    if (i === 1) {
      reset = l.reset;
      t.true(reset > start && reset <= Math.ceil(start) + 61, `reset ${reset} is within a minute of ${start}`);
    } else t.is(l.reset, reset, 'one window: the reset does not move');
  }
  const over = await r.req('GET', '/api/v1/auth/me', { headers });
  assertError(t, over, 'rate_limit_exceeded', /^Rate limit of 100 requests per minute exceeded; retry in \d+ s$/);
  const retryAfter = Number(over.headers.get('retry-after'));
  t.true(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
  t.true(Math.abs(Date.now() / 1000 + retryAfter - reset) <= 2, 'Retry-After points at the reset');
  t.deepEqual(limits(over.headers), { limit: '100', remaining: '0', reset });
  t.is((await r.req('GET', '/api/v1/auth/me', { headers })).status, 429, 'still refused');

  const other = await r.req('GET', '/api/v1/auth/me', { headers: { 'x-api-key': mintKey(r.app, t1.tenantId, {}) } });
  t.is(other.status, 200);
  t.is(other.headers.get('x-ratelimit-remaining'), '99');
});

test("a key's own rate_limit overrides the default", async (t) => {
  const headers = { 'x-api-key': mintKey(r.app, t1.tenantId, { rateLimit: 3 }) };
  for (const remaining of ['2', '1', '0']) {
    const res = await r.req('GET', '/api/v1/auth/me', { headers });
    t.is(res.status, 200);
    t.is(res.headers.get('x-ratelimit-limit'), '3');
    t.is(res.headers.get('x-ratelimit-remaining'), remaining);
  }
  const over = await r.req('GET', '/api/v1/auth/me', { headers });
  assertError(t, over, 'rate_limit_exceeded', /^Rate limit of 3 requests per minute exceeded; retry in \d+ s$/);
  t.truthy(over.headers.get('retry-after'));
});

test('a key created through the API with rateLimit is held to it', async (t) => {
  const created = await r.req<{ key: string }>('POST', '/api/v1/api-keys', { headers: { 'x-api-key': mintKey(r.app, t1.tenantId, {}) }, body: { name: 'slow', rateLimit: 2 } });
  const headers = { 'x-api-key': created.body.key };
  t.is((await r.req('GET', '/api/v1/auth/me', { headers })).status, 200);
  t.is((await r.req('GET', '/api/v1/auth/me', { headers })).status, 200);
  t.is((await r.req('GET', '/api/v1/auth/me', { headers })).status, 429);
});

test('refused requests (403, 404, 422) carry the headers and count; 401 carries none', async (t) => {
  const viewer = { 'x-api-key': mintKey(r.app, t1.tenantId, { role: 'viewer', rateLimit: 10 }) };
  const admin = { 'x-api-key': mintKey(r.app, t1.tenantId, { rateLimit: 10 }) };
  const forbidden = await r.req('GET', '/api/v1/api-keys', { headers: viewer });
  t.is(forbidden.status, 403);
  t.deepEqual(limits(forbidden.headers).remaining, '9');
  const notFound = await r.req('GET', '/api/v1/api-keys/00000000-0000-4000-8000-000000000000', { headers: admin });
  t.is(notFound.status, 404);
  t.is(notFound.headers.get('x-ratelimit-remaining'), '9');
  const invalid = await r.req('POST', '/api/v1/api-keys', { headers: admin, body: { name: '' } });
  t.is(invalid.status, 422);
  t.is(invalid.headers.get('x-ratelimit-remaining'), '8');
  t.is(invalid.headers.get('x-ratelimit-limit'), '10');
  const unauthenticated = await r.req('GET', '/api/v1/auth/me', { headers: { 'x-api-key': `as_live_${'x'.repeat(32)}` } });
  t.is(unauthenticated.status, 401);
  t.is(unauthenticated.headers.get('x-ratelimit-limit'), null);
});

test('people are limited per user, across their tokens', async (t) => {
  const tn = await seedTenant(r.app);
  const a = await login(r, tn.ownerEmail, tn.ownerPassword);
  const b = await login(r, tn.ownerEmail, tn.ownerPassword);
  t.is((await r.req('GET', '/api/v1/auth/me', { headers: a.headers })).headers.get('x-ratelimit-remaining'), '99');
  t.is((await r.req('GET', '/api/v1/auth/me', { headers: b.headers })).headers.get('x-ratelimit-remaining'), '98');
});

/** An app of its own for the per-address limit, so no other test's logins share the address's window. */
const r2 = useApp(test);

test('login is limited per client address: 100 a minute, then 429 even with the right password', async (t) => {
  await r2.ready;
  const tn = await seedTenant(r2.app);
  // Bodies that fail validation: counted, but without a password hash each.
  for (let i = 1; i <= 100; i++) {
    const res = await r2.req('POST', '/api/v1/auth/login', { body: {} });
    t.is(res.status, 422);
    t.is(res.headers.get('x-ratelimit-remaining'), String(100 - i));
  }
  const over = await r2.req('POST', '/api/v1/auth/login', { body: { email: tn.ownerEmail, password: tn.ownerPassword } });
  assertError(t, over, 'rate_limit_exceeded', /^Rate limit of 100 requests per minute exceeded; retry in \d+ s$/);
  t.truthy(over.headers.get('retry-after'));
  // The same window covers refresh; health is never limited; an API key has its own budget.
  t.is((await r2.req('POST', '/api/v1/auth/refresh', { body: { refreshToken: 'x' } })).status, 429);
  const health = await r2.req('GET', '/api/v1/health/live');
  t.is(health.status, 200);
  t.is(health.headers.get('x-ratelimit-limit'), null);
  t.is((await r2.req('GET', '/api/v1/auth/me', { headers: tn.headers })).status, 200);
});

// The window and the memory bound, with a clock we move: the middleware itself, on requests
// shaped as the adapter makes them.
const route = { auth: {}, operationId: 'x' } as unknown as RouteDef;
const caller = (id: string, limit = 2) =>
  ({ kind: 'api_key', apiKeyId: id, userId: null, tenantId: 't', role: 'admin', mode: 'live', superAdmin: false, scopes: null, rateLimit: limit }) as AuthContext;
const ctx = (auth: AuthContext): MiddlewareContext =>
  ({ route, auth, req: { ip: '127.0.0.1' }, responseHeaders: {}, rawBody: null, log: undefined }) as unknown as MiddlewareContext;
const ok = (): Result => ({ status: 200, body: {}, headers: {} });

test('a new window opens a minute after the first request of the last one', (t) => {
  let now = 1_000_000;
  const mw = rateLimit({ publicLimit: 100, now: () => now });
  const a = caller('a');
  mw(ctx(a), ok);
  now += 30_000;
  mw(ctx(a), ok);
  const c = ctx(a);
  t.throws(() => mw(c, ok), { message: /Rate limit of 2 requests per minute exceeded; retry in 30 s/ });
  t.is(c.responseHeaders['x-ratelimit-reset'], String((1_000_000 + 60_000) / 1000));
  now = 1_000_000 + 60_000;
  const fresh = ctx(a);
  t.deepEqual(mw(fresh, ok), ok());
  t.is(fresh.responseHeaders['x-ratelimit-remaining'], '1');
  t.is(fresh.responseHeaders['x-ratelimit-reset'], String((1_000_000 + 120_000) / 1000));
});

test('memory stays bounded: closed windows are dropped, and past the cap the oldest goes', (t) => {
  let now = 0;
  const mw = rateLimit({ publicLimit: 100, maxTracked: 1000, now: () => now });
  for (let i = 0; i < 5000; i++) {
    now += 10;
    mw(ctx(caller(`k${i}`)), ok);
  }
  t.true(mw.tracked <= 1000, `tracked ${mw.tracked}`);
  now += 61_000;
  mw(ctx(caller('late')), ok);
  t.is(mw.tracked, 1, 'every closed window is gone');
});
