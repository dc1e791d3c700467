import test from 'ava';
import fc from 'fast-check';
import { acceptedRates, AudioImportError, importWav } from '../../../media/audio/audio-import.js';
import { sine } from '../../../media/audio/tone.js';
import { writeWav } from '../../../media/audio/wav.js';

/** Runs per property: each finishes in a few seconds on a loaded machine. */
const RUNS = 1500;

/** Whatever the bytes: converted audio that is consistent, or an `AudioImportError`; never anything else. */
function check(bytes: Buffer, maxMs: number): 'ok' | 'refused' {
  try {
    const a = importWav(bytes, maxMs);
    if (!(a.pcm instanceof Int16Array) || a.pcm.length === 0) throw new Error('no samples');
    if (a.durationMs !== Math.round(a.pcm.length / 8)) throw new Error(`duration ${a.durationMs} for ${a.pcm.length} samples`);
    if (![1, 2].includes(a.source.channels)) throw new Error(`channels ${a.source.channels}`);
    if (a.source.encoding === 'pcm16' && !(acceptedRates as readonly number[]).includes(a.source.sampleRate)) throw new Error(`rate ${a.source.sampleRate}`);
    return 'ok';
  } catch (err) {
    if (err instanceof AudioImportError) return 'refused';
    throw err;
  }
}

test(`random bytes are refused with AudioImportError, never a crash (${RUNS} cases)`, (t) => {
  let refused = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (raw, riff) => {
      const bytes = Buffer.from(raw);
      // Half the cases start like a WAV, so the chunk walk is reached.
      if (riff && bytes.length >= 12) {
        bytes.write('RIFF', 0, 'ascii');
        bytes.write('WAVE', 8, 'ascii');
      }
      if (check(bytes, 60_000) === 'refused') refused++;
    }),
    { numRuns: RUNS },
  );
  t.log(`${RUNS} cases, ${refused} refused`);
  t.pass();
});

/** A valid WAV of a short tone, at one of the accepted rates, mono or stereo. */
const validWav = fc.record({ rate: fc.constantFrom(...acceptedRates, 11025, 32000), channels: fc.constantFrom(1, 2), ms: fc.integer({ min: 0, max: 60 }) }).map(({ rate, channels, ms }) => {
  const mono = sine(440, ms, { rate });
  const samples = new Int16Array(mono.length * channels);
  for (let i = 0; i < samples.length; i++) samples[i] = mono[Math.floor(i / channels)]!;
  return writeWav({ sampleRate: rate, channels, samples });
});

/** Header fields set to values that matter: format tags, channel counts, rates, bits, chunk sizes. */
const fieldMutation = fc.oneof(
  fc.record({ at: fc.constant(20), size: fc.constant(2), value: fc.constantFrom(0, 1, 3, 6, 7, 0xfffe, 0xffff) }),
  fc.record({ at: fc.constant(22), size: fc.constant(2), value: fc.constantFrom(0, 1, 2, 3, 0xffff) }),
  fc.record({ at: fc.constant(24), size: fc.constant(4), value: fc.constantFrom(0, 1, 8000, 44100, 48000, 0xffffffff) }),
  fc.record({ at: fc.constant(34), size: fc.constant(2), value: fc.constantFrom(0, 8, 16, 24, 0xffff) }),
  fc.record({ at: fc.constantFrom(4, 16, 40), size: fc.constant(4), value: fc.constantFrom(0, 1, 15, 16, 40, 0x7fffffff, 0xffffffff) }),
);

test(`mutated WAV files are converted or refused with AudioImportError, never a crash (${RUNS} cases)`, (t) => {
  const outcomes = { ok: 0, refused: 0 };
  fc.assert(
    fc.property(
      validWav,
      fc.array(fieldMutation, { maxLength: 3 }),
      fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 4 }),
      fc.option(fc.nat(), { nil: undefined }),
      (wav, fields, bytes, cut) => {
        let buf = Buffer.from(wav);
        for (const f of fields) {
          if (f.size === 2) buf.writeUInt16LE(f.value & 0xffff, f.at);
          else buf.writeUInt32LE(f.value, f.at);
        }
        for (const b of bytes) buf[b.at % buf.length] = b.byte;
        if (cut !== undefined) buf = buf.subarray(0, cut % (buf.length + 1));
        outcomes[check(buf, 30)]++;
      },
    ),
    { numRuns: RUNS },
  );
  t.log(`${RUNS} cases: ${outcomes.ok} converted, ${outcomes.refused} refused`);
  // Both outcomes happen: the generator reaches the converter, not only the refusals.
  t.true(outcomes.ok > RUNS / 20 && outcomes.refused > RUNS / 20, JSON.stringify(outcomes));
});

test('WAVE_FORMAT_EXTENSIBLE with a PCM sub-format is read as PCM', (t) => {
  const plain = writeWav({ sampleRate: 16000, channels: 1, samples: sine(1000, 100, { rate: 16000 }) });
  // fmt chunk of 40 bytes: cbSize 22, valid bits, channel mask, sub-format GUID starting 0x0001.
  const ext = Buffer.alloc(16 + 24);
  plain.copy(ext, 0, 20, 36);
  ext.writeUInt16LE(0xfffe, 0);
  ext.writeUInt16LE(22, 16);
  ext.writeUInt16LE(16, 18);
  ext.writeUInt32LE(4, 20);
  ext.writeUInt16LE(1, 24);
  const header = Buffer.from(plain.subarray(0, 20));
  header.writeUInt32LE(40, 16);
  const file = Buffer.concat([header, ext, plain.subarray(36)]);
  file.writeUInt32LE(file.length - 8, 4);
  const a = importWav(file, 1000);
  t.deepEqual(a.source, { encoding: 'pcm16', sampleRate: 16000, channels: 1 });
  t.is(a.pcm.length, 800);
});
