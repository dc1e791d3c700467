import test from 'ava';
import type { ProviderError } from '../../../../engine/agents/providers/contracts.js';
import { CachedTts } from '../../../../engine/agents/providers/tts/cache.js';
import { OpenAiTts } from '../../../../engine/agents/providers/tts/openai.js';
import { sine } from '../../../../media/audio/tone.js';
import { fakeHttp, unevenPieces, writeSlowly, type FakeHttp, type Handler } from '../../../helpers/fake-http.js';
import '../../../helpers/allow-loopback.js';

/** 24 kHz PCM as OpenAI's `pcm` format: `ms` of a tone, so 8 kHz output is ms × 16 bytes. */
const audio = (ms: number) => new Uint8Array(sine(700, ms, { rate: 24000, amplitude: 0.3 }).buffer);

async function serve(t: { teardown(fn: () => Promise<void>): void }, handler: Handler): Promise<FakeHttp> {
  const server = await fakeHttp(handler);
  t.teardown(() => server.close());
  return server;
}

/** Streams `ms` of audio in 5 pieces, 40 ms apart. */
const speaking =
  (ms: number): Handler =>
  async (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/pcm' });
    await writeSlowly(res, unevenPieces(audio(ms), 5), 40);
    res.end();
  };

const openai = (server: FakeHttp) => new OpenAiTts({ credential: { apiKey: 'k', baseUrl: server.base } });

async function say(tts: CachedTts, text: string, opts: { voiceId?: string; language?: string; signal?: AbortSignal } = {}) {
  const chunks: Int16Array[] = [];
  try {
    for await (const c of tts.synthesize({ text, voiceId: opts.voiceId ?? 'alloy', language: opts.language, signal: opts.signal ?? new AbortController().signal })) {
      chunks.push(c);
    }
    return { samples: chunks.reduce((n, c) => n + c.length, 0), chunks, error: null };
  } catch (error) {
    return { samples: 0, chunks, error: error as ProviderError };
  }
}

test('a second identical request is served from the cache, the server never asked', async (t) => {
  const server = await serve(t, speaking(500));
  const tts = new CachedTts(openai(server));
  t.is(tts.name, 'openai');
  const first = await say(tts, 'Welcome to the clinic.');
  const second = await say(tts, 'Welcome to the clinic.');
  t.is(server.requests.length, 1);
  t.is(first.samples, 4000);
  t.is(second.samples, 4000);
  t.deepEqual(second.chunks.map((c) => [...c]).flat(), first.chunks.map((c) => [...c]).flat());
  t.deepEqual(tts.stats, { hits: 1, misses: 1, shared: 0, entries: 1, bytes: 8000 });
  // A cached chunk is a copy: changing what was played does not change the cache.
  second.chunks[0]!.fill(0);
  const third = await say(tts, 'Welcome to the clinic.');
  t.deepEqual([...third.chunks[0]!], [...first.chunks[0]!]);
});

test('voice, language and text are each part of the key', async (t) => {
  const server = await serve(t, speaking(100));
  const tts = new CachedTts(openai(server));
  await say(tts, 'Hi.');
  await say(tts, 'Hi.', { voiceId: 'nova' });
  await say(tts, 'Hi.', { language: 'fr' });
  await say(tts, 'Hi!');
  t.is(server.requests.length, 4);
  t.is(tts.stats.misses, 4);
});

test('concurrent identical requests share one synthesis, each getting the whole audio', async (t) => {
  const server = await serve(t, speaking(500));
  const tts = new CachedTts(openai(server));
  const results = await Promise.all([say(tts, 'Please hold.'), say(tts, 'Please hold.'), say(tts, 'Please hold.')]);
  t.is(server.requests.length, 1);
  t.deepEqual(results.map((r) => r.samples), [4000, 4000, 4000]);
  t.like(tts.stats, { misses: 1, shared: 2, entries: 1 });
});

test('a failed synthesis is not stored: every follower gets the ProviderError, the next request tries again', async (t) => {
  let calls = 0;
  const server = await serve(t, (_req, res) => {
    if (++calls === 1) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('overloaded');
    } else speaking(100)(_req, res);
  });
  const tts = new CachedTts(openai(server));
  const failed = await Promise.all([say(tts, 'Hello.'), say(tts, 'Hello.')]);
  t.deepEqual(failed.map((f) => f.error?.code), ['http_error', 'http_error']);
  t.is(tts.stats.entries, 0);
  const ok = await say(tts, 'Hello.');
  t.is(ok.error, null);
  t.is(ok.samples, 800);
  t.is(server.requests.length, 2);
});

test('an abandoned synthesis is not stored, and the server sees it cancelled once nobody listens', async (t) => {
  const server = await serve(t, speaking(2000));
  const tts = new CachedTts(openai(server));
  const a = new AbortController();
  const b = new AbortController();
  const stopAfterFirst = async (ac: AbortController) => {
    for await (const _ of tts.synthesize({ text: 'Long answer.', voiceId: 'alloy', signal: ac.signal })) ac.abort();
  };
  // One follower leaves; the other keeps the synthesis alive until it leaves too.
  const follower = say(tts, 'Long answer.', { signal: b.signal });
  await stopAfterFirst(a);
  b.abort();
  await follower;
  const gone = await Promise.race([server.requests[0]!.clientGone.then(() => true), new Promise((r) => setTimeout(() => r(false), 2000))]);
  t.true(gone, 'the server saw the request cancelled');
  t.is(tts.stats.entries, 0);
  const again = await say(tts, 'Long answer.');
  t.is(again.samples, 16000);
  t.is(server.requests.length, 2);
  t.is(tts.stats.entries, 1);
});

test('the LRU keeps the total under its byte bound, evicting the least recently used', async (t) => {
  const server = await serve(t, speaking(100)); // 800 samples, 1600 bytes each
  const tts = new CachedTts(openai(server), { maxBytes: 3500 });
  await say(tts, 'one');
  await say(tts, 'two');
  await say(tts, 'one'); // 'one' is now the most recent
  await say(tts, 'three'); // 4800 bytes > 3500: 'two' goes
  t.like(tts.stats, { entries: 2, bytes: 3200 });
  const before = server.requests.length;
  await say(tts, 'one');
  await say(tts, 'three');
  t.is(server.requests.length, before);
  await say(tts, 'two');
  t.is(server.requests.length, before + 1);
  // A result larger than the whole cache is not stored at all.
  const small = new CachedTts(openai(server), { maxBytes: 1000 });
  await say(small, 'one');
  t.like(small.stats, { entries: 0, bytes: 0 });
});
