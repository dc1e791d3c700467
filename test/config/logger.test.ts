import { Writable } from 'node:stream';
import test from 'ava';
import fc from 'fast-check';
import { createLogger } from '../../config/logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger({ level: 'info', pretty: false }, dest), lines };
}

test('secrets never reach a log line: passwords, tokens, API keys, auth headers, SIP digest', (t) => {
  const { log, lines } = capture();
  log.info(
    {
      password: 'hunter2',
      apiKey: 'as_live_AAAA',
      user: { email: 'a@b.c', password: 'pw' },
      req: { headers: { authorization: 'Bearer x.y.z', 'x-api-key': 'as_live_BBBB', 'content-type': 'application/json' } },
      headers: { 'proxy-authorization': 'Digest username="u", response="r"' },
      session: { refreshToken: 'r.t.k', accessToken: 'a.t.k' },
    },
    'login',
  );
  const text = JSON.stringify(lines);
  for (const secret of ['hunter2', 'as_live_AAAA', '"pw"', 'Bearer x.y.z', 'as_live_BBBB', 'response="r"', 'r.t.k', 'a.t.k']) {
    t.false(text.includes(secret), `${secret} leaked: ${text}`);
  }
  t.like(lines[0], { msg: 'login', password: '[redacted]', user: { email: 'a@b.c', password: '[redacted]' } });
  t.is((lines[0]!.req as { headers: Record<string, string> }).headers['content-type'], 'application/json');
});

test('provider API keys are redacted at the depths the runtime holds them, and as a row', (t) => {
  const { log, lines } = capture();
  log.info({ apiKey: 'k0', provider: { kind: 'openai', apiKey: 'k1' }, agent: { llm: { apiKey: 'k2' } }, row: { api_key: 'k3' }, api_key: 'k4' }, 'provider');
  const text = JSON.stringify(lines);
  for (const k of ['"k0"', '"k1"', '"k2"', '"k3"', '"k4"']) t.false(text.includes(k), `${k} leaked: ${text}`);
  t.like(lines[0], { provider: { kind: 'openai', apiKey: '[redacted]' }, agent: { llm: { apiKey: '[redacted]' } } });
});

test('production logs are one JSON object per line with level, time and message', (t) => {
  const { log, lines } = capture();
  log.warn({ callId: 'c1' }, 'call state');
  t.like(lines[0], { level: 40, callId: 'c1', msg: 'call state' });
  t.regex(lines[0]!.time as string, /^\d{4}-\d\d-\d\dT/);
});

test('property: a secret field at any depth up to 4 never reaches the line, and other fields are kept (300 objects)', (t) => {
  const secretNames = ['password', 'secret', 'token', 'apiKey', 'api_key', 'refreshToken', 'accessToken', 'authorization', 'x-api-key', 'proxy-authorization'];
  const plainKey = fc.string({ minLength: 1, maxLength: 6 }).filter((k) => !secretNames.includes(k) && !['__proto__', 'constructor', 'level', 'time', 'pid', 'msg'].includes(k));
  // An object of plain fields, with one secret planted on a path of depth 1-4.
  const planted = fc.record({
    path: fc.array(plainKey, { minLength: 0, maxLength: 3 }),
    name: fc.constantFrom(...secretNames),
    other: fc.dictionary(plainKey, fc.oneof(fc.integer(), fc.constantFrom('a', 'b'))),
  });
  let n = 0;
  fc.assert(
    fc.property(planted, ({ path, name, other }) => {
      const { log, lines } = capture();
      const value = `SECRET-${n++}`;
      const obj: Record<string, unknown> = { ...other };
      let at = obj;
      for (const k of path) at = at[k] = { ...(typeof at[k] === 'object' ? (at[k] as object) : {}) };
      at[name] = value;
      log.info(obj, 'm');
      const line = JSON.stringify(lines[0]);
      if (line.includes(value)) return false;
      // Fields beside the secret at the top survive (unless on the secret's path).
      return Object.entries(other).every(([k, v]) => path[0] === k || (lines[0]![k] as unknown) === v);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('a child logger\'s bindings are censored too, and an object without secrets is logged as is', (t) => {
  const { log, lines } = capture();
  log.child({ callId: 'c1', auth: { token: 'tok-1' } }).info({ rtp: { packetsSent: 5 } }, 'x');
  t.false(JSON.stringify(lines).includes('tok-1'));
  t.like(lines[0], { callId: 'c1', auth: { token: '[redacted]' }, rtp: { packetsSent: 5 } });
});

test('a field that throws when read does not stop the log call: the line says its fields were not logged', (t) => {
  const { log, lines } = capture();
  const hostile = { ok: 1 } as Record<string, unknown>;
  Object.defineProperty(hostile, 'boom', { enumerable: true, get: () => { throw new TypeError('no'); } });
  t.notThrows(() => log.info({ a: hostile, token: 'tok-2' }, 'hostile'));
  t.false(JSON.stringify(lines).includes('tok-2'));
  t.like(lines[0], { msg: 'hostile', unloggable: 'fields not logged: reading them threw TypeError' });
});
