/**
 * Every error the API emits, from anywhere (the router, the body reader, the parser, auth,
 * validation, rate limiting, a crash), is the reference's envelope and nothing else.
 */
import { Writable } from 'node:stream';
import test from 'ava';
import { startApp } from '../../api/app.js';
import { createLogger } from '../../config/logger.js';
import { errorTable } from '../../api/http/errors.js';
import { testConfig } from '../helpers/config.js';
import { assertError } from '../helpers/envelope.js';
import { request } from '../helpers/http.js';
import { useApp } from '../helpers/app.js';
import { mintKey, seedTenant, type SeededTenant } from '../helpers/tenant.js';

const r = useApp(test);
let t1: SeededTenant;

test.before(async () => {
  await r.ready;
  t1 = await seedTenant(r.app);
});

const admin = () => ({ 'x-api-key': mintKey(r.app, t1.tenantId, {}) });

test('unknown path: 404', async (t) => {
  assertError(t, await r.req('GET', '/nope'), 'not_found', 'No route for GET /nope');
  assertError(t, await r.req('POST', '/api/v1/nope', { body: {} }), 'not_found', 'No route for POST /api/v1/nope');
});

test('wrong method: 405 with Allow', async (t) => {
  const res = await r.req('DELETE', '/api/v1/auth/me');
  assertError(t, res, 'method_not_allowed', 'DELETE is not allowed on /api/v1/auth/me');
  t.is(res.headers.get('allow'), 'GET');
  const keys = await r.req('PUT', '/api/v1/api-keys/00000000-0000-4000-8000-000000000000');
  t.is(keys.headers.get('allow'), 'GET, DELETE');
});

test('malformed JSON: 422 naming the body', async (t) => {
  const res = await r.req<{ error: { details: { field: string; message: string }[] } }>('POST', '/api/v1/api-keys', {
    headers: { ...admin(), 'content-type': 'application/json' },
    raw: '{"name": ',
  });
  const parserMessage = res.body.error?.details?.[0]?.message ?? '';
  t.regex(parserMessage, /JSON/);
  assertError(t, res, 'validation_error', 'Malformed JSON', [{ field: 'body', message: parserMessage }]);
});

test('wrong content type: 415', async (t) => {
  const res = await r.req('POST', '/api/v1/api-keys', { headers: { ...admin(), 'content-type': 'text/plain' }, raw: 'name=x' });
  assertError(t, res, 'unsupported_media_type', 'Content-Type must be application/json, got "text/plain"');
});

test('oversized body: 413, by declared length and by streamed bytes', async (t) => {
  const max = r.config.http.maxBodyBytes;
  const big = JSON.stringify({ name: 'x'.repeat(max) });
  assertError(t, await r.req('POST', '/api/v1/api-keys', { headers: admin(), body: JSON.parse(big) }), 'payload_too_large', `Request body exceeds ${max} bytes`);
  // Chunked, with no Content-Length: the limit holds while reading.
  const chunk = new TextEncoder().encode('x'.repeat(64 * 1024));
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent > max * 2) return c.close();
      sent += chunk.length;
      c.enqueue(chunk);
    },
  });
  const res = await fetch(`${r.base}/api/v1/api-keys`, {
    method: 'POST',
    headers: { ...admin(), 'content-type': 'application/json' },
    body: stream,
    duplex: 'half',
  } as RequestInit);
  t.is(res.status, 413);
  t.deepEqual(await res.json(), { error: { code: 'payload_too_large', message: `Request body exceeds ${max} bytes`, details: [] } });
});

test('401, 403, 422 and 429 from a route, each in the envelope', async (t) => {
  assertError(t, await r.req('GET', '/api/v1/api-keys'), 'authentication_error', 'Missing credentials: send X-API-Key or Authorization: Bearer');
  const viewer = { 'x-api-key': mintKey(r.app, t1.tenantId, { role: 'viewer' }) };
  assertError(t, await r.req('GET', '/api/v1/api-keys', { headers: viewer }), 'authorization_error', 'Role viewer may not do this (needs owner or admin)');
  assertError(t, await r.req('GET', '/api/v1/api-keys?limit=x', { headers: admin() }), 'validation_error', 'Invalid query', [
    { field: 'query.limit', message: 'Invalid input: expected number, received NaN' },
  ]);
  const limited = { 'x-api-key': mintKey(r.app, t1.tenantId, { rateLimit: 1 }) };
  await r.req('GET', '/api/v1/auth/me', { headers: limited });
  assertError(t, await r.req('GET', '/api/v1/auth/me', { headers: limited }), 'rate_limit_exceeded', /^Rate limit of 1 requests per minute exceeded; retry in \d+ s$/);
});

test('every code in the error table maps to its own status, and the envelope schema knows them all', async (t) => {
  const statuses = Object.values(errorTable).map((e) => e.status);
  t.is(new Set(statuses).size, statuses.length, 'one code per status');
  for (const code of ['authentication_error', 'authorization_error', 'not_found', 'validation_error', 'rate_limit_exceeded', 'internal_error'] as const) {
    t.truthy(errorTable[code], `the reference's ${code} is in the table`);
  }
});

test('a crash is 500 internal_error with a generic message; the cause is logged, never sent', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const config = testConfig({ log: { level: 'error' } });
  const app = await startApp(config, createLogger(config.log, sink));
  t.teardown(() => app.close());
  const base = `http://127.0.0.1:${app.http.port}`;
  const key = mintKey(app, (await seedTenant(app)).tenantId, {});
  // A real fault: the database goes away under the running server.
  app.engine.db.close();
  const res = await request(base, 'GET', '/api/v1/api-keys', { headers: { 'x-api-key': key } });
  assertError(t, res, 'internal_error', 'Internal server error');
  const text = JSON.stringify(res.body);
  t.false(/database|sqlite|stack|Error:/i.test(text), text);
  const logged = lines.map((l) => JSON.parse(l) as { msg: string; err?: { message: string; stack: string }; level: number });
  const entry = logged.find((l) => l.msg === 'request failed');
  t.truthy(entry, `logged: ${lines.join('\n')}`);
  t.regex(entry!.err!.message, /database connection is not open/);
  t.regex(entry!.err!.stack, /at /);
});

// The outside test's first finding: one malformed escape in a path parameter ended the process
// (an uncaught URIError from decodeURIComponent in the uWS callback).
test('a malformed percent-escape in a path parameter: 401 unsigned, 404 signed, and the process lives', async (t) => {
  for (const path of ['/api/v1/agents/%', '/api/v1/agents/%E0%A4%A', '/api/v1/users/%C0%AF', '/api/v1/tools/%ZZ/test']) {
    const method = path.endsWith('/test') ? 'POST' : 'GET';
    assertError(t, await r.req(method, path), 'authentication_error', 'Missing credentials: send X-API-Key or Authorization: Bearer');
    const body = method === 'POST' ? { body: {} } : {};
    assertError(t, await r.req(method, path, { headers: admin(), ...body }), 'not_found', 'Resource not found');
  }
  // A well-formed escape still decodes: the id is looked up (and not found) as text.
  assertError(t, await r.req('GET', '/api/v1/agents/%41', { headers: admin() }), 'not_found', 'Resource not found');
  t.is((await r.req('GET', '/api/v1/health/live')).status, 200);
});
