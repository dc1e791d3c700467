import test from 'ava';
import { ProviderError } from '../../../../engine/agents/providers/contracts.js';
import { ElevenLabsTts, elevenLabsStreamUrl } from '../../../../engine/agents/providers/tts/elevenlabs.js';
import { g711Encode } from '../../../../media/audio/g711.js';
import { rms, sine } from '../../../../media/audio/tone.js';
import { fakeHttp, unevenPieces, writeSlowly, type FakeHttp, type Handler } from '../../../helpers/fake-http.js';
import '../../../helpers/allow-loopback.js';

const apiKey = 'el-test-key-0123456789';
const voiceId = 'JBFqnCBsd6RMkjVDRZzb';

async function serve(t: { teardown(fn: () => Promise<void>): void }, handler: Handler): Promise<FakeHttp> {
  const server = await fakeHttp(handler);
  t.teardown(() => server.close());
  return server;
}

const tts = (server: FakeHttp, extra: Partial<ConstructorParameters<typeof ElevenLabsTts>[0]> = {}) =>
  new ElevenLabsTts({ credential: { apiKey, baseUrl: server.base }, ...extra });

async function collect(provider: ElevenLabsTts, opts: { signal?: AbortSignal; language?: string } = {}) {
  const chunks: Int16Array[] = [];
  try {
    const req = { text: 'Hello there.', voiceId, signal: opts.signal ?? new AbortController().signal, language: opts.language };
    for await (const c of provider.synthesize(req)) chunks.push(c);
    return { chunks, error: null };
  } catch (error) {
    return { chunks, error: error as ProviderError };
  }
}

test('speaks the real protocol: μ-law 8 kHz streamed in pieces, decoded as it comes', async (t) => {
  let firstSeen!: () => void;
  const seen = new Promise<void>((r) => (firstSeen = r));
  let firstBeforeEnd = false;
  const ref = sine(1000, 1000, { amplitude: 0.5 });
  const server = await serve(t, async (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/basic' });
    const pieces = unevenPieces(g711Encode('PCMU', ref), 5);
    res.write(pieces[0]);
    firstBeforeEnd = await Promise.race([seen.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
    await writeSlowly(res, pieces.slice(1), 30);
    res.end();
  });
  const chunks: Int16Array[] = [];
  for await (const c of tts(server).synthesize({ text: 'Hello there.', voiceId, signal: new AbortController().signal })) {
    chunks.push(c);
    firstSeen();
  }
  t.true(firstBeforeEnd);
  const req = server.requests[0]!;
  t.is(req.method, 'POST');
  t.is(req.url, `/v1/text-to-speech/${voiceId}/stream?output_format=ulaw_8000`);
  t.is(req.headers['xi-api-key'], apiKey);
  t.is(req.headers.authorization, undefined);
  t.is(req.headers['content-type'], 'application/json');
  t.deepEqual(req.body, { text: 'Hello there.', model_id: 'eleven_flash_v2_5' });
  const total = chunks.reduce((n, c) => n + c.length, 0);
  t.is(total, 8000);
  const pcm = new Int16Array(total);
  chunks.reduce((at, c) => (pcm.set(c, at), at + c.length), 0);
  const level = 20 * Math.log10(rms(pcm) / rms(ref));
  t.true(Math.abs(level) < 0.5, `level ${level} dB`);
});

test('language and model: language_code from the request, model_id from the options; URLs', async (t) => {
  t.is(elevenLabsStreamUrl(null, 'a b'), 'https://api.elevenlabs.io/v1/text-to-speech/a%20b/stream?output_format=ulaw_8000');
  const server = await serve(t, (_req, res) => res.end(Buffer.alloc(160, 0xff)));
  const { error } = await collect(tts(server, { model: 'eleven_turbo_v2_5' }), { language: 'de-DE' });
  t.is(error, null);
  t.deepEqual(server.requests[0]!.body, { text: 'Hello there.', model_id: 'eleven_turbo_v2_5', language_code: 'de' });
});

for (const [status, code] of [
  [401, 'auth'],
  [429, 'rate_limited'],
  [422, 'http_error'],
] as const) {
  test(`HTTP ${status} is '${code}', the key never in the message`, async (t) => {
    const server = await serve(t, (_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ detail: { status: 'invalid', message: `bad key ${apiKey}` } }));
    });
    const { error } = await collect(tts(server));
    t.true(error instanceof ProviderError);
    t.is(error?.code, code);
    t.is(error?.status, status);
    t.is(error?.message, `elevenlabs: HTTP ${status}: {"detail":{"status":"invalid","message":"bad key [redacted]"}}`);
  });
}

test('first-byte and idle timeouts, a cut stream, and a closed port', async (t) => {
  const silent = await serve(t, () => undefined);
  t.is((await collect(tts(silent, { firstByteTimeoutMs: 200 }))).error?.code, 'timeout');
  const stall = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/basic' });
    res.write(Buffer.alloc(800, 0xff));
  });
  const stalled = await collect(tts(stall, { idleTimeoutMs: 200 }));
  t.is(stalled.error?.code, 'timeout');
  t.is(stalled.chunks.reduce((n, c) => n + c.length, 0), 800);
  const cut = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/basic', 'content-length': '8000' });
    res.write(Buffer.alloc(400, 0xff), () => setTimeout(() => res.socket?.destroy(), 50));
  });
  t.is((await collect(tts(cut))).error?.code, 'network');
  const closed = await fakeHttp(() => undefined);
  await closed.close();
  t.is((await collect(tts(closed))).error?.code, 'network');
});

test('a 200 with an empty body is a bad_response', async (t) => {
  const server = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/basic' });
    res.end();
  });
  t.is((await collect(tts(server))).error?.code, 'bad_response');
});

test('abort cancels the request: the server sees the connection close', async (t) => {
  const server = await serve(t, async (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/basic' });
    await writeSlowly(res, unevenPieces(Buffer.alloc(24000, 0xff), 30), 50);
    res.end();
  });
  const ac = new AbortController();
  let chunks = 0;
  for await (const _ of tts(server).synthesize({ text: 'Long.', voiceId, signal: ac.signal })) {
    if (++chunks === 1) ac.abort();
  }
  t.is(chunks, 1);
  const gone = await Promise.race([server.requests[0]!.clientGone.then(() => true), new Promise((r) => setTimeout(() => r(false), 2000))]);
  t.true(gone);
});
