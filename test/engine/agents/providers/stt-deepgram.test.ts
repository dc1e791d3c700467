import net from 'node:net';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { ProviderError, type SttTranscript } from '../../../../engine/agents/providers/contracts.js';
import { DeepgramStt, type DeepgramSettings, type DeepgramStream } from '../../../../engine/agents/providers/stt/deepgram.js';
import { fakeDeepgram, type FakeDeepgramOptions } from '../../../helpers/fake-deepgram.js';
import { waitFor } from '../../../helpers/http.js';
import { sleep } from '../../../helpers/timing.js';
import { concat, frames, silence8k, speech8k } from '../../../helpers/speech.js';
import '../../../helpers/allow-loopback.js';

/** How long a wait for an event may take: the machine running the tests may be loaded many times over (this bounds nothing that is asserted). */
const patience = 20_000;
const key = 'dg-test-key';

interface Opened {
  stream: DeepgramStream;
  transcripts: SttTranscript[];
  errors: ProviderError[];
  abort: AbortController;
}

async function server(t: ExecutionContext, opts: FakeDeepgramOptions = {}) {
  const s = await fakeDeepgram({ apiKey: key, ...opts });
  t.teardown(() => s.close());
  return s;
}

function open(t: ExecutionContext, baseUrl: string, opts: { apiKey?: string | null; settings?: DeepgramSettings; hints?: string[]; language?: string; endSilenceMs?: number } = {}): Opened {
  // A loaded machine may take seconds to open a loopback socket: tests of other things allow it.
  const provider = new DeepgramStt({ apiKey: opts.apiKey === undefined ? key : opts.apiKey, baseUrl }, { connectTimeoutMs: patience, ...opts.settings });
  const abort = new AbortController();
  const stream = provider.open({ signal: abort.signal, hints: opts.hints, language: opts.language, endSilenceMs: opts.endSilenceMs });
  const transcripts: SttTranscript[] = [];
  const errors: ProviderError[] = [];
  stream.onTranscript((x) => transcripts.push(x));
  stream.onError((e) => errors.push(e));
  t.teardown(() => abort.abort());
  return { stream, transcripts, errors, abort };
}

/** The client's side of the upgrade is done (the server's may be done a little earlier). */
const opened = (stream: DeepgramStream) => waitFor(() => stream.state === 'open', patience, 5);

test('the socket asks for 8 kHz linear16 with the options, sends the Token, and every pushed byte arrives', async (t) => {
  const dg = await server(t);
  const conn = dg.nextConnection();
  const { stream, errors } = open(t, dg.url, { hints: ['Acme', ' refund policy ', ''], language: 'en-US', endSilenceMs: 450 });
  const c = await conn;
  const q = Object.fromEntries(c.query);
  t.deepEqual(q, {
    encoding: 'linear16',
    sample_rate: '8000',
    channels: '1',
    interim_results: 'true',
    endpointing: '450',
    utterance_end_ms: '1000',
    vad_events: 'true',
    smart_format: 'true',
    model: 'nova-2',
    language: 'en-US',
    keywords: 'refund policy',
  });
  t.deepEqual(c.query.getAll('keywords'), ['Acme', 'refund policy']);
  const audio = speech8k('Hello there.');
  let pushed = 0;
  // 20 ms frames plus odd sizes: all of it must arrive, in order, in ~100 ms messages.
  for (const f of frames(audio)) {
    stream.push(f);
    pushed += f.byteLength;
  }
  stream.push(Int16Array.of(1, 2, 3));
  pushed += 6;
  await waitFor(() => c.audioBytes >= pushed - 1600, patience);
  stream.close();
  await waitFor(() => c.closed, patience);
  t.is(c.audioBytes, pushed);
  t.is(stream.stats.sentBytes, pushed);
  t.deepEqual(c.controls.map((x) => x.type), ['CloseStream']);
  t.is(c.controls[0]!.atBytes, pushed, 'CloseStream after the last audio');
  t.true(c.closed!.byClient || c.closed!.code === 1000);
  t.is(stream.state, 'closed');
  t.deepEqual(errors, []);
});

