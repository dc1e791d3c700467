/**
 * What the caller sends the agent (key presses, finished utterances), queued until a step reads
 * it: a key pressed during a prompt is kept for the gather that follows (type-ahead).
 */

/** The most items kept unread: a caller leaning on a key cannot grow memory. */
const MAX_ITEMS = 256;

export class Inbox<T> {
  readonly #items: T[] = [];
  #waiter: ((item: T | null) => void) | null = null;

  push(item: T): void {
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = null;
      w(item);
      return;
    }
    if (this.#items.length >= MAX_ITEMS) this.#items.shift();
    this.#items.push(item);
  }

  /** Drops what is unread. */
  clear(): void {
    this.#items.length = 0;
  }

  /** The next item, or null when `timeoutMs` passes or `signal` aborts first. One reader at a time. */
  next(timeoutMs: number, signal: AbortSignal): Promise<T | null> {
    if (this.#items.length) return Promise.resolve(this.#items.shift()!);
    if (signal.aborted) return Promise.resolve(null);
    return new Promise((resolve) => {
      const finish = (item: T | null) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (this.#waiter === finish) this.#waiter = null;
        resolve(item);
      };
      const onAbort = () => finish(null);
      const timer = setTimeout(() => finish(null), timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiter = finish;
    });
  }
}
