import test from 'ava';
import fc from 'fast-check';
import { VoiceActivity, type VadEvent } from '../../../media/audio/vad.js';
import { concat, frames, noise8k, silence8k, soundSpan, speech8k, trimmed } from '../../helpers/speech.js';

const sentence = 'Hello, I would like to book a table for two people tomorrow evening.';

/** Every event with the time (ms from the start of `pcm`) of the end of the frame that made it. */
function run(vad: VoiceActivity, pcm: Int16Array): { event: VadEvent; atMs: number }[] {
  const out: { event: VadEvent; atMs: number }[] = [];
  frames(pcm).forEach((f, i) => {
    const event = vad.push(f);
    if (event) out.push({ event, atMs: (i + 1) * 20 });
  });
  return out;
}

// White noise of peak 100 has an RMS of 58, -55 dBFS: a quiet line's hiss.
const lowNoise = () => concat(silence8k(3000), noise8k(3000, 100), silence8k(500), noise8k(3000, 100, 7));

test('digital silence and low noise never start speech', async (t) => {
  for (const aggressiveness of [0, 1, 2, 3] as const) {
    const vad = await VoiceActivity.create({ aggressiveness });
    t.teardown(() => vad.close());
    t.deepEqual(run(vad, lowNoise()), [], `mode ${aggressiveness}`);
    t.false(vad.speaking);
  }
});

test('loud says whether the last frame was above the level gate: faint noise not, a sentence yes, reset forgets', async (t) => {
  const vad = await VoiceActivity.create();
  t.teardown(() => vad.close());
  t.false(vad.loud, 'nothing pushed yet');
  const loudFrames = (pcm: Int16Array) => frames(pcm).filter((f) => (vad.push(f), vad.loud)).length;
  // noise8k(…, 60): uniform noise of RMS about 35; the -50 dBFS gate is an RMS of about 104.
  t.is(loudFrames(concat(silence8k(500), noise8k(1000, 60))), 0);
  const inSpeech = loudFrames(speech8k(sentence));
  t.log(`${inSpeech} loud frames in the sentence`);
  t.true(inSpeech > 50);
  vad.push(new Int16Array(160).fill(8000));
  t.true(vad.loud);
  vad.reset();
  t.false(vad.loud);
});

test('the level gate is what keeps the onset of faint noise from starting speech', async (t) => {
  // fvad alone takes each onset of noise for ~100 ms of speech until its noise model adapts.
  const ungated = await VoiceActivity.create({ minLevelDbfs: -Infinity });
  t.teardown(() => ungated.close());
  const events = run(ungated, lowNoise());
  t.log(`fvad alone on faint noise: ${events.map((e) => `${e.event}@${e.atMs}`).join(' ')}`);
  t.true(events.length >= 2 && events[0]!.atMs > 3000 && events[0]!.atMs <= 3100, 'fvad alone starts within 100 ms of the noise onset');
  // A gate above speech's level hears nothing of a sentence.
  const deaf = await VoiceActivity.create({ minLevelDbfs: -6 });
  t.teardown(() => deaf.close());
  t.deepEqual(run(deaf, concat(silence8k(300), speech8k(sentence))), []);
});

test('flite speech starts within 100 ms of its onset and ends after the end silence', async (t) => {
  const voice = speech8k(sentence);
  const span = soundSpan(voice)!;
  const lead = 500;
  const pcm = concat(silence8k(lead), voice, silence8k(1500));
  const onsetMs = lead + span.start / 8;
  const lastSoundMs = lead + span.end / 8;
  for (const endSilenceMs of [300, 600]) {
    const vad = await VoiceActivity.create({ endSilenceMs });
    t.teardown(() => vad.close());
    const events = run(vad, pcm);
    t.log(`endSilence ${endSilenceMs} ms: onset ${onsetMs} ms, last sound ${lastSoundMs} ms, events ${events.map((e) => `${e.event}@${e.atMs}`).join(' ')}`);
    t.deepEqual(events.map((e) => e.event), ['speech_start', 'speech_end']);
    const [start, end] = events;
    t.true(start!.atMs >= onsetMs && start!.atMs <= onsetMs + 100, `start ${start!.atMs - onsetMs} ms after onset`);
    t.true(end!.atMs >= lastSoundMs + endSilenceMs - 20 && end!.atMs <= lastSoundMs + endSilenceMs + 200, `end ${end!.atMs - lastSoundMs} ms after the last sound`);
    t.false(vad.speaking);
  }
});