test('interim, final and end of turn: each transcript is the turn so far, UtteranceEnd ends a turn that speech_final did not', async (t) => {
  const dg = await server(t);
  const conn = dg.nextConnection();
  const { transcripts, errors } = open(t, dg.url);
  const c = await conn;
  c.send({ type: 'Metadata', request_id: 'x' });
  c.send({ type: 'SpeechStarted', channel: [0, 1], timestamp: 0.2 });
  c.results('I would');
  c.results('I would like');
  c.results('I would like a table.', { is_final: true });
  c.results('For', {});
  c.results('For two.', { is_final: true, speech_final: true });
  // Silence: Deepgram sends empty finals; they are no news.
  c.results('', { is_final: true });
  c.results('', { is_final: true, speech_final: true });
  c.utteranceEnd();
  // A turn whose end only UtteranceEnd saw.
  c.results('Tomorrow', {});
  c.results('Tomorrow at eight.', { is_final: true });
  c.results('', { is_final: true, speech_final: false });
  c.utteranceEnd();
  c.results('Thanks', {});
  await waitFor(() => transcripts.length >= 8, patience);
  await sleep(100);
  t.deepEqual(transcripts, [
    { text: 'I would', final: false, endOfTurn: false },
    { text: 'I would like', final: false, endOfTurn: false },
    { text: 'I would like a table.', final: true, endOfTurn: false },
    { text: 'I would like a table. For', final: false, endOfTurn: false },
    { text: 'I would like a table. For two.', final: true, endOfTurn: true },
    { text: 'Tomorrow', final: false, endOfTurn: false },
    { text: 'Tomorrow at eight.', final: true, endOfTurn: false },
    { text: 'Tomorrow at eight.', final: true, endOfTurn: true },
    { text: 'Thanks', final: false, endOfTurn: false },
  ]);
  t.deepEqual(errors, []);
});

test('a listener that throws is logged, and the stream goes on', async (t) => {
  const dg = await server(t);
  const conn = dg.nextConnection();
  const warnings: string[] = [];
  const provider = new DeepgramStt({ apiKey: key, baseUrl: dg.url }, { connectTimeoutMs: patience, logger: { warn: (_o: object, msg: string) => warnings.push(msg) } as never });
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const stream = provider.open({ signal: abort.signal });
  const texts: string[] = [];
  stream.onTranscript((x) => {
    texts.push(x.text);
    if (texts.length === 1) throw new Error('runtime bug');
  });
  const c = await conn;
  c.results('One.', { is_final: true, speech_final: true });
  c.results('Two.', { is_final: true, speech_final: true });
  await waitFor(() => texts.length === 2, patience);
  t.deepEqual(texts, ['One.', 'Two.']);
  t.deepEqual(warnings, ['deepgram transcript listener threw']);
  t.is(stream.state, 'open');
});

test('real speech end to end: the service hears the utterances and each comes back as an end of turn', async (t) => {
  const dg = await server(t, { transcripts: ['Hello there.', 'I need help with my order.'] });
  const conn = dg.nextConnection();
  const { stream, transcripts, errors } = open(t, dg.url);
  const c = await conn;
  await opened(stream);
  const pcm = concat(silence8k(300), speech8k('Hello there.'), silence8k(800), speech8k('I need help with my order, please.'), silence8k(800));
  for (const f of frames(pcm)) stream.push(f);
  await waitFor(() => transcripts.filter((x) => x.endOfTurn).length === 2, patience);
  t.deepEqual(transcripts.filter((x) => x.endOfTurn).map((x) => x.text), ['Hello there.', 'I need help with my order.']);
  t.true(transcripts.some((x) => !x.final), 'interims came while speaking');
  t.log(`${transcripts.length} transcripts for ${(pcm.length / 8000).toFixed(1)} s of speech, ${c.audioBytes} bytes heard`);
  stream.close();
  await waitFor(() => c.closed, patience);
  t.is(c.audioBytes, Math.ceil(pcm.length / 160) * 320);
  t.deepEqual(errors, []);
});

test('a wrong key is refused with 401 at the upgrade: one auth error, nothing thrown', async (t) => {
  const dg = await server(t);
  const { stream, errors, transcripts } = open(t, dg.url, { apiKey: 'wrong' });
  for (const f of frames(speech8k('Hello.'))) stream.push(f);
  await waitFor(() => errors.length, patience);
  await sleep(100);
  t.is(errors.length, 1);
  t.true(errors[0] instanceof ProviderError);
  t.like(errors[0], { provider: 'deepgram', code: 'auth', status: 401 });
  t.deepEqual(dg.refused, [{ status: 401, authorization: 'Token wrong' }]);
  t.is(dg.connections.length, 0);
  t.is(stream.state, 'failed');
  stream.push(new Int16Array(160));
  stream.close();
  t.deepEqual(transcripts, []);
});

