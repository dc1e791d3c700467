/**
 * An uploaded sound, brought once to the runtime's one format (16-bit linear PCM, mono, 8 kHz)
 * so a call plays it without converting anything. Accepted: WAV with 16-bit PCM at 8, 16,
 * 22.05, 24, 44.1 or 48 kHz, or G.711 (A-law, μ-law) at 8 kHz; mono or stereo (mixed down).
 * Anything else, or a file longer than the limit, is an `AudioImportError` whose message names
 * the problem for the client. Nothing in here throws anything else, whatever the bytes.
 */
import { g711Decode } from './g711.js';
import { resample } from './resample.js';
import { readWavChunks, WavError } from './wav.js';

/** The rate everything is stored and played at. */
export const storedRate = 8000;

/** Sample rates of 16-bit PCM uploads: the common ones, each a ratio the resampler designs once. */
export const acceptedRates = [8000, 16000, 22050, 24000, 44100, 48000] as const;

/** WAVE format tags understood. */
const formats: Record<number, { name: ImportedAudio['source']['encoding']; bits: number }> = {
  1: { name: 'pcm16', bits: 16 },
  6: { name: 'alaw', bits: 8 },
  7: { name: 'ulaw', bits: 8 },
};

export class AudioImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AudioImportError';
  }
}

export interface ImportedAudio {
  /** 8 kHz mono 16-bit PCM. */
  pcm: Int16Array;
  durationMs: number;
  /** What was uploaded. */
  source: { encoding: 'pcm16' | 'alaw' | 'ulaw'; sampleRate: number; channels: number };
}

/**
 * Parses a WAV upload and converts it to 8 kHz mono; throws `AudioImportError` naming the
 * problem. `maxDurationMs` is checked on the header's figures before any conversion, so an
 * over-long file costs nothing.
 */
export function importWav(buf: Buffer, maxDurationMs: number): ImportedAudio {
  let w;
  try {
    w = readWavChunks(buf);
  } catch (err) {
    if (err instanceof WavError) throw new AudioImportError(`Not a usable WAV file: ${err.message}`);
    throw err;
  }
  const f = formats[w.format];
  if (!f) throw new AudioImportError(`Unsupported WAV encoding (format tag ${w.format}): use 16-bit PCM, A-law or μ-law`);
  if (w.bits !== f.bits) throw new AudioImportError(`${f.name} WAV must have ${f.bits} bits per sample, not ${w.bits}`);
  if (w.channels > 2) throw new AudioImportError(`Only mono or stereo WAV is accepted, not ${w.channels} channels`);
  if (f.name === 'pcm16' ? !(acceptedRates as readonly number[]).includes(w.sampleRate) : w.sampleRate !== storedRate) {
    const rates = f.name === 'pcm16' ? acceptedRates.join(', ') : String(storedRate);
    throw new AudioImportError(`Unsupported sample rate ${w.sampleRate} Hz for ${f.name} (accepted: ${rates})`);
  }
  const frameBytes = (f.bits / 8) * w.channels;
  const frames = Math.floor(w.data.length / frameBytes);
  if (frames === 0) throw new AudioImportError('The WAV file has no audio');
  const durationMs = Math.round((frames * 1000) / w.sampleRate);
  if (durationMs > maxDurationMs) throw new AudioImportError(`The audio lasts ${durationMs} ms; the limit is ${maxDurationMs} ms`);

  const interleaved = decode(f.name, w.data.subarray(0, frames * frameBytes));
  const mono = w.channels === 1 ? interleaved : mixDown(interleaved);
  const pcm = w.sampleRate === storedRate ? mono : resample(mono, w.sampleRate, storedRate);
  return { pcm, durationMs: Math.round(pcm.length / (storedRate / 1000)), source: { encoding: f.name, sampleRate: w.sampleRate, channels: w.channels } };
}

function decode(encoding: ImportedAudio['source']['encoding'], data: Buffer): Int16Array {
  if (encoding === 'alaw') return g711Decode('PCMA', data);
  if (encoding === 'ulaw') return g711Decode('PCMU', data);
  const out = new Int16Array(data.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = data.readInt16LE(i * 2);
  return out;
}

/** Stereo to mono: the mean of left and right (never clips, since it is a mean). */
function mixDown(stereo: Int16Array): Int16Array {
  const out = new Int16Array(stereo.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Math.round((stereo[2 * i]! + stereo[2 * i + 1]!) / 2);
  return out;
}