test('speech_start comes startMs after the onset of speech (the barge-in latency), for many onsets', async (t) => {
  const sentences = ['Book a table for two.', 'I need help.', 'So what happens next?', 'My order is late.', 'Hello there.', 'Yes.', 'No, thank you.', 'Cancel it please.', 'Fine.', 'Where is my refund?'];
  for (const startMs of [20, 40, 60]) {
    const lags: number[] = [];
    for (const text of sentences) {
      const voice = speech8k(text);
      const onsetMs = 500 + soundSpan(voice)!.start / 8;
      const vad = await VoiceActivity.create({ startMs });
      t.teardown(() => vad.close());
      const start = run(vad, concat(silence8k(500), voice)).find((e) => e.event === 'speech_start');
      lags.push(start ? start.atMs - onsetMs : Infinity);
    }
    t.log(`startMs ${startMs}: speech_start ${lags.join(', ')} ms after the onset (mean ${(lags.reduce((a, b) => a + b, 0) / lags.length).toFixed(0)} ms)`);
    // fvad often hears a soft onset one or two frames before the 10 ms RMS window passes 300.
    t.true(lags.every((lag) => lag >= startMs - 60 && lag <= startMs + 20), `startMs ${startMs}: ${lags.join(', ')}`);
  }
});

test('a pause shorter than endSilenceMs does not end the utterance', async (t) => {
  const pcm = concat(silence8k(300), trimmed(speech8k('Yes.')), silence8k(400), trimmed(speech8k('Please book it.')), silence8k(1000));
  const vad = await VoiceActivity.create({ endSilenceMs: 600 });
  t.teardown(() => vad.close());
  t.deepEqual(run(vad, pcm).map((e) => e.event), ['speech_start', 'speech_end']);
  // The same audio with a short end silence splits into two utterances.
  const quick = await VoiceActivity.create({ endSilenceMs: 100 });
  t.teardown(() => quick.close());
  t.true(run(quick, pcm).length >= 4);
});

test('audio in odd-sized chunks is cut into frames: the same utterance, the net change per push', async (t) => {
  const pcm = concat(silence8k(300), speech8k(sentence), silence8k(1000));
  const framed = await VoiceActivity.create();
  const chunked = await VoiceActivity.create();
  t.teardown(() => framed.close());
  t.teardown(() => chunked.close());
  const reference = run(framed, pcm).map((e) => e.event);
  const got: VadEvent[] = [];
  for (let at = 0, size = 1; at < pcm.length; at += size, size = (size * 7 + 3) % 401) {
    const e = chunked.push(pcm.subarray(at, at + size));
    if (e) got.push(e);
  }
  t.deepEqual(got, reference);
  // One push of everything: speech started and ended inside it, so no net change.
  const whole = await VoiceActivity.create();
  t.teardown(() => whole.close());
  t.is(whole.push(pcm), null);
  t.false(whole.speaking);
  t.is(whole.push(pcm.subarray(0, pcm.length - 8000 * 0.9)), 'speech_start');
});

test('anything but an Int16Array, and pushes after close, are ignored; close is idempotent', async (t) => {
  const vad = await VoiceActivity.create({ startMs: 20 });
  const voice = frames(speech8k(sentence));
  t.is(vad.push(new Float32Array(160) as unknown as Int16Array), null);
  t.is(vad.push(null as unknown as Int16Array), null);
  t.is(vad.push(new Int16Array(0)), null);
  vad.close();
  vad.close();
  for (const f of voice) t.is(vad.push(f), null);
  t.false(vad.speaking);
  vad.reset();
});

test('reset goes back to silence, and detectors are independent of each other', async (t) => {
  const pcm = concat(silence8k(300), speech8k(sentence), silence8k(1000));
  const alone = await VoiceActivity.create();
  t.teardown(() => alone.close());
  const expected = run(alone, pcm);
  const a = await VoiceActivity.create();
  const b = await VoiceActivity.create({ aggressiveness: 0, startMs: 20, endSilenceMs: 100 });
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const got: { event: VadEvent; atMs: number }[] = [];
  frames(pcm).forEach((f, i) => {
    b.push(f.map((x) => x >> 1));
    const e = a.push(f);
    if (e) got.push({ event: e, atMs: (i + 1) * 20 });
  });
  t.deepEqual(got, expected);
  const c = await VoiceActivity.create();
  t.teardown(() => c.close());
  for (const f of frames(concat(silence8k(300), speech8k(sentence))).slice(0, 60)) c.push(f);
  t.true(c.speaking);
  c.reset();
  t.false(c.speaking);
  t.deepEqual(run(c, pcm), expected);
});

