import test from 'ava';
import { parseWav, WavError, writeWav } from '../../../media/audio/wav.js';

test('a written WAV reads back the same samples, rate and channels', (t) => {
  const samples = Int16Array.from({ length: 321 }, (_, i) => (i * 97) % 65536 - 32768);
  const wav = writeWav({ sampleRate: 8000, channels: 1, samples });
  t.is(wav.length, 44 + samples.length * 2);
  const back = parseWav(wav);
  t.is(back.sampleRate, 8000);
  t.is(back.channels, 1);
  t.deepEqual([...back.samples], [...samples]);
});

test('chunks before data are skipped, and a streamed size of 0 reads to the end', (t) => {
  const wav = writeWav({ sampleRate: 16000, channels: 2, samples: Int16Array.of(1, -1, 2, -2) });
  const list = Buffer.concat([Buffer.from('LIST'), Buffer.from([3, 0, 0, 0]), Buffer.from('abc'), Buffer.alloc(1)]);
  const withList = Buffer.concat([wav.subarray(0, 36), list, wav.subarray(36)]);
  withList.writeUInt32LE(0, 36 + list.length + 4);
  const back = parseWav(withList);
  t.is(back.channels, 2);
  t.deepEqual([...back.samples], [1, -1, 2, -2]);
});

test('anything but 16-bit PCM WAV is refused with WavError', (t) => {
  t.throws(() => parseWav(Buffer.from('not a wav at all')), { instanceOf: WavError });
  const float = writeWav({ sampleRate: 8000, channels: 1, samples: Int16Array.of(0) });
  float.writeUInt16LE(3, 20);
  t.throws(() => parseWav(float), { instanceOf: WavError, message: /unsupported format 3/ });
  t.throws(() => parseWav(float.subarray(0, 36)), { instanceOf: WavError, message: /no data chunk/ });
});
