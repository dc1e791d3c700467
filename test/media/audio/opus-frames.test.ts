/**
 * The Opus side of the agent path (issue 10), as `LegAudio` uses it: 20 ms frames of 8 kHz PCM
 * encoded one packet each, decoded back to 8 kHz frames on an 8 kHz clock. A tone survives the
 * round trip at its frequency and level; packets of other lengths are re-cut into 20 ms frames;
 * a packet that is not Opus is an `OpusPacketError`, never a crash.
 */
import { createRequire } from 'node:module';
import test from 'ava';
import fc from 'fast-check';
import { frameCodec, samplesPerFrame } from '../../../media/audio/frame-codec.js';
import { OpusPacketError, opusAvailable, opusUnavailableReason } from '../../../media/audio/opus.js';
import { rms, sine } from '../../../media/audio/tone.js';
import { g711Codecs, opusCodec } from '../../../media/sdp/types.js';
import { frames, toneLevel } from '../../helpers/audio.js';

const missing = opusAvailable() ? null : `@evan/opus is not installed (${opusUnavailableReason()})`;
const opusTest = missing ? test.skip : test;
if (missing) test(`opus frame tests are skipped: ${missing}`, (t) => t.pass());

/** Encodes `pcm` and decodes each packet at 48 kHz timestamps 960 apart; the frames that come out. */
function roundTrip(pcm: Int16Array, startTs = 1_000_000) {
  const c = frameCodec(opusCodec);
  const { frames: bytes, sizes } = c.encode(pcm);
  const out: { pcm: Int16Array; timestamp: number }[] = [];
  let at = 0;
  sizes!.forEach((size, i) => {
    out.push(...c.decode(bytes.subarray(at, at + size), (startTs + i * 960) >>> 0));
    at += size;
  });
  return { out, sizes: sizes!, bytes: bytes.length };
}

opusTest('a 500 Hz tone goes through Opus and back at 8 kHz: same frequency, same level, nothing at 1 kHz, 20 ms per packet', (t) => {
  // 500 Hz: a whole number of cycles in a 20 ms frame, so one frame's Goertzel reads the peak.
  const amplitude = 8192;
  const tone = sine(500, 1000, { amplitude: amplitude / 32767 });
  const { out, sizes, bytes } = roundTrip(tone);
  t.is(sizes.length, 50, 'one packet per 20 ms frame');
  t.is(out.length, 50);
  t.true(out.every((f) => f.pcm.length === samplesPerFrame));
  // Opus's look-ahead delays the start: judge the frames after the first 100 ms.
  const steady = out.slice(5);
  const levels = steady.map((f) => toneLevel(f.pcm, 500));
  const off = steady.map((f) => toneLevel(f.pcm, 1000));
  const min = Math.min(...levels);
  t.log(`${bytes} bytes for 1 s (${((bytes * 8) / 1000).toFixed(1)} kbit/s); 500 Hz level ${min.toFixed(0)}-${Math.max(...levels).toFixed(0)} of ${amplitude}; 1 kHz at most ${Math.max(...off).toFixed(0)}`);
  t.true(min > amplitude * 0.8 && Math.max(...levels) < amplitude * 1.2, 'the tone keeps its level');
  t.true(Math.max(...off) < amplitude * 0.05, 'no energy where there was none');
  // Timestamps on the 8 kHz clock: 160 apart, as G.711 frames are.
  t.true(out.slice(1).every((f, i) => f.timestamp === ((out[i]!.timestamp + 160) >>> 0)));
});

opusTest('silence stays silence; the timestamp clock wraps at 2^32 without a jump', (t) => {
  const { out } = roundTrip(new Int16Array(8000), 2 ** 32 - 960 * 10);
  t.true(out.every((f) => rms(f.pcm) < 5));
  t.true(out.slice(1).every((f, i) => f.timestamp === ((out[i]!.timestamp + 160) >>> 0)), 'continuous across the wrap');
});

opusTest('what we sent decodes for the recording: the tone, on the 8 kHz clock', (t) => {
  const c = frameCodec(opusCodec);
  const { frames: bytes, sizes } = c.encode(sine(500, 400, { amplitude: 0.25 }));
  let at = 0;
  const sent = sizes!.map((size, i) => {
    const f = c.decodeSent(bytes.subarray(at, at + size), 48_000 + i * 960);
    at += size;
    return f;
  });
  t.true(sent.slice(5).every((f) => toneLevel(f.pcm, 500) > 6500));
  t.deepEqual(sent.slice(0, 3).map((f) => f.timestamp), [8000, 8160, 8320]);
  // Our own 3-byte silence frame (pacer-worker.ts) decodes to silence.
  t.true(rms(frameCodec(opusCodec).decodeSent(Uint8Array.from([0xf8, 0xff, 0xfe]), 0).pcm) < 5);
});

opusTest('a 60 ms packet is cut into three 20 ms frames; 10 ms packets are joined in pairs', (t) => {
  // Packets of other lengths than the leg makes, from the package itself (browsers may send them).
  const { Encoder } = createRequire(import.meta.url)('@evan/opus') as { Encoder: new (o: object) => { encode(pcm: Int16Array): Uint8Array } };
  const enc = new Encoder({ channels: 1, sample_rate: 8000, application: 'voip' });
  const c = frameCodec(opusCodec);
  const tone = sine(500, 600, { amplitude: 0.25 });
  const long = [0, 1, 2, 3].map((k) => c.decode(enc.encode(tone.subarray(k * 480, (k + 1) * 480)), k * 2880));
  t.deepEqual(long.map((fs) => fs.length), [3, 3, 3, 3]);
  const ts = long.flat().map((f) => f.timestamp);
  t.true(ts.slice(1).every((x, i) => x === ts[i]! + 160), 'the frames follow one another on the 8 kHz clock');
  t.true(long.slice(1).flat().every((f) => toneLevel(f.pcm, 500) > 6500));
  const c2 = frameCodec(opusCodec);
  const short = [0, 1, 2, 3].map((k) => c2.decode(enc.encode(tone.subarray(k * 80, (k + 1) * 80)), k * 480).length);
  t.deepEqual(short, [0, 1, 0, 1]);
});

opusTest('property: a packet that is not Opus is an OpusPacketError or a frame of audio, never anything else (300 cases per run)', (t) => {
  const c = frameCodec(opusCodec);
  let refused = 0;
  let decoded = 0;
  t.notThrows(() => fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 400 }), (bytes) => {
      try {
        const out = c.decode(bytes, 0);
        decoded++;
        return out.every((f) => f.pcm.length === samplesPerFrame);
      } catch (err) {
        refused++;
        return err instanceof OpusPacketError;
      }
    }),
    { numRuns: 300 },
  ));
  t.log(`300 cases: ${decoded} decoded, ${refused} refused`);
});

test('G.711 frames are unchanged: one byte per sample, the RTP timestamp as it came', (t) => {
  const c = frameCodec(g711Codecs.PCMA);
  const tone = sine(1000, 100, { amplitude: 0.25 });
  const { frames: bytes, sizes } = c.encode(tone);
  t.is(sizes, undefined);
  t.is(bytes.length, 800);
  const back = frames(tone).map((_, i) => c.decode(bytes.subarray(i * 160, (i + 1) * 160), 1234 + i * 160)[0]!);
  t.deepEqual(back.map((f) => f.timestamp), [1234, 1394, 1554, 1714, 1874]);
  t.true(back.every((f) => toneLevel(f.pcm, 1000) > 7500));
});
