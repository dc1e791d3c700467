/**
 * Malformed input at the HTTP edge: each case is a request that once answered 500 (or was stored
 * as something the client never sent), and must now get its exact 4xx envelope with nothing
 * written. Cases found by the properties in `fuzz-http.test.ts` are kept here as examples.
 */
import net from 'node:net';
import test from 'ava';
import { MAX_JSON_DEPTH, MAX_JSON_NODES } from '../../api/http/json-input.js';
import { validateJson, type JsonSchema } from '../../engine/agents/json-schema.js';
import { useApp } from '../helpers/app.js';
import { assertError } from '../helpers/envelope.js';
import type { JsonResponse } from '../helpers/http.js';
import { simpleGraph } from '../helpers/resources.js';
import { seedTenant, type SeededTenant } from '../helpers/tenant.js';
import { WsClient } from './realtime/ws-client.js';

const r = useApp(test);
let t1: SeededTenant;

test.before(async () => {
  await r.ready;
  t1 = await seedTenant(r.app);
});

/** A request with a raw byte body (fetch, so Content-Length is right). */
async function send(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const res = await fetch(r.base + path, { method, body, headers: { ...t1.headers, 'content-type': 'application/json', ...headers } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as unknown) : undefined };
}

const agentCount = () => (r.app.engine.store.db.prepare('SELECT COUNT(*) AS n FROM agents').get() as { n: number }).n;

/** `depth` arrays, one inside the other, around `inner`. */
const nestedArrays = (depth: number, inner = '0') => '['.repeat(depth) + inner + ']'.repeat(depth);

