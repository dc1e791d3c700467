/**
 * The main thread's side of the agent-audio pacing thread (`pacer-worker.ts`): one worker thread
 * per MediaService paces every agent stream and sends its RTP from one loopback UDP socket (an
 * OS-assigned port: it only ever talks to mediasoup on this host, so it needs no port of the RTP
 * ranges, and one socket serves every stream because each stream has its own PlainTransport).
 * The thread starts with the first stream. When it dies, every stream on it fails (its agent
 * falls silent, its pending DTMF rejects) and the next stream starts a new thread.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../config/logger.js';
import type { PacerCommand, PacerReport, StreamReport } from './pacer-messages.js';

/** The pacing thread died, or could not carry out a command for the stream. */
export class PacerThreadError extends Error {
  readonly code = 'pacer_failed';
  constructor(message: string) {
    super(message);
    this.name = 'PacerThreadError';
  }
}

export interface StreamHandlers {
  report(r: StreamReport): void;
  fail(err: PacerThreadError): void;
}

/** A stream's handle on the thread. */
export interface PacerStream {
  readonly id: number;
  /** The thread's socket: where the stream's PlainTransport must be connected. */
  readonly port: number;
  post(cmd: PacerCommand, transfer?: ArrayBuffer[]): void;
  /** Forgets the stream (after its `close` command, or once it failed). */
  detach(): void;
}

interface Running {
  worker: Worker;
  ready: Promise<number>;
  streams: Map<number, StreamHandlers>;
}

export class PacerThread {
  #running: Running | null = null;
  #nextId = 1;
  #closed = false;

  constructor(private readonly log: Logger) {}

  /** Streams on the thread now (0 once every agent leg closed). */
  get streams(): number {
    return this.#running?.streams.size ?? 0;
  }

  /** Registers a stream, starting the thread if there is none. Rejects if it cannot start. */
  async attach(handlers: StreamHandlers): Promise<PacerStream> {
    if (this.#closed) throw new PacerThreadError('agent audio closed');
    const running = (this.#running ??= this.#start());
    const id = this.#nextId++;
    running.streams.set(id, handlers);
    let port: number;
    try {
      port = await running.ready;
    } catch (err) {
      running.streams.delete(id);
      throw err;
    }
    return {
      id,
      port,
      post: (cmd, transfer) => {
        if (running.streams.has(id)) running.worker.postMessage(cmd, transfer);
      },
      detach: () => {
        running.streams.delete(id);
      },
    };
  }

  /** Ends the thread; its streams fail. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const running = this.#running;
    if (!running) return;
    this.#stop(running, 'agent audio closed');
  }

  /** Ends the thread as if it died (tests of the failure path). */
  async terminateForTest(): Promise<void> {
    await this.#running?.worker.terminate();
  }

  #start(): Running {
    const worker = new Worker(new URL('./pacer-worker.js', import.meta.url));
    worker.unref();
    const streams = new Map<number, StreamHandlers>();
    let ready!: (port: number) => void;
    let notReady!: (err: Error) => void;
    const running: Running = { worker, streams, ready: new Promise((res, rej) => ((ready = res), (notReady = rej))) };
    running.ready.catch(() => undefined);
    worker.on('message', (m: PacerReport) => {
      if (m.type === 'ready') return ready(m.port);
      if (m.type === 'failed') {
        this.log.error({ stream: m.id, message: m.message }, 'agent audio stream failed in the pacing thread');
        const h = streams.get(m.id);
        streams.delete(m.id);
        h?.fail(new PacerThreadError(m.message));
        return;
      }
      for (const r of m.streams) streams.get(r.id)?.report(r);
    });
    worker.on('error', (err) => this.log.error({ err }, 'agent audio pacing thread threw'));
    worker.once('exit', (code) => {
      notReady(new PacerThreadError(`agent audio pacing thread exited (${code})`));
      if (this.#running !== running) return;
      this.#running = null;
      if (streams.size) this.log.error({ code, streams: streams.size }, 'agent audio pacing thread died, its agents fall silent');
      this.#stop(running, `agent audio pacing thread exited (${code})`);
    });
    return running;
  }

  #stop(running: Running, reason: string): void {
    if (this.#running === running) this.#running = null;
    const handlers = [...running.streams.values()];
    running.streams.clear();
    running.worker.removeAllListeners('message');
    void running.worker.terminate();
    for (const h of handlers) h.fail(new PacerThreadError(reason));
  }
}