test('403 is auth, 429 rate_limited, 500 http_error; an error before onError is registered is still delivered', async (t) => {
  for (const [status, code] of [[403, 'auth'], [429, 'rate_limited'], [500, 'http_error']] as const) {
    const dg = await server(t, { refuseWith: status });
    const provider = new DeepgramStt({ apiKey: key, baseUrl: dg.url });
    const stream = provider.open({ signal: new AbortController().signal });
    await waitFor(() => stream.state === 'failed', patience);
    const errors: ProviderError[] = [];
    stream.onError((e) => errors.push(e));
    t.like(errors, [{ code, status }], `status ${status}`);
  }
});

// Timing tests run first and alone: the other tests of the file synthesise speech, which blocks the loop.
test.serial('no answer to the upgrade within connectTimeoutMs is a timeout', async (t) => {
  const dg = await server(t, { stallUpgrade: true });
  const started = performance.now();
  const { errors } = open(t, dg.url, { settings: { connectTimeoutMs: 300 } });
  await waitFor(() => errors.length, patience);
  const took = performance.now() - started;
  t.like(errors, [{ code: 'timeout' }]);
  t.true(took >= 290 && took < 1500, `${took.toFixed(0)} ms`);
  await sleep(100);
  t.is(errors.length, 1);
});

test('a refused connection is a network error', async (t) => {
  // A port that was free a moment ago: nothing listens there.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const { errors } = open(t, `ws://127.0.0.1:${port}`);
  await waitFor(() => errors.length, patience);
  t.like(errors, [{ code: 'network' }]);
});

test('the service dropping the connection mid-stream gives exactly one network error, and push goes on not throwing', async (t) => {
  for (const how of ['drop', 'close'] as const) {
    const dg = await server(t);
    const conn = dg.nextConnection();
    const { stream, errors, transcripts } = open(t, dg.url);
    const c = await conn;
    const audio = frames(speech8k('Hello there, how are you?'));
    for (const f of audio.slice(0, 50)) stream.push(f);
    await waitFor(() => c.audioBytes > 0, patience);
    c.results('Hello', {});
    await waitFor(() => transcripts.length, patience);
    if (how === 'drop') c.drop();
    else c.close(1011, 'NET-0001');
    await waitFor(() => errors.length, patience);
    for (const f of audio.slice(50)) stream.push(f);
    stream.close();
    await sleep(150);
    t.is(errors.length, 1, how);
    t.like(errors[0], { code: 'network' });
    if (how === 'close') t.regex(errors[0]!.message, /1011 NET-0001/);
    t.is(stream.state, 'failed');
    t.is(transcripts.length, 1);
  }
});

test('abort closes the socket: the service gets CloseStream then the close, and no error is reported', async (t) => {
  const dg = await server(t);
  const conn = dg.nextConnection();
  const { stream, errors, abort } = open(t, dg.url);
  const c = await conn;
  await opened(stream);
  for (const f of frames(speech8k('One moment.'))) stream.push(f);
  abort.abort();
  await waitFor(() => c.closed, patience);
  t.deepEqual(c.controls.map((x) => x.type), ['CloseStream']);
  t.is(c.closed!.code, 1000);
  await waitFor(() => stream.state === 'closed', patience);
  t.deepEqual(errors, []);
  t.is(dg.connections.length, 1);
  // Abort while still connecting: the socket is dropped and nothing is reported either.
  const slow = await server(t, { upgradeDelayMs: 200 });
  const early = open(t, slow.url);
  early.stream.push(new Int16Array(160));
  early.abort.abort();
  t.is(early.stream.state, 'closed');
  await sleep(400);
  t.deepEqual(early.errors, []);
  t.true(slow.connections.every((x) => x.closed !== null));
});

test.serial('a service that closes after CloseStream too slowly is cut after closeTimeoutMs', async (t) => {
  const dg = await server(t);
  const conn = dg.nextConnection();
  const { stream, errors } = open(t, dg.url, { settings: { closeTimeoutMs: 200 } });
  const c = await conn;
  await opened(stream);
  // The server stops answering frames: pause its socket so the close handshake never completes.
  (c.ws as unknown as { _socket: net.Socket })._socket.pause();
  const started = performance.now();
  stream.close();
  await waitFor(() => stream.state === 'closed', patience);
  const took = performance.now() - started;
  t.true(took >= 150 && took < 1500, `${took.toFixed(0)} ms`);
  t.deepEqual(errors, []);
});

