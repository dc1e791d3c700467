/**
 * Streamed responses (Server-Sent Events) on uWS, with backpressure. A handler returns
 * `Reply.stream(...)`; the adapter writes the status and headers as for any response, then hands
 * the handler's `start` a `ResponseStream` instead of ending the response.
 *
 * Backpressure: uWS `write()` copies what the socket does not take into uWS's own buffer and
 * returns false. From then on chunks wait in this stream's queue; when the socket is writable
 * again uWS calls `onWritable`, where the whole queue is written at once (which first flushes
 * uWS's buffer). Two facts of the uWS build we ship (v20.30), measured on loopback:
 * - `getWriteOffset()` stays 0 for chunked `write()`s, so the queue's size, not the write offset,
 *   tells how far behind a client is;
 * - once `onWritable` is registered, uWS flushes its buffer only when the handler writes, so with
 *   nothing queued the handler writes `filler` (a chunk the protocol ignores: an SSE comment).
 * A client that takes nothing for about 10 s while uWS holds data for it is closed by uWS itself
 * (its HTTP timeout); `onClose` runs as for any other end.
 */
import type { FileHandle } from 'node:fs/promises';
import type { HttpResponse } from 'uWebSockets.js';

/** The server side of one streamed response. */
export interface ResponseStream {
  /**
   * Writes a chunk, or queues it while the client is behind. Returns false when the client is
   * behind (the caller decides, from `bufferedBytes`, when it is too far behind).
   */
  write(chunk: string): boolean;
  /** An upper bound of the bytes written but not yet taken by the socket. */
  readonly bufferedBytes: number;
  readonly closed: boolean;
  /** Ends the response cleanly (the terminating chunk). */
  end(): void;
  /** Drops the connection at once. */
  close(): void;
  /** Runs once when the stream is over, whoever ended it (client, server, `end`, `close`). */
  onClose(fn: () => void): void;
  /** Resolves when the client has caught up (nothing buffered), or the stream is closed. */
  caughtUp(): Promise<void>;
}

/** The body of a streamed reply: what to run once the headers are out. */
export class StreamBody {
  constructor(
    readonly start: (stream: ResponseStream) => void,
    /** Written to make uWS flush when nothing is queued (see the file comment). Must be a no-op for the client. */
    readonly filler: string,
  ) {}
}

/**
 * A body read from an open file as it is sent (recordings, up to hundreds of MB): `length` bytes
 * from `start`, a chunk at a time, each read only when the client has taken the last, so a
 * response never holds more than one chunk in memory. The adapter closes `file` when the response
 * ends, whoever ends it.
 */
export class FileBody {
  constructor(
    readonly file: FileHandle,
    readonly start: number,
    readonly length: number,
  ) {}
}

/** `ResponseStream` over a uWS response whose status and headers are written. */
export class UwsResponseStream implements ResponseStream {
  #queue: string[] = [];
  #queuedBytes = 0;
  /** Size of the write uWS could not finish: what its buffer may still hold. */
  #inUws = 0;
  #behind = false;
  #writableSet = false;
  #closed = false;
  readonly #closeFns: (() => void)[] = [];
  #waiters: (() => void)[] = [];

  constructor(
    private readonly res: HttpResponse,
    private readonly filler: string,
  ) {}

  get bufferedBytes(): number {
    return this.#queuedBytes + (this.#behind ? this.#inUws : 0);
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(chunk: string): boolean {
    if (this.#closed) return false;
    if (this.#behind) {
      this.#queue.push(chunk);
      this.#queuedBytes += Buffer.byteLength(chunk);
      return false;
    }
    return this.#send(chunk);
  }

  #send(data: string): boolean {
    let ok = false;
    this.res.cork(() => (ok = this.res.write(data)));
    if (ok) {
      this.#behind = false;
      this.#inUws = 0;
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w();
      return true;
    }
    this.#behind = true;
    this.#inUws = Buffer.byteLength(data);
    if (!this.#writableSet) {
      this.#writableSet = true;
      this.res.onWritable(() => this.#onWritable());
    }
    return false;
  }

  #onWritable(): boolean {
    if (this.#closed || !this.#behind) return true;
    const data = this.#queue.length ? this.#queue.join('') : this.filler;
    this.#queue = [];
    this.#queuedBytes = 0;
    return this.#send(data);
  }

  caughtUp(): Promise<void> {
    if (this.#closed || !this.#behind) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  end(): void {
    if (this.#closed) return;
    this.res.cork(() => this.res.end());
    this.#finish();
  }

  close(): void {
    if (this.#closed) return;
    this.#finish();
    this.res.close();
  }

  onClose(fn: () => void): void {
    if (this.#closed) fn();
    else this.#closeFns.push(fn);
  }

  /** The client went away (uWS `onAborted`), or the server ended the stream. */
  aborted(): void {
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const w of this.#waiters) w();
    this.#waiters = [];
    for (const fn of this.#closeFns.splice(0)) fn();
  }
}
