/**
 * One worker thread that runs Flite syntheses one at a time, off the event loop (each takes
 * 10-500 ms of CPU and cannot yield). Requests queue in arrival order.
 *
 * The thread's life is a small state machine (`none` -> `starting` -> `idle` <-> `busy`, and
 * back to `none` when it exits). A synthesis that outruns its timeout has the thread terminated
 * (WebAssembly cannot be interrupted otherwise) and fails with 'timeout'; a thread that dies
 * mid-synthesis fails it with 'unavailable'; a thread that cannot start (flite.wasm missing or
 * broken, or compiling past the timeout) fails everything queued with 'unavailable'. The next
 * request gets a fresh thread, so one bad request never stalls the others for good.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../../../config/logger.js';
import { ProviderError } from '../contracts.js';
import type { FliteJob, FliteMessage } from './flite-worker.js';

interface Pending {
  job: FliteJob;
  settle: (pcm: Int16Array | null, err?: ProviderError) => void;
}

type ThreadState = 'none' | 'starting' | 'idle' | 'busy';

/** Compiling flite.wasm takes 0.3-1.5 s (idle to loaded machine); past this it is wedged. */
const startTimeoutMs = 30_000;

const unavailable = (why: string) => new ProviderError('flite', 'unavailable', why);

export class FliteThread {
  readonly #wasmPath: string;
  readonly #timeoutMs: number;
  readonly #log: Logger;
  #worker: Worker | null = null;
  #state: ThreadState = 'none';
  readonly #queue: Pending[] = [];
  #current: Pending | null = null;
  /** The start timeout (state `starting`) or the synthesis timeout (state `busy`). */
  #timer: NodeJS.Timeout | null = null;
  /** Why we terminated the thread, when we did. */
  #killedFor: ProviderError | null = null;
  #nextId = 1;
  #closed = false;

  constructor(opts: { wasmPath: string; timeoutMs: number; log: Logger }) {
    this.#wasmPath = opts.wasmPath;
    this.#timeoutMs = opts.timeoutMs;
    this.#log = opts.log;
    // Started now: compiling flite.wasm takes a few hundred ms, better spent before the first call.
    this.#spawn();
  }

  /** 8 kHz speech for `text`, or null when `signal` aborted first. Rejects with ProviderError. */
  run(text: string, voice: string, signal: AbortSignal): Promise<Int16Array | null> {
    if (this.#closed) return Promise.reject(unavailable('the synthesis thread is closed'));
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

  /** Fails what is queued and ends the thread. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(unavailable('the synthesis thread is closed'));
    this.#clearTimer();
    const w = this.#worker;
    this.#worker = null;
    this.#state = 'none';
    if (w) await w.terminate();
  }

  #pump(): void {
    if (this.#closed) return;
    if (this.#state === 'none' && this.#queue.length) this.#spawn();
    this.#holdProcess();
    if (this.#state !== 'idle') return;
    const next = this.#queue.shift();
    if (!next) return;
    this.#current = next;
    this.#state = 'busy';
    this.#arm(this.#timeoutMs, () => new ProviderError('flite', 'timeout', `synthesis took longer than ${this.#timeoutMs} ms`));
    this.#worker!.postMessage(next.job);
  }

  #spawn(): void {
    const worker = new Worker(new URL('./flite-worker.js', import.meta.url), { workerData: { wasmPath: this.#wasmPath } });
    worker.on('message', (m: FliteMessage) => this.#onMessage(worker, m));
    worker.on('error', (err) => this.#log.warn({ err }, 'flite thread failed'));
    worker.on('exit', (code) => this.#onExit(worker, code));
    this.#worker = worker;
    this.#state = 'starting';
    this.#arm(startTimeoutMs, () => unavailable(`the synthesis thread did not start within ${startTimeoutMs} ms`));
    this.#holdProcess();
  }

  #onMessage(worker: Worker, m: FliteMessage): void {
    if (worker !== this.#worker) return;
    if (m === 'ready') {
      this.#clearTimer();
      this.#state = 'idle';
      this.#pump();
      return;
    }
    const job = this.#current;
    if (!job || m.id !== job.job.id) return;
    this.#clearTimer();
    this.#current = null;
    this.#state = 'idle';
    if ('error' in m) job.settle(null, new ProviderError('flite', 'bad_response', m.error));
    else job.settle(m.pcm);
    this.#pump();
  }

  /** A thread with work (queued or running) keeps the process alive; an idle one does not. */
  #holdProcess(): void {
    if (this.#queue.length || this.#current) this.#worker?.ref();
    else this.#worker?.unref();
  }

  /** Starts the timer of the current state: on expiry the thread is terminated for `why`. */
  #arm(ms: number, why: () => ProviderError): void {
    this.#clearTimer();
    this.#timer = setTimeout(() => {
      const w = this.#worker;
      if (!w) return;
      this.#killedFor = why();
      this.#log.warn({ state: this.#state, timeoutMs: this.#timeoutMs }, 'flite thread terminated');
      void w.terminate();
    }, ms);
  }

  #onExit(worker: Worker, code: number): void {
    if (worker !== this.#worker) return;
    const was = this.#state;
    const err = this.#killedFor ?? unavailable(`the synthesis thread exited (code ${code})`);
    this.#worker = null;
    this.#killedFor = null;
    this.#state = 'none';
    this.#clearTimer();
    if (!this.#closed && err.code !== 'timeout') this.#log.warn({ code, state: was }, 'flite thread exited');
    if (was === 'starting') {
      // It could not start: the next start would most likely fail the same way.
      this.#failAll(err);
      return;
    }
    const job = this.#current;
    this.#current = null;
    job?.settle(null, err);
    this.#pump();
  }

  #failAll(err: ProviderError): void {
    for (const p of this.#queue.splice(0)) p.settle(null, err);
    this.#current?.settle(null, err);
    this.#current = null;
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
