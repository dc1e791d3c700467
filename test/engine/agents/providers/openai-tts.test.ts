import test from 'ava';
import { ProviderError, type TtsProvider } from '../../../../engine/agents/providers/contracts.js';
import { OpenAiTts, openAiSpeechUrl } from '../../../../engine/agents/providers/tts/openai.js';
import { rms, sine } from '../../../../media/audio/tone.js';
import { fakeHttp, unevenPieces, writeSlowly, type FakeHttp, type Handler } from '../../../helpers/fake-http.js';
import '../../../helpers/allow-loopback.js';

const apiKey = 'sk-test-0123456789abcdef';

/** 24 kHz PCM of a 1 kHz tone, as the `pcm` format sends it (little-endian). */
const tone24k = (ms: number) => new Uint8Array(sine(1000, ms, { rate: 24000, amplitude: 0.5 }).buffer);

async function serve(t: { teardown(fn: () => Promise<void>): void }, handler: Handler): Promise<FakeHttp> {
  const server = await fakeHttp(handler);
  t.teardown(() => server.close());
  return server;
}

const tts = (server: FakeHttp, extra: Partial<ConstructorParameters<typeof OpenAiTts>[0]> = {}) =>
  new OpenAiTts({ credential: { apiKey, baseUrl: `${server.base}/v1` }, ...extra });

/** Runs a synthesis to the end: the chunks, or the error. */
async function collect(provider: TtsProvider, signal = new AbortController().signal, text = 'Hello there.') {
  const chunks: Int16Array[] = [];
  try {
    for await (const c of provider.synthesize({ text, voiceId: 'alloy', signal })) chunks.push(c);
    return { chunks, error: null };
  } catch (error) {
    return { chunks, error: error as ProviderError };
  }
}

const join = (chunks: Int16Array[]) => {
  const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((at, c) => (out.set(c, at), at + c.length), 0);
  return out;
};

