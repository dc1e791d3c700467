/**
 * One worker thread that runs Flite syntheses one at a time, off the event loop (each takes
 * 10-500 ms of CPU and cannot yield). Requests queue in arrival order. A synthesis that outruns
 * its timeout has the thread terminated (WebAssembly cannot be interrupted otherwise) and fails
 * with 'timeout'; a thread that dies fails its synthesis with 'unavailable'. Either way the next
 * request gets a fresh thread, so one bad request never stalls the others for good.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../../../config/logger.js';
import { ProviderError } from '../contracts.js';
import type { FliteJob, FliteResult } from './flite-worker.js';

interface Pending {
  job: FliteJob;
  signal: AbortSignal;
  settle: (pcm: Int16Array | null, err?: ProviderError) => void;
}

/** The thread's life: none yet (or dead), running a synthesis, or waiting for one. */
type ThreadState = 'none' | 'idle' | 'busy';

export class FliteThread {
  readonly #wasmPath: string;
  readonly #timeoutMs: number;
  readonly #log: Logger;
  #worker: Worker | null = null;
  #state: ThreadState = 'none';
  readonly #queue: Pending[] = [];
  #current: Pending | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** Why we terminated the thread, when we did: its in-flight synthesis fails with this. */
  #killedFor: ProviderError | null = null;
  #nextId = 1;
  #closed = false;

  constructor(opts: { wasmPath: string; timeoutMs: number; log: Logger }) {
    this.#wasmPath = opts.wasmPath;
    this.#timeoutMs = opts.timeoutMs;
    this.#log = opts.log;
    // Started now: compiling flite.wasm takes a few hundred ms, better spent before the first call.
    this.#spawn().unref();
  }

  /** 8 kHz speech for `text`, or null when `signal` aborted first. Rejects with ProviderError. */
  run(text: string, voice: string, signal: AbortSignal): Promise<Int16Array | null> {
    if (this.#closed) return Promise.reject(new ProviderError('flite', 'unavailable', 'the synthesis thread is closed'));
    if (signal.aborted) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      let done = false;
      const onAbort = () => {
        // Queued: leave the queue. In flight: the thread finishes it, and the result is dropped.
        const at = this.#queue.indexOf(pending);
        if (at >= 0) this.#queue.splice(at, 1);
        pending.settle(null);
      };
      const pending: Pending = {
        job: { id: this.#nextId++, text, voice },
        signal,
        settle: (pcm, err) => {
          if (done) return;
          done = true;
          signal.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve(pcm);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(pending);
      this.#pump();
    });
  }

  /** Number of syntheses waiting for the thread (the one running not included). */
  get queued(): number {
    return this.#queue.length;
  }

  /** Fails what is queued and ends the thread. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const err = new ProviderError('flite', 'unavailable', 'the synthesis thread is closed');
    for (const p of this.#queue.splice(0)) p.settle(null, err);
    this.#current?.settle(null, err);
    this.#current = null;
    this.#clearTimer();
    const w = this.#worker;
    this.#worker = null;
    this.#state = 'none';
    if (w) await w.terminate();
  }

  #pump(): void {
    if (this.#closed || this.#state === 'busy') return;
    const next = this.#queue.shift();
    if (!next) return;
    const worker = this.#worker ?? this.#spawn();
    this.#current = next;
    this.#state = 'busy';
    worker.ref();
    this.#timer = setTimeout(() => this.#onTimeout(), this.#timeoutMs);
    worker.postMessage(next.job);
  }

  #spawn(): Worker {
    const worker = new Worker(new URL('./flite-worker.js', import.meta.url), { workerData: { wasmPath: this.#wasmPath } });
    worker.on('message', (m: FliteResult) => this.#onResult(worker, m));
    worker.on('error', (err) => this.#log.warn({ err }, 'flite thread failed'));
    worker.on('exit', (code) => this.#onExit(worker, code));
    this.#worker = worker;
    this.#state = 'idle';
    return worker;
  }

  #onResult(worker: Worker, m: FliteResult): void {
    const job = this.#current;
    if (worker !== this.#worker || !job || m.id !== job.job.id) return;
    this.#finish();
    if ('error' in m) job.settle(null, new ProviderError('flite', 'bad_response', m.error));
    else job.settle(m.pcm);
    this.#pump();
  }

  #onTimeout(): void {
    const w = this.#worker;
    if (!w || !this.#current) return;
    this.#log.warn({ timeoutMs: this.#timeoutMs }, 'flite synthesis timed out: thread terminated');
    this.#killedFor = new ProviderError('flite', 'timeout', `synthesis took longer than ${this.#timeoutMs} ms`);
    void w.terminate();
  }

  #onExit(worker: Worker, code: number): void {
    if (worker !== this.#worker) return;
    this.#worker = null;
    const job = this.#current;
    const err = this.#killedFor ?? new ProviderError('flite', 'unavailable', `the synthesis thread exited (code ${code})`);
    this.#killedFor = null;
    this.#finish();
    this.#state = 'none';
    if (!this.#closed && !(err.code === 'timeout')) this.#log.warn({ code }, 'flite thread exited');
    job?.settle(null, err);
    this.#pump();
  }

  #finish(): void {
    this.#clearTimer();
    this.#current = null;
    if (this.#state === 'busy') this.#state = 'idle';
    // An idle thread must not keep the process alive.
    if (this.#worker) this.#worker.unref();
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
