/**
 * WAL checkpoints off the event loop. In WAL mode with `synchronous = NORMAL` a commit does not
 * sync; only a checkpoint does, and SQLite runs it inside whichever commit crosses
 * `wal_autocheckpoint` pages: in the engine, that is a call's commit on the event loop, stalled
 * for the fsync (measured here: up to 10 ms, every ~15 calls, the p99 of INVITE -> 200). A worker
 * thread with its own connection checkpoints instead, every `intervalMs`; the engine's own
 * automatic checkpoint stays as a backstop at a much larger WAL, should the thread fall behind.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../config/logger.js';
import type { Db } from './database.js';

/** Often enough to keep the WAL to a few MB at hundreds of calls per second. */
const defaultIntervalMs = 1000;
/** The backstop: 10 000 pages (40 MB with 4 KB pages), ten times SQLite's default. */
const backstopPages = 10_000;

/** A thread that does not wind down in this time is terminated rather than waited for. */
const stopTimeoutMs = 2000;

export class Checkpointer {
  readonly #worker: Worker;
  /** Settles when the thread has exited, whenever that happens (a failed start included). */
  readonly #exited: Promise<void>;
  #stopped = false;

  constructor(db: Db, log: Logger, intervalMs = defaultIntervalMs) {
    db.pragma(`wal_autocheckpoint = ${backstopPages}`);
    this.#worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), { workerData: { file: db.name, intervalMs } });
    this.#worker.unref();
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.on('message', (m: { error?: string }) => log.warn({ err: m.error }, 'background checkpoint failed'));
    this.#worker.on('error', (err) => log.error({ err }, 'checkpoint thread failed'));
  }

  /** Stops the thread and waits until its connection is closed. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return this.#exited;
    this.#stopped = true;
    this.#worker.postMessage('stop');
    const hard = setTimeout(() => void this.#worker.terminate(), stopTimeoutMs);
    await this.#exited;
    clearTimeout(hard);
  }
}
