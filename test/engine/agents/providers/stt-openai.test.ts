import net from 'node:net';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import type { ProviderError, SttTranscript } from '../../../../engine/agents/providers/contracts.js';
import { VoiceActivity } from '../../../../media/audio/vad.js';
import { OpenAiStt, type OpenAiSttSettings, type OpenAiSttStream } from '../../../../engine/agents/providers/stt/openai.js';
import { fakeTranscription, type FakeTranscriptionOptions } from '../../../helpers/fake-transcription.js';
import { waitFor } from '../../../helpers/http.js';
import { sleep } from '../../../helpers/timing.js';
import { concat, frames, noise8k, silence8k, soundSpan, speech8k, trimmed } from '../../../helpers/speech.js';
import '../../../helpers/allow-loopback.js';

/** How long a wait for an event may take: the machine running the tests may be loaded many times over (this bounds nothing that is asserted). */
const patience = 20_000;
const key = 'sk-test-key';
const first = 'Hello, I would like to book a table.';
const second = 'For two people tomorrow at eight.';

async function server(t: ExecutionContext, opts: FakeTranscriptionOptions = {}) {
  const s = await fakeTranscription({ apiKey: key, ...opts });
  t.teardown(() => s.close());
  return s;
}

function open(t: ExecutionContext, baseUrl: string, opts: { apiKey?: string | null; settings?: OpenAiSttSettings; hints?: string[]; language?: string; model?: string } = {}) {
  const provider = new OpenAiStt({ apiKey: opts.apiKey === undefined ? key : opts.apiKey, baseUrl }, opts.settings);
  const abort = new AbortController();
  const stream: OpenAiSttStream = provider.open({ signal: abort.signal, hints: opts.hints, language: opts.language, model: opts.model });
  const transcripts: SttTranscript[] = [];
  const errors: ProviderError[] = [];
  stream.onTranscript((x) => transcripts.push(x));
  stream.onError((e) => errors.push(e));
  t.teardown(() => abort.abort());
  return { stream, transcripts, errors, abort };
}

/**
 * Audio pushed while the VAD loads waits in a 5 s buffer; a call pushes in real time, these
 * tests push seconds at once, so they wait for the stream to listen first.
 */
const listening = (stream: OpenAiSttStream) => waitFor(() => stream.state === 'listening', patience, 5);

/** Two sentences, apart by a second, with the times (ms) where each one's sound begins and ends. */
function conversation() {
  const a = trimmed(speech8k(first));
  const b = trimmed(speech8k(second));
  const pcm = concat(silence8k(500), a, silence8k(1000), b, silence8k(1000));
  const spans = [
    { start: 500, end: 500 + a.length / 8 },
    { start: 1500 + a.length / 8, end: 1500 + (a.length + b.length) / 8 },
  ];
  return { pcm, spans };
}

test('each utterance is uploaded as an 8 kHz mono 16-bit WAV of the spoken segment, with the fields, and comes back as an end of turn', async (t) => {
  const fake = await server(t, { texts: [first, second] });
  const { stream, transcripts, errors } = open(t, fake.url, { hints: ['Acme', ' table '], language: 'en' });
  await listening(stream);
  const { pcm, spans } = conversation();
  for (const f of frames(pcm)) stream.push(f);
  await waitFor(() => transcripts.length === 2, patience);
  t.deepEqual(transcripts, [
    { text: first, final: true, endOfTurn: true },
    { text: second, final: true, endOfTurn: true },
  ]);
  t.is(fake.uploads.length, 2);
  fake.uploads.forEach((u, i) => {
    t.is(u.authorization, `Bearer ${key}`);
    t.deepEqual(u.fields, { model: 'gpt-4o-mini-transcribe', language: 'en', prompt: 'Acme, table', response_format: 'json' });
    t.is(u.file!.contentType, 'audio/wav');
    t.is(u.file!.wav.sampleRate, 8000);
    t.is(u.file!.wav.channels, 1);
    // The segment: 200 ms before the sound to 200 ms after it (VAD frames are 20 ms; flite's
    // soft edges are under the RMS threshold that measured the span).
    const spoken = spans[i]!.end - spans[i]!.start;
    const got = u.file!.wav.samples.length / 8;
    t.log(`utterance ${i + 1}: ${spoken.toFixed(0)} ms of sound, ${got} ms uploaded`);
    t.true(got >= spoken + 300 && got <= spoken + 560, `${got} ms uploaded for ${spoken} ms of sound`);
    // And it is that audio: the loudest part of the upload is the sentence's.
    const span = soundSpan(u.file!.wav.samples)!;
    t.true(Math.abs(span.start / 8 - 200) <= 60, `sound starts ${span.start / 8} ms into the upload`);
  });
  t.deepEqual(errors, []);
  t.deepEqual(stream.stats, { utterances: 2, uploads: 2, emptyTexts: 0 });
});

