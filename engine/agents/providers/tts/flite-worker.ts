/**
 * Runs in a worker thread (see flite-thread.ts): Flite compiled to WASI, one instance per
 * synthesis from a module compiled once, on the in-memory WASI of flite-wasi.ts. Flite writes
 * its WAV file into memory; the samples come back at 8 kHz, moved, not copied.
 */
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { resample } from '../../../../media/audio/resample.js';
import { parseWav } from '../../../../media/audio/wav.js';
import { MemoryWasi } from './flite-wasi.js';

/** The little of the WebAssembly JS API used here (the compiler's lib has no WebAssembly types). */
declare const WebAssembly: {
  compile(bytes: Uint8Array): Promise<object>;
  Instance: new (module: object, imports: object) => object;
};

/** What the thread is asked: speak `text` with `voice`. */
export interface FliteJob {
  id: number;
  text: string;
  voice: string;
}
/** What it answers: 8 kHz samples, or why not. */
export type FliteResult = { id: number; pcm: Int16Array } | { id: number; error: string };
/** What the thread says: 'ready' once flite.wasm is compiled, then one result per job. */
export type FliteMessage = 'ready' | FliteResult;

const { wasmPath } = workerData as { wasmPath: string };
const module = await WebAssembly.compile(fs.readFileSync(wasmPath));

function synthesize(job: FliteJob): Int16Array {
  // argv elements, no shell: the text cannot be read as an option or a command.
  const wasi = new MemoryWasi(['flite', '-t', job.text, '-o', '/out/speech.wav', '-voice', job.voice]);
  const code = wasi.start(new WebAssembly.Instance(module, wasi.imports) as { exports: Record<string, unknown> });
  const file = wasi.file('speech.wav');
  if (code !== 0 || !file) {
    const said = wasi.output.trim().slice(0, 200);
    throw new Error(`flite exited with ${code}${said ? `: ${said}` : ''}`);
  }
  const wav = parseWav(Buffer.from(file.buffer, file.byteOffset, file.length));
  if (wav.channels !== 1) throw new Error(`flite wrote ${wav.channels} channels`);
  return wav.sampleRate === 8000 ? wav.samples.slice() : resample(wav.samples, wav.sampleRate, 8000);
}

parentPort?.on('message', (job: FliteJob) => {
  let result: FliteResult;
  try {
    result = { id: job.id, pcm: synthesize(job) };
  } catch (err) {
    result = { id: job.id, error: (err as Error).message };
  }
  parentPort?.postMessage(result, 'pcm' in result ? [result.pcm.buffer as ArrayBuffer] : []);
});
parentPort?.postMessage('ready' satisfies FliteMessage);