test('speaks the real protocol and streams: the first chunk is played before the server has finished', async (t) => {
  let firstSeen!: () => void;
  const seen = new Promise<void>((r) => (firstSeen = r));
  let firstBeforeEnd = false;
  const audio = tone24k(1000);
  const server = await serve(t, async (req, res) => {
    res.writeHead(200, { 'content-type': 'audio/pcm', 'transfer-encoding': 'chunked' });
    const pieces = unevenPieces(audio, 6);
    res.write(pieces[0]);
    // The rest waits until the consumer has the first chunk (or 3 s: a buffering client fails).
    firstBeforeEnd = await Promise.race([seen.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
    await writeSlowly(res, pieces.slice(1), 30);
    res.end();
  });
  const chunks: Int16Array[] = [];
  for await (const c of tts(server).synthesize({ text: 'Hello there.', voiceId: 'nova', signal: new AbortController().signal })) {
    chunks.push(c);
    firstSeen();
  }
  t.true(firstBeforeEnd, 'the first chunk reached the consumer before the server finished');
  t.true(chunks.length >= 3, `${chunks.length} chunks`);
  const req = server.requests[0]!;
  t.is(req.method, 'POST');
  t.is(req.url, '/v1/audio/speech');
  t.is(req.headers.authorization, `Bearer ${apiKey}`);
  t.is(req.headers['content-type'], 'application/json');
  t.deepEqual(req.body, { model: 'gpt-4o-mini-tts', input: 'Hello there.', voice: 'nova', response_format: 'pcm' });
  // 1 s at 24 kHz is 1 s at 8 kHz, the tone's level kept.
  const pcm = join(chunks);
  t.is(pcm.length, 8000);
  const level = 20 * Math.log10(rms(pcm.subarray(800, 7200)) / rms(sine(1000, 800, { amplitude: 0.5 })));
  t.true(Math.abs(level) < 1, `level ${level} dB`);
});

test('the model is configurable, and the default base URL is OpenAI v1', async (t) => {
  t.is(openAiSpeechUrl(null), 'https://api.openai.com/v1/audio/speech');
  t.is(openAiSpeechUrl('http://127.0.0.1:9/v1/'), 'http://127.0.0.1:9/v1/audio/speech');
  const server = await serve(t, (_req, res) => res.end(Buffer.from(tone24k(100))));
  await collect(tts(server, { model: 'tts-1' }));
  t.is((server.requests[0]!.body as { model: string }).model, 'tts-1');
});

for (const [status, code] of [
  [401, 'auth'],
  [403, 'auth'],
  [429, 'rate_limited'],
  [500, 'http_error'],
  [400, 'http_error'],
] as const) {
  test(`HTTP ${status} is a ProviderError '${code}' with the status and an excerpt of the body, never the key`, async (t) => {
    const server = await serve(t, (_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${apiKey}. ${'x'.repeat(500)}` } }));
    });
    const { error } = await collect(tts(server));
    t.true(error instanceof ProviderError);
    t.is(error?.code, code);
    t.is(error?.status, status);
    t.regex(error?.message ?? '', new RegExp(`^openai: HTTP ${status}: \\{"error":\\{"message":"Incorrect API key provided: \\[redacted\\]`));
    t.false(error?.message.includes(apiKey));
    t.true((error?.message.length ?? 0) < 260, `message of ${error?.message.length} characters`);
  });
}

test('no API key is an auth error before any request', async (t) => {
  const server = await serve(t, (_req, res) => res.end());
  const { error } = await collect(new OpenAiTts({ credential: { apiKey: null, baseUrl: server.base } }));
  t.is(error?.code, 'auth');
  t.is(server.requests.length, 0);
});

test('a 200 with JSON instead of audio is a bad_response', async (t) => {
  const server = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"error":"oops"}');
  });
  const { error } = await collect(tts(server));
  t.is(error?.code, 'bad_response');
});

test('a server that never answers: timeout after the first-byte limit', async (t) => {
  const server = await serve(t, () => undefined);
  const t0 = Date.now();
  // 1 s: on a loaded machine the request itself may take a few hundred ms to reach the server.
  const { error } = await collect(tts(server, { firstByteTimeoutMs: 1000 }));
  const ms = Date.now() - t0;
  t.is(error?.code, 'timeout');
  t.is(error?.message, 'openai: no audio within 1000 ms');
  t.true(ms >= 990 && ms < 5000, `${ms} ms`);
  t.is(server.requests.length, 1);
  await server.requests[0]!.clientGone;
});

test('a stream that stalls mid-way: timeout after the idle limit, audio so far delivered', async (t) => {
  const server = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/pcm' });
    res.write(tone24k(500));
  });
  const { chunks, error } = await collect(tts(server, { idleTimeoutMs: 300 }));
  t.is(error?.code, 'timeout');
  t.regex(error?.message ?? '', /no further audio within 300 ms/);
  t.true(chunks.length >= 1);
  await server.requests[0]!.clientGone;
});

test('nobody listening on the port: network', async (t) => {
  const server = await fakeHttp(() => undefined);
  await server.close();
  const { error } = await collect(tts(server));
  t.is(error?.code, 'network');
  t.regex(error?.message ?? '', /ECONNREFUSED/);
});

test('a connection cut mid-stream: network, not a silent short answer', async (t) => {
  const server = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/pcm', 'content-length': '48000' });
    res.write(tone24k(200), () => setTimeout(() => res.socket?.destroy(), 50));
  });
  const { chunks, error } = await collect(tts(server));
  t.is(error?.code, 'network');
  t.regex(error?.message ?? '', /audio stream cut after 9600 bytes/);
  t.true(chunks.length >= 1);
});

test('abort ends the iteration quietly and closes the connection (the server sees it)', async (t) => {
  const server = await serve(t, async (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/pcm' });
    await writeSlowly(res, unevenPieces(tone24k(3000), 30), 50);
    res.end();
  });
  const ac = new AbortController();
  let chunks = 0;
  for await (const _ of tts(server).synthesize({ text: 'A long story.', voiceId: 'alloy', signal: ac.signal })) {
    if (++chunks === 2) ac.abort();
  }
  t.is(chunks, 2);
  const gone = await Promise.race([server.requests[0]!.clientGone.then(() => true), new Promise((r) => setTimeout(() => r(false), 2000))]);
  t.true(gone, 'the server saw the connection close');
});

test('a consumer that stops iterating also closes the connection', async (t) => {
  const server = await serve(t, async (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/pcm' });
    await writeSlowly(res, unevenPieces(tone24k(3000), 30), 50);
    res.end();
  });
  for await (const _ of tts(server).synthesize({ text: 'A long story.', voiceId: 'alloy', signal: new AbortController().signal })) break;
  const gone = await Promise.race([server.requests[0]!.clientGone.then(() => true), new Promise((r) => setTimeout(() => r(false), 2000))]);
  t.true(gone);
});