test('silence and a faint line upload nothing; an empty text emits nothing', async (t) => {
  const fake = await server(t, { texts: ['', '  '] });
  const { stream, transcripts, errors } = open(t, fake.url);
  await listening(stream);
  for (const f of frames(concat(silence8k(2000), noise8k(3000, 100)))) stream.push(f);
  await sleep(200);
  t.is(fake.uploads.length, 0);
  for (const f of frames(conversation().pcm)) stream.push(f);
  await waitFor(() => stream.stats.emptyTexts === 2, patience);
  t.deepEqual(transcripts, []);
  t.deepEqual(errors, []);
});

test('transcripts come out in spoken order even when the first answer is slower', async (t) => {
  const fake = await server(t, { answer: (_u, i) => ({ body: { text: [first, second][i] }, delayMs: i === 0 ? 600 : 0 }) });
  const { stream, transcripts } = open(t, fake.url);
  await listening(stream);
  for (const f of frames(conversation().pcm)) stream.push(f);
  await waitFor(() => transcripts.length === 2, patience);
  t.deepEqual(transcripts.map((x) => x.text), [first, second]);
});

test('a listener that throws is logged, and the stream goes on', async (t) => {
  const fake = await server(t, { texts: [first, second] });
  const warnings: string[] = [];
  const provider = new OpenAiStt({ apiKey: key, baseUrl: fake.url }, { logger: { warn: (_o: object, msg: string) => warnings.push(msg) } as never });
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const stream = provider.open({ signal: abort.signal });
  const texts: string[] = [];
  stream.onTranscript((x) => {
    texts.push(x.text);
    if (texts.length === 1) throw new Error('runtime bug');
  });
  await listening(stream);
  for (const f of frames(conversation().pcm)) stream.push(f);
  await waitFor(() => texts.length === 2, patience);
  t.deepEqual(texts, [first, second]);
  t.deepEqual(warnings, ['openai stt transcript listener threw']);
  t.is(stream.state, 'listening');
});