test('bad options are refused with RangeError', async (t) => {
  await t.throwsAsync(VoiceActivity.create({ aggressiveness: 4 as 0 }), { instanceOf: RangeError });
  await t.throwsAsync(VoiceActivity.create({ startMs: -1 }), { instanceOf: RangeError });
  await t.throwsAsync(VoiceActivity.create({ endSilenceMs: Number.NaN }), { instanceOf: RangeError });
  await t.throwsAsync(VoiceActivity.create({ minLevelDbfs: 3 }), { instanceOf: RangeError });
  const v = await VoiceActivity.create({ startMs: 0, endSilenceMs: 45 });
  t.teardown(() => v.close());
  t.is(v.startMs, 20);
  t.is(v.endSilenceMs, 60);
});

test('push costs microseconds per frame', async (t) => {
  const pcm = concat(silence8k(500), speech8k(sentence), noise8k(2000, 2000), silence8k(500));
  const fs = frames(pcm);
  const vad = await VoiceActivity.create();
  t.teardown(() => vad.close());
  for (const f of fs) vad.push(f);
  const rounds = 20;
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) for (const f of fs) vad.push(f);
  const perFrameUs = Number(process.hrtime.bigint() - t0) / 1000 / (rounds * fs.length);
  t.log(`${(perFrameUs).toFixed(2)} µs per 20 ms frame over ${rounds * fs.length} frames (${((perFrameUs / 20000) * 100).toFixed(3)} % of real time)`);
  // A loose bound that still catches an allocation or a copy of the heap per frame.
  t.true(perFrameUs < 200, `${perFrameUs} µs per frame`);
});

const runs = 60;
test(`property: any frames of any content and length never throw, and starts and ends alternate (${runs} runs)`, async (t) => {
  const voice = speech8k('One two three.');
  const chunk = fc.oneof(
    fc.integer({ min: 0, max: 500 }).map((n) => new Int16Array(n)),
    fc.array(fc.integer({ min: -32768, max: 32767 }), { maxLength: 400 }).map((a) => Int16Array.from(a)),
    fc.tuple(fc.nat(voice.length), fc.integer({ min: 1, max: 2000 })).map(([at, n]) => voice.slice(at, at + n)),
    fc.tuple(fc.integer({ min: 1, max: 40 }), fc.constantFrom(80, 160, 240, 320)).map(([count, n]) => noise8k(count * 20, 6000 + n, count)),
  );
  let events = 0;
  let frames = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(chunk, { maxLength: 80 }), fc.constantFrom(0, 1, 2, 3), fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 700 }), fc.constantFrom(-Infinity, -70, -50, -30), async (chunks, aggressiveness, startMs, endSilenceMs, minLevelDbfs) => {
      const vad = await VoiceActivity.create({ aggressiveness: aggressiveness as 0, startMs, endSilenceMs, minLevelDbfs });
      try {
        let speaking = false;
        for (const c of chunks) {
          frames += c.length / 160;
          const e = vad.push(c);
          if (e === 'speech_start') {
            if (speaking) return false;
            speaking = true;
            events++;
          } else if (e === 'speech_end') {
            if (!speaking) return false;
            speaking = false;
            events++;
          }
          if (vad.speaking !== speaking) return false;
        }
        return true;
      } finally {
        vad.close();
      }
    }),
    { numRuns: runs },
  );
  t.log(`${runs} runs, ${Math.round(frames)} frames, ${events} events`);
  t.true(events > 0, 'the generated audio did start speech sometimes');
});

test('onset: true from the first voiced frame until a start (or an unvoiced frame), never in speech', async (t) => {
  const vad = await VoiceActivity.create({ startMs: 60 });
  t.teardown(() => vad.close());
  for (const f of frames(silence8k(200))) vad.push(f);
  t.false(vad.onset);
  // Voiced frames of a sentence: onset from the first until speech_start.
  const voiced = frames(trimmed(speech8k(sentence)));
  const seen: string[] = [];
  for (const f of voiced) {
    const e = vad.push(f);
    seen.push(e ?? (vad.onset ? 'o' : vad.speaking ? 's' : '.'));
    if (e === 'speech_start') break;
  }
  t.log(`frames to the start: ${seen.join(' ')}`);
  t.is(seen.at(-1), 'speech_start');
  t.is(seen.at(-2), 'o', 'the frame before the start is an onset');
  t.false(vad.onset, 'not in speech');
  // The first voiced frame alone, then silence: onset, then not.
  const firstVoiced = seen.indexOf('o');
  vad.reset();
  for (const f of frames(silence8k(200))) vad.push(f);
  for (const f of voiced.slice(0, firstVoiced + 1)) vad.push(f);
  const after = vad.onset;
  vad.push(new Int16Array(160));
  t.false(vad.onset, 'an unvoiced frame ends it');
  t.false(vad.speaking);
  t.log(`one voiced frame in silence: onset ${after}`);
  t.true(after);
});
