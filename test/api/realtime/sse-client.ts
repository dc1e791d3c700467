/**
 * An EventSource-like reader for tests, on fetch: it parses the stream as the HTML standard says
 * (fields `id`, `event`, `data`, `retry`; lines starting with `:` are comments; a blank line ends
 * a message) and keeps everything it saw, comments included.
 */

export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

export class SseStream {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  retry: number | undefined;
  /** Set once the server ended the stream or the connection dropped. */
  ended = false;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #waiters: (() => void)[] = [];
  #pending = '';
  #block: Partial<SseMessage> & { data?: string } = {};

  private constructor(readonly response: Response) {
    this.#reader = response.body!.getReader();
    void this.#pump();
  }

  /** Opens the stream; a non-200 answer is returned as the response, with no stream. */
  static async open(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers } });
    return new SseStream(res);
  }

  get status(): number {
    return this.response.status;
  }

  /** Event ids received, as numbers. */
  ids(): number[] {
    return this.messages.map((m) => Number(m.id));
  }

  /** The events' parsed data. */
  events(): { id: number; type: string; callId: string | null; mode: string; tenantId: string; data: Record<string, unknown> }[] {
    return this.messages.map((m) => JSON.parse(m.data) as never);
  }

  /** Waits until `cond()` holds. */
  async until(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!cond()) {
      const left = end - Date.now();
      if (left <= 0 || this.ended) {
        if (cond()) return;
        throw new Error(`${what} not met within ${timeoutMs} ms (ended: ${this.ended}); messages ${JSON.stringify(this.messages.map((m) => m.id))}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Waits until `n` messages have arrived. */
  count(n: number, timeoutMs = 10_000): Promise<void> {
    return this.until(() => this.messages.length >= n, timeoutMs, `${n} messages`);
  }

  /** Closes the connection from the client's side. */
  async close(): Promise<void> {
    await this.#reader.cancel().catch(() => undefined);
  }

  async #pump(): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await this.#reader.read();
        if (done) break;
        this.#feed(decoder.decode(value, { stream: true }));
      }
    } catch {
      // the connection dropped
    }
    this.ended = true;
    this.#wake();
  }

  #feed(text: string): void {
    this.#pending += text;
    let nl: number;
    while ((nl = this.#pending.search(/\r\n|\n|\r/)) >= 0) {
      const line = this.#pending.slice(0, nl);
      this.#pending = this.#pending.slice(nl + (this.#pending.startsWith('\r\n', nl) ? 2 : 1));
      this.#line(line);
    }
    this.#wake();
  }

  #line(line: string): void {
    if (line === '') {
      const b = this.#block;
      this.#block = {};
      if (b.data !== undefined) this.messages.push({ id: b.id, event: b.event ?? 'message', data: b.data });
      return;
    }
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1).trim());
      return;
    }
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'data') this.#block.data = this.#block.data === undefined ? value : `${this.#block.data}\n${value}`;
    else if (field === 'id') this.#block.id = value;
    else if (field === 'event') this.#block.event = value;
    else if (field === 'retry') this.retry = Number(value);
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}
