/**
 * The main thread's side of the agent-audio thread (`pacer-worker.ts`): one worker thread per
 * MediaService paces every agent stream, sends its RTP and receives the peer's, on one loopback
 * UDP socket (an OS-assigned port: it only ever talks to mediasoup on this host, so it needs no
 * port of the RTP ranges, and one socket serves every stream because each stream has its own
 * PlainTransport, whose port tells its packets apart).
 * The thread starts with the first stream. When it dies, every stream on it fails (its agent
 * falls silent, its pending DTMF rejects) and the next stream starts a new thread.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../config/logger.js';
import { readBatch, type BatchSink } from './pacer-batch.js';
import type { PacerCommand, PacerReport } from './pacer-messages.js';

/** The pacing thread died, or could not carry out a command for the stream. */
export class PacerThreadError extends Error {
  readonly code = 'pacer_failed';
  constructor(message: string) {
    super(message);
    this.name = 'PacerThreadError';
  }
}

/** A stream's news from the thread (see `BatchSink`), and its end when the thread died. */
export interface StreamHandlers {
  sent(timestamp: number, sequence: number, atMs: number, batch: Uint8Array, offset: number, size: number): void;
  received(packet: Buffer): void;
  consumed(frames: number): void;
  dtmf(request: number, ok: boolean): void;
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

  /** The thread's UDP port on 127.0.0.1 while it runs (null when it does not). */
  async socketPort(): Promise<number | null> {
    return this.#running ? this.#running.ready : null;
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
    const sink = this.#sink(streams);
    running.ready.catch(() => undefined);
    worker.on('message', (m: PacerReport) => {
      if (m.type === 'ready') {
        if (m.priorityError) this.log.warn({ err: m.priorityError }, 'agent audio thread runs at normal priority: it could not raise its own');
        return ready(m.port);
      }
      if (m.type === 'failed') {
        this.log.error({ stream: m.id, message: m.message }, 'agent audio stream failed in the pacing thread');
        const h = streams.get(m.id);
        streams.delete(m.id);
        h?.fail(new PacerThreadError(m.message));
        return;
      }
      readBatch(m.bytes, sink);
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

  /**
   * Hands each record of a batch to its stream. A handler that throws costs its own record (and a
   * log line), not the rest of the batch, and never reaches the worker's message event. (No
   * closure per record: at 150 agent calls this runs 15,000 times a second.)
   */
  #sink(streams: Map<number, StreamHandlers>): BatchSink {
    const threw = (err: unknown, stream: number) => this.log.error({ err, stream }, 'agent audio stream handler threw');
    return {
      sent(id, timestamp, sequence, at, batch, offset, size) {
        try {
          streams.get(id)?.sent(timestamp, sequence, at, batch, offset, size);
        } catch (err) {
          threw(err, id);
        }
      },
      received(id, packet) {
        try {
          streams.get(id)?.received(packet);
        } catch (err) {
          threw(err, id);
        }
      },
      consumed(id, frames) {
        try {
          streams.get(id)?.consumed(frames);
        } catch (err) {
          threw(err, id);
        }
      },
      dtmf(id, request, ok) {
        try {
          streams.get(id)?.dtmf(request, ok);
        } catch (err) {
          threw(err, id);
        }
      },
    };
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