test.serial('invalid UTF-8 in a JSON body is a validation_error, and nothing is stored', async (t) => {
  const before = agentCount();
  // "Caf\xE9": Latin-1, not UTF-8 (once stored as "Caf\uFFFD").
  const body = Buffer.concat([Buffer.from('{"name":"Caf'), Buffer.from([0xe9]), Buffer.from('","config":{"prompt":{"system":"x"}}}')]);
  assertError(t, await send('POST', '/api/v1/agents', body), 'validation_error', 'Invalid UTF-8', [
    { field: 'body', message: 'not valid UTF-8 (RFC 8259 requires UTF-8)' },
  ]);
  // An overlong encoding of '/' and a lone surrogate (CESU-8) are not UTF-8 either.
  for (const bad of [[0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
    const b = Buffer.concat([Buffer.from('{"name":"'), Buffer.from(bad), Buffer.from('","config":{"prompt":{"system":"x"}}}')]);
    t.is((await send('POST', '/api/v1/agents', b)).status, 422);
  }
  t.is(agentCount(), before);
});

test.serial(`JSON nested deeper than ${MAX_JSON_DEPTH} levels is a validation_error (once a RangeError, 500)`, async (t) => {
  const deep = [{ field: 'body', message: `nested more than ${MAX_JSON_DEPTH} levels (limit MAX_JSON_DEPTH)` }];
  // A tool's parameters 500 schemas deep: the recursive JSON-Schema check overflowed the stack.
  let params = '{"type":"string"}';
  for (let i = 0; i < 500; i++) params = `{"type":"object","properties":{"a":${params}}}`;
  const tool = `{"name":"deep","parameters":${params},"action":{"type":"builtin","name":"hangup"}}`;
  assertError(t, await send('POST', '/api/v1/tools', tool), 'validation_error', 'JSON nested too deeply', deep);
  // A workflow node's arguments 5,000 arrays deep: JSON.stringify in the repository overflowed.
  const graph = JSON.stringify({ name: 'deep', graph: simpleGraph() }).replace('"kind":"say"', `"kind":"say","arguments":{"a":${nestedArrays(5000)}}`);
  assertError(t, await send('POST', '/api/v1/workflows', graph), 'validation_error', 'JSON nested too deeply', deep);
  // Exactly at the limit, the bound lets it through to the schema (which refuses it for its own reason).
  const atLimit = await send('POST', '/api/v1/agents', `{"name":"x","config":${nestedArrays(MAX_JSON_DEPTH - 1)}}`);
  t.is(atLimit.status, 422);
  t.not((atLimit.body as { error: { message: string } }).error.message, 'JSON nested too deeply');
});

test.serial(`a JSON body of more than ${MAX_JSON_NODES} values is a validation_error`, async (t) => {
  const many = `{"name":"x","config":{"prompt":{"system":"x"}},"extra":[${'0,'.repeat(MAX_JSON_NODES)}0]}`;
  assertError(t, await send('POST', '/api/v1/agents', many), 'validation_error', 'JSON document too large', [
    { field: 'body', message: `more than ${MAX_JSON_NODES} values (limit MAX_JSON_NODES)` },
  ]);
});

test.serial('__proto__ and constructor.prototype keys are refused anywhere in a body, and pollute nothing', async (t) => {
  const before = agentCount();
  for (const [key, inner] of [['__proto__', '{"polluted":true}'], ['constructor', '{"prototype":{"polluted":true}}']] as const) {
    const body = `{"name":"x","config":{"prompt":{"system":"x"},"variables":{"${key}":${inner}}}}`;
    assertError(t, await send('POST', '/api/v1/agents', body), 'validation_error', 'Forbidden key', [
      { field: 'body', message: `the key "${key}" is not accepted` },
    ]);
  }
  t.is(({} as Record<string, unknown>).polluted, undefined);
  t.is(agentCount(), before);
  // `constructor` as a plain value is an ordinary key.
  t.is((await send('POST', '/api/v1/agents', '{"name":"x","config":{"prompt":{"system":"x"},"variables":{"constructor":"c"}}}')).status, 201);
});

test.serial('a body that is null, a number, a string or an array where an object is expected: validation_error', async (t) => {
  for (const body of ['null', '42', '"agent"', '[]', 'true']) {
    const res = await send('POST', '/api/v1/agents', body);
    t.is(res.status, 422, body);
    t.is((res.body as { error: { code: string; details: { field: string }[] } }).error.details[0]?.field, 'body', body);
  }
});

test.serial('malformed percent-escapes and non-UTF-8 escapes in a query are a validation_error naming the parameter', async (t) => {
  const bad = (name: string) => [{ field: `query.${name}`, message: 'Malformed percent-escape (or not UTF-8)' }];
  assertError(t, await send('GET', '/api/v1/agents?limit=%ZZ'), 'validation_error', 'Invalid query', bad('limit'));
  assertError(t, await send('GET', '/api/v1/agents?from=%E0%A4%A'), 'validation_error', 'Invalid query', bad('from'));
  assertError(t, await send('GET', '/api/v1/calls?from=%C0%AF'), 'validation_error', 'Invalid query', bad('from'));
  assertError(t, await send('GET', '/api/v1/agents?%=1'), 'validation_error', 'Invalid query', [
    { field: 'query', message: 'Malformed percent-escape (or not UTF-8)' },
  ]);
  // Well-formed escapes and '+' still decode.
  t.is((await send('GET', '/api/v1/agents?limit=%31%30')).status, 200);
  t.is(((await send('GET', '/api/v1/agents?limit=+5')).body as { limit: number }).limit, 5);
});

test.serial('a duplicated query key is a validation_error, not the first or last value', async (t) => {
  const res = await send('GET', '/api/v1/agents?limit=1&limit=2');
  t.is(res.status, 422);
  t.is((res.body as { error: { details: { field: string }[] } }).error.details[0]?.field, 'query.limit');
});

test.serial('__proto__ as a query key is an ordinary (unknown) parameter', async (t) => {
  t.is((await send('GET', '/api/v1/agents?__proto__=1&constructor=2')).status, 200);
  t.is((await send('GET', '/api/v1/agents?__proto__[limit]=500')).status, 200);
});

test.serial('validateJson: own properties only (constructor, toString are not declared), and depth-safe', (t) => {
  const closed = { type: 'object', properties: {}, additionalProperties: false } as const;
  t.deepEqual(validateJson(closed, { constructor: 1 }), [{ path: ['constructor'], message: 'Not a declared property' }]);
  const needsToString: JsonSchema = { type: 'object', properties: { toString: { type: 'string' } as JsonSchema }, required: ['toString'] };
  t.deepEqual(validateJson(needsToString, {}), [
    { path: ['toString'], message: 'Field is required' },
  ]);
  // A value built in code, 100,000 levels deep, against an equally deep schema: an issue, not a RangeError.
  let schema: JsonSchema = { type: 'string' };
  let value: unknown = 'x';
  for (let i = 0; i < 100_000; i++) {
    schema = { type: 'array', items: schema };
    value = [value];
  }
  const issues = validateJson(schema, value);
  t.is(issues.length, 1);
  t.is(issues[0]!.message, 'Nested more than 256 levels');
});

/** Sends raw bytes on a TCP connection and resolves with everything read until the server closes or `ms`. */
function rawHttp(port: number, data: Buffer | string, ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, ms);
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('close', done);
    s.on('error', done);
    s.write(data);
  });
}

