import { Writable } from 'node:stream';
import test from 'ava';
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
