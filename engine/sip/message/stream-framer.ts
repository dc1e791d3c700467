/**
 * Cuts a byte stream (TCP, TLS) into SIP messages by Content-Length (RFC 3261 §18.3: "the
 * Content-Length header field MUST be used" on stream transports). Handles partial messages,
 * several messages in one chunk, CRLFs before a start line (§7.5: "MUST ignore any CRLF
 * appearing before the start-line") and RFC 5626 §3.5.1 keep-alives: a double CRLF "ping" is
 * reported so the connection can answer with a single CRLF "pong".
 *
 * Memory is bounded: no more than the header limit is held while looking for the end of the
 * headers, and no more than one message (headers + body limit) in all.
 */
import { SipParseError } from './errors.js';
import { findHeadEnd, parseHead, type ParseLimits } from './parser.js';
import { parseContentLength } from './scalar-headers.js';

export type FrameEvent =
  /** One whole message: headers, empty line and exactly Content-Length bytes of body. */
  | { kind: 'message'; raw: Buffer }
  /** A CRLFCRLF keep-alive ping (RFC 5626 §4.4.1); the receiver answers CRLF. */
  | { kind: 'ping' }
  /**
   * The stream cannot be framed any more (bad or missing Content-Length, headers too large...).
   * `head` is the header section when it could be cut out, to try a 400 before closing.
   */
  | { kind: 'error'; error: SipParseError; head?: Buffer };

export class StreamFramer {
  #buf: Buffer = Buffer.alloc(1024);
  #len = 0;
  /** Where the search for CRLFCRLF resumes (no byte is scanned twice). */
  #scanFrom = 0;
  /** Total length of the message being received, once its headers are known. */
  #need = -1;
  #failed = false;

  constructor(private readonly limits: ParseLimits) {}

  /** Bytes held for a message not yet complete. */
  get pendingBytes(): number {
    return this.#len;
  }

  /** Feeds a chunk; returns what it completes, in order. After an error, nothing more is read. */
  push(chunk: Buffer): FrameEvent[] {
    if (this.#failed) return [];
    this.#append(chunk);
    const out: FrameEvent[] = [];
    for (;;) {
      const ev = this.#next();
      if (!ev) break;
      out.push(ev);
      if (ev.kind === 'error') {
        this.#failed = true;
        this.#len = 0;
        break;
      }
    }
    return out;
  }

  #append(chunk: Buffer): void {
    if (this.#len + chunk.length > this.#buf.length) {
      const grown = Buffer.alloc(Math.max(this.#buf.length * 2, this.#len + chunk.length));
      this.#buf.copy(grown, 0, 0, this.#len);
      this.#buf = grown;
    }
    chunk.copy(this.#buf, this.#len);
    this.#len += chunk.length;
  }

  #consume(n: number): void {
    this.#buf.copy(this.#buf, 0, n, this.#len);
    this.#len -= n;
    // Give back the memory of a big message once it is gone.
    if (this.#len === 0 && this.#buf.length > 64 * 1024) this.#buf = Buffer.alloc(1024);
    this.#scanFrom = 0;
    this.#need = -1;
  }

  #next(): FrameEvent | null {
    const b = this.#buf;
    if (this.#need < 0) {
      // Keep-alives and stray CRLFs between messages.
      if (this.#len >= 4 && b[0] === 0x0d && b[1] === 0x0a && b[2] === 0x0d && b[3] === 0x0a) {
        this.#consume(4);
        return { kind: 'ping' };
      }
      if (this.#len >= 3 && b[0] === 0x0d && b[1] === 0x0a && b[2] !== 0x0d) {
        this.#consume(2);
        return this.#next();
      }
      if (this.#len < 4) return null;
      const end = findHeadEnd(b.subarray(0, this.#len), this.#scanFrom);
      if (end < 0) {
        if (this.#len > this.limits.maxHeaderBytes) {
          return { kind: 'error', error: new SipParseError('headers-too-large', `header section larger than ${this.limits.maxHeaderBytes} bytes`) };
        }
        this.#scanFrom = Math.max(0, this.#len - 3);
        return null;
      }
      const head = Buffer.from(b.subarray(0, end));
      let length: number;
      try {
        length = contentLength(head, this.limits);
      } catch (e) {
        return { kind: 'error', error: e as SipParseError, head };
      }
      if (length > this.limits.maxBodyBytes) {
        return { kind: 'error', error: new SipParseError('body-too-large', `body of ${length} bytes larger than ${this.limits.maxBodyBytes}`), head };
      }
      this.#need = end + 4 + length;
    }
    if (this.#len < this.#need) return null;
    const raw = Buffer.from(b.subarray(0, this.#need));
    this.#consume(this.#need);
    return { kind: 'message', raw };
  }
}

/** The Content-Length of a header section; missing or bad is an error on a stream (§18.3). */
function contentLength(head: Buffer, limits: ParseLimits): number {
  const { headers } = parseHead(head, limits);
  const values = headers.getAll('Content-Length');
  if (values.length === 0) throw new SipParseError('content-length', 'missing Content-Length on a stream transport', 'Content-Length');
  if (values.length > 1) throw new SipParseError('duplicate-header', 'more than one Content-Length', 'Content-Length');
  try {
    return parseContentLength(values[0]!);
  } catch (e) {
    throw new SipParseError('content-length', (e as Error).message, 'Content-Length');
  }
}