const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);

test.serial('raw HTTP oddities: many headers, odd header bytes, Content-Length lies, a body on GET; the server lives on', async (t) => {
  const port = r.app.http.port;
  const key = t1.apiKey;
  // uWS takes at most 48 header lines (request line aside) and closes the connection, no answer,
  // on more: the client sees a reset, the engine nothing.
  const headers = (n: number) => Array.from({ length: n }, (_, i) => `x-h${i}: ${i}\r\n`).join('');
  const at48 = await rawHttp(port, `GET /api/v1/agents HTTP/1.1\r\nhost: a\r\nconnection: close\r\nx-api-key: ${key}\r\n${headers(45)}\r\n`);
  t.is(statusOf(at48), 200, at48.slice(0, 80));
  t.is(await rawHttp(port, `GET /api/v1/agents HTTP/1.1\r\nhost: a\r\nconnection: close\r\nx-api-key: ${key}\r\n${headers(500)}\r\n`), '');

  const odd = Buffer.concat([Buffer.from(`GET /api/v1/agents HTTP/1.1\r\nhost: a\r\nconnection: close\r\nx-api-key: ${key}\r\nx-odd: a`), Buffer.from([0x01, 0x7f, 0xff, 0xc0]), Buffer.from('\r\n\r\n')]);
  const oddRes = await rawHttp(port, odd);
  t.true(oddRes === '' || [200, 400].includes(statusOf(oddRes)), oddRes.slice(0, 80));

  // A bad API key made of odd bytes: 401 envelope.
  const oddKey = Buffer.concat([Buffer.from('GET /api/v1/agents HTTP/1.1\r\nhost: a\r\nconnection: close\r\nx-api-key: as_live_'), Buffer.from([0xff, 0xfe]), Buffer.from('\r\n\r\n')]);
  const oddKeyRes = await rawHttp(port, oddKey);
  t.true(oddKeyRes === '' || [400, 401].includes(statusOf(oddKeyRes)), oddKeyRes.slice(0, 80));

  // Content-Length larger than what is sent, then the client closes: no answer is owed, nothing stored.
  const before = agentCount();
  await rawHttp(port, `POST /api/v1/agents HTTP/1.1\r\nhost: a\r\nconnection: close\r\nx-api-key: ${key}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"name":"x"`, 300);
  // Content-Length smaller than what is sent: the rest is the next request (garbage): 4xx or close.
  const short = await rawHttp(port, `POST /api/v1/agents HTTP/1.1\r\nhost: a\r\nconnection: close\r\nx-api-key: ${key}\r\ncontent-type: application/json\r\ncontent-length: 5\r\n\r\n{"name":"x","config":{}}`);
  t.true(statusOf(short) === 422 || short === '', short.slice(0, 80));
  // A Content-Length that is not a number.
  const nan = await rawHttp(port, `POST /api/v1/agents HTTP/1.1\r\nhost: a\r\nconnection: close\r\nx-api-key: ${key}\r\ncontent-type: application/json\r\ncontent-length: abc\r\n\r\n{}`);
  t.true(nan === '' || [400, 422].includes(statusOf(nan)), nan.slice(0, 80));
  t.is(agentCount(), before);

  // A body on GET is ignored.
  const get = await rawHttp(port, `GET /api/v1/agents HTTP/1.1\r\nhost: a\r\nconnection: close\r\nx-api-key: ${key}\r\ncontent-length: 4\r\n\r\nnull`);
  t.is(statusOf(get), 200, get.slice(0, 80));

  t.is((await fetch(`${r.base}/api/v1/health/live`)).status, 200);
});

