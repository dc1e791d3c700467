import test from 'ava';
import fc from 'fast-check';
import { resample, Resampler } from '../../../media/audio/resample.js';
import { rms, sine } from '../../../media/audio/tone.js';

/** Level of `out` relative to `ref`, in dB, skipping the filter's run-in and run-out. */
function gainDb(ref: Int16Array, out: Int16Array): number {
  const trim = (x: Int16Array) => x.subarray(Math.floor(x.length * 0.1), Math.floor(x.length * 0.9));
  return 20 * Math.log10(rms(trim(out)) / rms(trim(ref)));
}

const downs = [16000, 22050, 24000, 44100];

for (const from of downs) {
  test(`${from} Hz -> 8 kHz: a 1 kHz sine keeps its level (±1 dB), its length and its phase`, (t) => {
    const input = sine(1000, 500, { rate: from, amplitude: 0.5 });
    const out = resample(input, from, 8000);
    t.is(out.length, Math.ceil((input.length * 8000) / from));
    const db = gainDb(input, out);
    t.log(`gain ${db.toFixed(3)} dB`);
    t.true(Math.abs(db) <= 1, `gain ${db} dB`);
    // No delay left: the output matches the sine sampled at 8 kHz, within a few LSB of filter ripple.
    const ideal = sine(1000, 500, { rate: 8000, amplitude: 0.5 });
    let worst = 0;
    for (let i = 400; i < 3600; i++) worst = Math.max(worst, Math.abs(out[i]! - ideal[i]!));
    t.true(worst < 300, `largest difference from the ideal 8 kHz sine ${worst}`);
  });

  test(`${from} Hz -> 8 kHz: tones above 4 kHz are attenuated by at least 30 dB`, (t) => {
    for (const hz of [4600, 5000, 7000].filter((f) => f < from / 2)) {
      const input = sine(hz, 500, { rate: from, amplitude: 0.5 });
      const db = gainDb(input, resample(input, from, 8000));
      t.log(`${hz} Hz: ${db.toFixed(1)} dB`);
      t.true(db <= -30, `${hz} Hz only ${db} dB down`);
    }
  });
}

test('8 kHz -> 16 kHz: a 1 kHz sine keeps its level and no image appears at 7 kHz', (t) => {
  const input = sine(1000, 500, { rate: 8000, amplitude: 0.5 });
  const out = resample(input, 8000, 16000);
  t.is(out.length, input.length * 2);
  t.true(Math.abs(gainDb(input, out)) <= 1);
  // The image of 1 kHz at 16 kHz is 7 kHz: project the output on it.
  let re = 0;
  let im = 0;
  for (let i = 800; i < 7200; i++) {
    re += out[i]! * Math.cos((2 * Math.PI * 7000 * i) / 16000);
    im += out[i]! * Math.sin((2 * Math.PI * 7000 * i) / 16000);
  }
  const image = (2 * Math.hypot(re, im)) / 6400;
  const imageDb = 20 * Math.log10(image / (0.5 * 32767));
  t.log(`7 kHz image ${imageDb.toFixed(1)} dB`);
  t.true(imageDb < -30);
});

test('full-scale input saturates instead of wrapping around', (t) => {
  const square = Int16Array.from({ length: 1600 }, (_, i) => (Math.floor(i / 40) % 2 ? 32767 : -32768));
  const out = resample(square, 16000, 8000);
  // A wrapped sample would jump by more than 60 000 between neighbours.
  let jump = 0;
  for (let i = 1; i < out.length; i++) jump = Math.max(jump, Math.abs(out[i]! - out[i - 1]!));
  t.true(jump < 60000, `largest step ${jump}`);
});

const runs = 40;
test(`streaming in random chunks (also split bytes) gives the one-shot samples (${runs} cases per rate)`, (t) => {
  for (const from of [...downs, 8000]) {
    const to = from === 8000 ? 16000 : 8000;
    const signal = Int16Array.from({ length: 3000 }, (_, i) => Math.round(8000 * Math.sin(i / 7) + 3000 * Math.sin(i / 2.3)));
    const whole = resample(signal, from, to);
    const bytes = new Uint8Array(signal.buffer);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 900 }), { minLength: 1, maxLength: 20 }), fc.boolean(), (sizes, asBytes) => {
        const r = new Resampler(from, to);
        const parts: number[] = [];
        const src: Uint8Array | Int16Array = asBytes ? bytes : signal;
        let at = 0;
        for (let i = 0; at < src.length; i++) {
          const n = sizes[i % sizes.length]!;
          const piece = src.subarray(at, at + n);
          parts.push(...(asBytes ? r.pushBytes(piece as Uint8Array) : r.push(piece as Int16Array)));
          at += n;
        }
        parts.push(...r.flush());
        return parts.length === whole.length && parts.every((v, i) => v === whole[i]);
      }),
      { numRuns: runs },
    );
  }
  t.pass();
});

test('cost per second of audio, for the record', (t) => {
  for (const [from, to] of [...downs.map((f) => [f, 8000]), [8000, 16000]] as [number, number][]) {
    const input = sine(440, 5000, { rate: from });
    resample(input.subarray(0, 1000), from, to); // design the filter once, outside the timing
    const t0 = process.hrtime.bigint();
    resample(input, from, to);
    const us = Number(process.hrtime.bigint() - t0) / 1000 / 5;
    t.log(`${from} -> ${to}: ${us.toFixed(0)} µs per second of audio`);
  }
  t.pass();
});
