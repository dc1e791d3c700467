/**
 * RIFF/WAVE with 16-bit linear PCM: what offline TTS writes, what recordings and the
 * transcription upload are. Only the `fmt ` and `data` chunks matter; others are skipped.
 */

export interface WavAudio {
  sampleRate: number;
  channels: number;
  /** Interleaved samples. */
  samples: Int16Array;
}

export class WavError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WavError';
  }
}

/** A WAV file's `fmt ` fields and its `data` bytes, whatever the encoding. */
export interface WavChunks {
  /** WAVE format tag: 1 PCM, 6 A-law, 7 μ-law (WAVE_FORMAT_EXTENSIBLE is resolved to its sub-format). */
  format: number;
  channels: number;
  sampleRate: number;
  bits: number;
  data: Buffer;
}

/** WAVE_FORMAT_EXTENSIBLE: the real format tag is the first two bytes of the sub-format GUID. */
const formatExtensible = 0xfffe;

/** Reads the `fmt ` and `data` chunks of a RIFF/WAVE file. Throws `WavError` when there are none. */
export function readWavChunks(buf: Buffer): WavChunks {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new WavError('not a RIFF/WAVE file');
  }
  let fmt: Omit<WavChunks, 'data'> | null = null;
  for (let at = 12; at + 8 <= buf.length; ) {
    const id = buf.toString('ascii', at, at + 4);
    const size = buf.readUInt32LE(at + 4);
    const body = at + 8;
    if (id === 'fmt ' && size >= 16 && body + 16 <= buf.length) {
      let format = buf.readUInt16LE(body);
      if (format === formatExtensible && size >= 40 && body + 26 <= buf.length) format = buf.readUInt16LE(body + 24);
      fmt = { format, channels: buf.readUInt16LE(body + 2), sampleRate: buf.readUInt32LE(body + 4), bits: buf.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (!fmt) throw new WavError('data before fmt');
      if (fmt.channels < 1 || fmt.sampleRate < 1) throw new WavError('bad fmt chunk');
      // Writers that stream set the size to 0 or 0xffffffff: take what is there.
      const end = size === 0 || body + size > buf.length ? buf.length : body + size;
      return { ...fmt, data: buf.subarray(body, end) };
    }
    at = body + size + (size % 2);
  }
  throw new WavError('no data chunk');
}

/** Reads a 16-bit PCM WAV file. Throws `WavError` on anything else. */
export function parseWav(buf: Buffer): WavAudio {
  const w = readWavChunks(buf);
  if (w.format !== 1 || w.bits !== 16) throw new WavError(`unsupported format ${w.format}/${w.bits} bits`);
  const bytes = Buffer.from(w.data.subarray(0, w.data.length - (w.data.length % 2)));
  return { sampleRate: w.sampleRate, channels: w.channels, samples: new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2) };
}

/** A 16-bit PCM WAV file of `samples` (interleaved when `channels` > 1). */
export function writeWav(audio: WavAudio): Buffer {
  const data = audio.samples.length * 2;
  const out = Buffer.alloc(44 + data);
  writeWavHeader(out, audio.sampleRate, audio.channels, data);
  for (let i = 0; i < audio.samples.length; i++) out.writeInt16LE(audio.samples[i]!, 44 + i * 2);
  return out;
}

/** The 44-byte header of a 16-bit PCM WAV with `dataBytes` of samples, into `out` at 0. */
export function writeWavHeader(out: Buffer, sampleRate: number, channels: number, dataBytes: number): void {
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + dataBytes, 4);
  out.write('WAVE', 8, 'ascii');
  out.write('fmt ', 12, 'ascii');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20);
  out.writeUInt16LE(channels, 22);
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * channels * 2, 28);
  out.writeUInt16LE(channels * 2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(dataBytes, 40);
}