test.serial('WebSocket: a deep frame or one with __proto__ gets a validation_error frame and the connection stays; invalid UTF-8 fails it (RFC 6455 §8.1)', async (t) => {
  const ws = await WsClient.connect(r.app.http.port, t1.headers);
  t.teardown(() => ws.destroy());
  await ws.waitFor((f) => f.type === 'ready');
  ws.send(`{"type":"subscribe","id":1,"topics":${nestedArrays(500)}}`);
  t.deepEqual(await ws.waitFor((f) => f.type === 'error'), {
    type: 'error',
    id: null,
    error: { code: 'validation_error', message: 'JSON nested too deeply', details: [{ field: 'frame', message: `nested more than ${MAX_JSON_DEPTH} levels (limit MAX_JSON_DEPTH)` }] },
  });
  const from = ws.frames.length;
  ws.send('{"type":"ping","id":2,"__proto__":{"x":1}}');
  t.deepEqual(await ws.waitFor((f) => f.type === 'error', 5000, from), {
    type: 'error',
    id: null,
    error: { code: 'validation_error', message: 'Forbidden key', details: [{ field: 'frame', message: 'the key "__proto__" is not accepted' }] },
  });
  t.is((await ws.request({ type: 'ping' })).type, 'reply');
  ws.sendTextBytes(Buffer.from([0x22, 0xc3, 0x28, 0x22]));
  t.deepEqual(await ws.closed, { code: null, reason: 'socket closed' });
  t.is((await fetch(`${r.base}/api/v1/health/live`)).status, 200);
});

test.serial('an X-Request-Id with control or non-ASCII bytes is not echoed (ours is used); a clean one is', async (t) => {
  const port = r.app.http.port;
  const ask = (value: Buffer) =>
    rawHttp(port, Buffer.concat([Buffer.from('GET /api/v1/health/live HTTP/1.1\r\nhost: a\r\nconnection: close\r\nx-request-id: '), value, Buffer.from('\r\n\r\n')]));
  const idOf = (raw: string) => /\r\nx-request-id: ([^\r]*)\r\n/.exec(raw)?.[1];
  // uWS itself refuses control bytes in a header value (closes the connection, no answer).
  t.is(await ask(Buffer.from([0x61, 0x01, 0x62])), '');
  // uWS hands over a value cut at a non-ASCII byte ("a" of "a\xff\xfe"): visible ASCII either way.
  t.regex(idOf(await ask(Buffer.from([0x61, 0xff, 0xfe]))) ?? '', /^[\x20-\x7e]{1,128}$/);
  for (const bad of [Buffer.from('a\tb'), Buffer.from('x'.repeat(129))]) {
    const raw = await ask(bad);
    t.is(statusOf(raw), 200, raw.slice(0, 80));
    t.regex(idOf(raw) ?? '', /^[0-9a-f]{8}-[0-9a-z]+$/, JSON.stringify(bad.toString('latin1')));
  }
  t.is(idOf(await ask(Buffer.from('trace 42/abc'))), 'trace 42/abc');
});

test.serial('a tool parameter pattern with nested repetition (catastrophic backtracking) is refused; ordinary ones are kept', async (t) => {
  let n = 0;
  const tool = (pattern: string) =>
    JSON.stringify({ name: `pattern_${++n}`, parameters: { type: 'object', properties: { a: { type: 'string', pattern } } }, action: { type: 'builtin', name: 'hangup' } });
  // Against `^(a+)+$`, 26 characters of "a" and a "!" took over a second of a blocked event loop; 40, hours.
  for (const pattern of ['^(a+)+$', '(\\w*\\s?)*$', '(a+){2,}b', '(?:x+x+)+y']) {
    assertError(t, await send('POST', '/api/v1/tools', tool(pattern)), 'validation_error', 'Invalid request body', [
      { field: 'parameters.properties.a.pattern', message: 'Must not repeat a group that itself repeats (e.g. (a+)+): it can take exponential time' },
    ]);
  }
  for (const pattern of ['^[A-Z]{3}-\\d+$', '^(\\d{3})+$', '^(ab|cd)+$', '^(a+)?$']) t.is((await send('POST', '/api/v1/tools', tool(pattern))).status, 201, pattern);
});

test.serial('a query repeating one key 25,000 times is answered at once (it cost n² copies: seconds of blocked event loop)', async (t) => {
  // 100,000 bytes: about the longest request head uWS takes.
  const q = 'x=1&'.repeat(25_000);
  const t0 = performance.now();
  const res = await send('GET', `/api/v1/agents?${q}`);
  const ms = performance.now() - t0;
  t.log(`${q.length} B query, answered in ${ms.toFixed(0)} ms`);
  t.is(res.status, 200);
  t.true(ms < 1000, `took ${ms.toFixed(0)} ms`);
});
