/**
 * Each real-time connection's writes of one turn of the event loop, sent together at its end: the
 * WebSocket frames inside one uWS `cork()` (one system call while they fit its 16 KiB cork
 * buffer), the SSE blocks as one chunk. On loopback two thirds of a delivery's CPU is the
 * kernel's `send`, paid per system call, not per byte: five events published in one turn cost one
 * write per subscriber instead of five (bench/README.md, event-fanout).
 *
 * - A connection's texts leave in the order they were queued, and only through its batch (events,
 *   replayed events, command replies, errors), so the order is the publish order.
 * - One scheduled flush per turn of the loop for all connections (not one per connection), at
 *   `setImmediate`: after the loop's poll phase, so the events of every callback of that phase (SIP
 *   messages, HTTP requests, the awaits of call control) leave together. A microtask would write
 *   after each callback: the same cost for events published in one synchronous run, but none of
 *   the saving for events of separate callbacks (measured: 5 events per burst each from its own
 *   timer, 3.6x the deliveries per CPU-second with `setImmediate`, none with a microtask), and no
 *   latency the bench could see in exchange (bench/README.md, event-fanout 2026-12-05).
 * - A transport flushes at once before anything that must not wait behind a batch (a heartbeat,
 *   the end of a connection), and drops its batch when the connection is gone.
 * - A batch's writer owns its errors (a throwing send closes its client with a log line); the
 *   flush still logs anything that escapes one and goes on with the other connections.
 */
import type { Logger } from '../../config/logger.js';

/**
 * A replay stops adding to a batch past this many queued characters and waits for it to be
 * written: it bounds what one connection's batch holds, a few uWS cork buffers (16 KiB each).
 */
export const BATCH_HIGH_WATER = 64 * 1024;

/** Writes one connection's batch, its texts in queue order (`chars` is their total length). */
type WriteBatch = (texts: string[], chars: number) => void;

/** The scheduler shared by every connection of the app: one flush per turn for all batches due. */
export class TurnBatches {
  #due: TurnBatch[] = [];
  #scheduled = false;

  constructor(private readonly log: Logger) {}

  /** A new batch for one connection, written by `write`. */
  batch(write: WriteBatch): TurnBatch {
    return new TurnBatch(this, write);
  }

  /** `b` got its first text of the turn. */
  due(b: TurnBatch): void {
    this.#due.push(b);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    // Texts queued while this runs (a write that publishes) are due in the next flush.
    const due = this.#due;
    this.#due = [];
    for (const b of due) {
      try {
        b.flush();
      } catch (err) {
        this.log.error({ err }, 'realtime batch write threw');
      }
    }
  };
}

/** One connection's texts queued in the current turn. */
export class TurnBatch {
  #texts: string[] = [];
  #chars = 0;
  #dropped = false;

  constructor(
    private readonly turns: TurnBatches,
    private readonly write: WriteBatch,
  ) {}

  /** Characters queued (UTF-16 code units: a lower bound of the bytes). */
  get chars(): number {
    return this.#chars;
  }

  /** Queues `text` for the end of the turn. Ignored once dropped. */
  push(text: string): void {
    if (this.#dropped) return;
    if (this.#texts.length === 0) this.turns.due(this);
    this.#texts.push(text);
    this.#chars += text.length;
  }

  /** Writes what is queued now (before a heartbeat or a close), in one write. */
  flush(): void {
    if (this.#texts.length === 0) return;
    const texts = this.#texts;
    const chars = this.#chars;
    this.#texts = [];
    this.#chars = 0;
    this.write(texts, chars);
  }

  /** The connection is gone: forget what is queued, and queue nothing more. */
  drop(): void {
    this.#dropped = true;
    this.#texts = [];
    this.#chars = 0;
  }
}