test('unbroken speech is uploaded in pieces of maxUtteranceMs', async (t) => {
  const fake = await server(t, { texts: ['a', 'b', 'c', 'd', 'e', 'f'] });
  const { stream, transcripts } = open(t, fake.url, { settings: { maxUtteranceMs: 1000 } });
  await listening(stream);
  const pcm = concat(silence8k(300), trimmed(speech8k('This sentence is long enough to be cut into several pieces of one second.')), silence8k(1000));
  for (const f of frames(pcm)) stream.push(f);
  await sleep(100);
  await waitFor(() => stream.stats.uploads === fake.uploads.length && transcripts.length === fake.uploads.length, patience);
  const lengths = fake.uploads.map((u) => u.file!.wav.samples.length / 8);
  // What the VAD calls speech: from the first frame of the voiced run that started it to the
  // last voiced frame before the end silence.
  const vad = await VoiceActivity.create();
  t.teardown(() => vad.close());
  let startMs = 0;
  let endMs = 0;
  frames(pcm).forEach((f, i) => {
    const e = vad.push(f);
    if (e === 'speech_start') startMs = (i + 1) * 20 - vad.startMs;
    if (e === 'speech_end') endMs = (i + 1) * 20 - vad.endSilenceMs;
  });
  t.log(`${endMs - startMs} ms of speech uploaded as ${lengths.join(', ')} ms`);
  t.true(lengths.length >= 4);
  t.true(lengths.slice(0, -1).every((ms) => ms === 1000));
  t.true(lengths.at(-1)! <= 1000);
  // Nothing lost between pieces: they add up to the speech with its pre- and post-roll (the
  // last full piece may also hold some of the end silence).
  const total = lengths.reduce((a, b) => a + b, 0);
  t.true(total >= endMs - startMs + 400 && total <= endMs - startMs + 200 + vad.endSilenceMs, `${total} ms in all`);
  // A piece that ends inside the end silence leaves only silence for speech_end: not uploaded.
  const tail = await server(t, { answer: () => ({ body: { text: 'piece' } }) });
  const cut = open(t, tail.url, { settings: { maxUtteranceMs: 200 + endMs - startMs + 300 } });
  await listening(cut.stream);
  for (const f of frames(pcm)) cut.stream.push(f);
  await sleep(300);
  await waitFor(() => cut.transcripts.length === tail.uploads.length, patience);
  t.deepEqual(tail.uploads.map((u) => u.file!.wav.samples.length / 8), [200 + endMs - startMs + 300]);
});

test('401 is one auth error (a second utterance does not report again), and the stream stops uploading', async (t) => {
  const fake = await server(t);
  const { stream, transcripts, errors } = open(t, fake.url, { apiKey: 'sk-wrong' });
  await listening(stream);
  const { pcm } = conversation();
  for (const f of frames(pcm)) stream.push(f);
  await waitFor(() => errors.length, patience);
  await sleep(200);
  t.is(errors.length, 1);
  t.like(errors[0], { provider: 'openai', code: 'auth', status: 401 });
  t.notRegex(errors[0]!.message, /sk-/);
  t.is(stream.state, 'failed');
  const uploadsAtFailure = fake.uploads.length;
  for (const f of frames(pcm)) stream.push(f);
  await sleep(100);
  t.is(fake.uploads.length, uploadsAtFailure);
  t.deepEqual(transcripts, []);
});

test('429 is rate_limited, 500 http_error with the service message, garbage bad_response', async (t) => {
  const cases: [string, FakeTranscriptionOptions['answer'], ProviderError['code'], RegExp][] = [
    ['429', () => ({ status: 429, body: { error: { message: 'Rate limit reached', type: 'requests' } } }), 'rate_limited', /429: Rate limit reached/],
    ['500', () => ({ status: 500, body: { error: { message: 'The server had an error' } } }), 'http_error', /500: The server had an error/],
    ['502 text', () => ({ status: 502, body: '<html>Bad gateway</html>' }), 'http_error', /answered 502$/],
    ['not JSON', () => ({ body: 'hello' }), 'bad_response', /not JSON/],
    ['no text', () => ({ body: { transcript: 'hello' } }), 'bad_response', /no text/],
    ['text not a string', () => ({ body: { text: 42 } }), 'bad_response', /no text/],
    ['huge', () => ({ body: 'x'.repeat(2 << 20) }), 'bad_response', /larger than/],
  ];
  for (const [what, answer, code, message] of cases) {
    const fake = await server(t, { answer });
    const { stream, errors, transcripts } = open(t, fake.url);
    await listening(stream);
    for (const f of frames(conversation().pcm)) stream.push(f);
    await waitFor(() => errors.length, patience);
    await sleep(50);
    t.is(errors.length, 1, what);
    t.is(errors[0]!.code, code, what);
    t.regex(errors[0]!.message, message, what);
    t.deepEqual(transcripts, [], what);
  }
});

