/**
 * The open WebSocket and SSE connections, for the two things done to all of them: a heartbeat
 * (SSE comment, caller re-checked) on one shared timer, and closing them when the server stops.
 */

/** One open connection, as the registry sees it. */
export interface Connection {
  /** Every `heartbeatMs`: keep-alive and caller check. */
  heartbeat(): void;
  /** The server is stopping: end the connection cleanly (SSE end, WebSocket 1001). */
  shutdown(): void;
}

export class Connections {
  readonly #open = new Set<Connection>();
  readonly #timer: NodeJS.Timeout;

  constructor(heartbeatMs: number) {
    this.#timer = setInterval(() => {
      // One connection that throws does not cost the others their heartbeat; the error still
      // escapes afterwards, to the process-level policy (logged at fatal, counted).
      let first: unknown;
      for (const c of [...this.#open]) {
        try {
          c.heartbeat();
        } catch (err) {
          first ??= err;
        }
      }
      if (first !== undefined) throw first;
    }, heartbeatMs);
    this.#timer.unref();
  }

  get size(): number {
    return this.#open.size;
  }

  add(c: Connection): void {
    this.#open.add(c);
  }

  delete(c: Connection): void {
    this.#open.delete(c);
  }

  /** Ends every connection and stops the timer. */
  close(): void {
    clearInterval(this.#timer);
    for (const c of [...this.#open]) c.shutdown();
    this.#open.clear();
  }
}