test('audio pushed before the socket opens is kept (the latest 5 s) and sent on open', async (t) => {
  const dg = await server(t, { upgradeDelayMs: 300 });
  const conn = dg.nextConnection();
  const { stream, errors } = open(t, dg.url);
  // 6 s of 20 ms frames before the socket opens.
  const pcm = Int16Array.from({ length: 6 * 8000 }, (_, i) => (i % 200) - 100);
  for (const f of frames(pcm)) stream.push(f);
  t.is(stream.state, 'connecting');
  const c = await conn;
  await waitFor(() => c.audioBytes >= 5 * 16000, patience);
  await sleep(100);
  t.is(c.audioBytes, 5 * 16000);
  t.is(stream.stats.droppedBytes, 16000);
  stream.close();
  t.deepEqual(errors, []);
});

test.serial('KeepAlive flows while no audio does, and not while audio flows', async (t) => {
  const dg = await server(t);
  const conn = dg.nextConnection();
  const { stream, errors } = open(t, dg.url, { settings: { keepAliveMs: 600 } });
  const c = await conn;
  await opened(stream);
  // 1.5 s of audio in real time (100 ms messages), then 2 s of none.
  for (const f of frames(silence8k(1500))) {
    stream.push(f);
    await sleep(20);
  }
  const duringAudio = c.controls.filter((x) => x.type === 'KeepAlive').length;
  await sleep(2000);
  const keepAlives = c.controls.filter((x) => x.type === 'KeepAlive');
  t.log(`KeepAlive: ${duringAudio} during 1.5 s of audio, ${keepAlives.length - duringAudio} in 2 s of none, each ${keepAlives.map((k) => k.sinceLastMs.toFixed(0)).join(', ')} ms after the message before`);
  // The rule, whatever the load: a KeepAlive only after keepAliveMs without any message.
  t.true(keepAlives.every((k) => k.sinceLastMs >= 600 - 50));
  t.true(keepAlives.length - duringAudio >= 2 && keepAlives.length - duringAudio <= 3);
  stream.close();
  t.deepEqual(errors, []);
});

test('garbage from the service is one bad_response', async (t) => {
  const cases: [string, unknown][] = [
    ['not JSON', 'this is not json {'],
    ['no type', { hello: 'world' }],
    ['Results without a channel', { type: 'Results', is_final: true }],
    ['a transcript that is not a string', { type: 'Results', channel: { alternatives: [{ transcript: 42 }] } }],
  ];
  for (const [what, msg] of cases) {
    const dg = await server(t);
    const conn = dg.nextConnection();
    const { errors, transcripts } = open(t, dg.url);
    const c = await conn;
    c.send(msg);
    c.results('after the garbage', { is_final: true, speech_final: true });
    await waitFor(() => errors.length, patience);
    await waitFor(() => c.closed, patience);
    t.like(errors, [{ code: 'bad_response' }], what);
    t.deepEqual(transcripts, [], what);
  }
});

const runs = 40;
test(`property: any sequence of service messages never throws, gives at most one error and nothing after it, and ends of turn are finals (${runs} runs)`, async (t) => {
  const dg = await server(t);
  const message = fc.oneof(
    fc.record({ transcript: fc.string({ maxLength: 20 }), is_final: fc.boolean(), speech_final: fc.boolean() }).map((r) => ({
      type: 'Results',
      is_final: r.is_final,
      speech_final: r.speech_final,
      channel: { alternatives: [{ transcript: r.transcript }] },
    })),
    fc.constant({ type: 'UtteranceEnd' }),
    fc.constant({ type: 'SpeechStarted' }),
    fc.jsonValue({ maxDepth: 2 }),
    fc.string({ maxLength: 30 }),
  );
  let sent = 0;
  let errored = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(message, { maxLength: 25 }), async (msgs) => {
      const conn = dg.nextConnection();
      const { stream, transcripts, errors, abort } = open(t, dg.url);
      const c = await conn;
      const seen: ('t' | 'e')[] = [];
      stream.onTranscript((x) => {
        transcripts.push(x);
        seen.push('t');
      });
      stream.onError((e) => {
        errors.push(e);
        seen.push('e');
      });
      for (const m of msgs) c.send(typeof m === 'string' ? m : JSON.stringify(m));
      c.send({ type: 'Metadata' });
      sent += msgs.length;
      await waitFor(() => stream.stats.messages >= msgs.length + 1 || stream.state === 'failed', patience, 5);
      abort.abort();
      await waitFor(() => c.closed, patience, 5);
      errored += errors.length;
      return errors.length <= 1 && (seen.indexOf('e') < 0 || seen.indexOf('e') === seen.length - 1) && transcripts.every((x) => !x.endOfTurn || x.final);
    }),
    { numRuns: runs },
  );
  t.log(`${runs} runs, ${sent} messages, ${errored} streams ended by an error`);
  t.pass();
});