test('no answer within timeoutMs is a timeout, and the request is abandoned', async (t) => {
  const fake = await server(t, { answer: () => ({ body: { text: 'late' }, delayMs: 5000 }) });
  const { stream, errors, transcripts } = open(t, fake.url, { settings: { timeoutMs: 400 } });
  await listening(stream);
  const audio = frames(concat(silence8k(300), trimmed(speech8k(first)), silence8k(800)));
  // Before the pushes: the upload (and its timeout) starts inside this loop, at the end of
  // speech, with frames of silence still to push (a preemption there would shorten a span
  // measured from after the loop).
  const pushedAt = performance.now();
  for (const f of audio) stream.push(f);
  await waitFor(() => errors.length, patience);
  const took = performance.now() - pushedAt;
  t.like(errors, [{ code: 'timeout' }]);
  t.true(took >= 380 && took < 3000, `${took.toFixed(0)} ms`);
  await waitFor(() => fake.uploads[0]?.aborted, patience);
  t.deepEqual(transcripts, []);
});

test('no server is a network error', async (t) => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const { stream, errors } = open(t, `http://127.0.0.1:${port}/v1`);
  for (const f of frames(conversation().pcm)) stream.push(f);
  await waitFor(() => errors.length, patience);
  t.like(errors, [{ code: 'network' }]);
  t.regex(errors[0]!.message, /ECONNREFUSED/);
});

test('abort drops the utterance in progress and aborts the upload under way: the server sees it, nothing is reported', async (t) => {
  const fake = await server(t, { answer: () => ({ body: { text: 'never' }, delayMs: 3000 }) });
  const { stream, errors, transcripts, abort } = open(t, fake.url);
  await listening(stream);
  const { pcm, spans } = conversation();
  // The first sentence is uploaded; the second is being spoken when the call ends.
  for (const f of frames(pcm.subarray(0, (spans[1]!.start + 500) * 8))) stream.push(f);
  await waitFor(() => fake.uploads.length === 1, patience);
  abort.abort();
  t.is(stream.state, 'closed');
  await waitFor(() => fake.uploads[0]!.aborted, patience);
  for (const f of frames(pcm)) stream.push(f);
  await sleep(300);
  t.is(fake.uploads.length, 1);
  t.deepEqual(errors, []);
  t.deepEqual(transcripts, []);
});

const runs = 12;
test(`property: the same audio in any chunking gives the same uploads, and push never throws (${runs} runs)`, async (t) => {
  const fake = await server(t, { answer: () => ({ body: { text: 'ok' } }) });
  const pcm = concat(silence8k(200), trimmed(speech8k('Yes please.')), silence8k(700), trimmed(speech8k('Thank you.')), silence8k(700));
  const reference = open(t, fake.url);
  await listening(reference.stream);
  for (const f of frames(pcm)) reference.stream.push(f);
  await waitFor(() => reference.transcripts.length === 2, patience);
  const expected = fake.uploads.map((u) => Buffer.from(u.file!.wav.samples.buffer).toString('base64'));
  let chunks = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 700 }), { minLength: 1, maxLength: 30 }), async (sizes) => {
      const before = fake.uploads.length;
      const { stream, transcripts, errors } = open(t, fake.url);
      await listening(stream);
      for (let at = 0, i = 0; at < pcm.length; i++) {
        const n = sizes[i % sizes.length]!;
        stream.push(pcm.subarray(at, at + n));
        at += n;
        chunks++;
      }
      // Whatever its length, the last partial frame is not heard until it is whole.
      stream.push(new Int16Array(160 - ((pcm.length % 160) || 160)));
      await waitFor(() => transcripts.length === 2 || errors.length > 0, patience, 5);
      stream.close();
      const got = fake.uploads.slice(before).map((u) => Buffer.from(u.file!.wav.samples.buffer).toString('base64'));
      return errors.length === 0 && JSON.stringify(got) === JSON.stringify(expected);
    }),
    { numRuns: runs },
  );
  t.log(`${runs} runs, ${chunks} pushes of 0-700 samples`);
  t.pass();
});
