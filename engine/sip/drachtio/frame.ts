/**
 * drachtio's framing on the control connection: `<length>#<body>`, where `<length>` is the
 * decimal byte length of `<body>`, with no separator between frames (drachtio-srf
 * lib/wire-protocol.js). Bodies are UTF-8.
 */

/** A frame larger than this closes the connection: no SIP message comes near it. */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** Digits allowed in the length prefix (7 digits covers MAX_FRAME_BYTES). */
const MAX_LENGTH_DIGITS = 7;
const HASH = 0x23; // '#'

export class FrameError extends Error {}

export function encodeFrame(body: string): string {
  return `${Buffer.byteLength(body, 'utf8')}#${body}`;
}

/**
 * Incremental decoder: push chunks as they arrive, get whole frame bodies back. Throws
 * `FrameError` on a malformed prefix or an oversized frame (the caller closes the connection).
 */
export class FrameDecoder {
  #buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): string[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    const out: string[] = [];
    for (;;) {
      const hash = this.#buf.indexOf(HASH);
      if (hash === -1) {
        if (this.#buf.length > MAX_LENGTH_DIGITS) throw new FrameError('missing length prefix');
        return out;
      }
      if (hash === 0 || hash > MAX_LENGTH_DIGITS) throw new FrameError('bad length prefix');
      let len = 0;
      for (let i = 0; i < hash; i++) {
        const d = this.#buf[i]! - 0x30;
        if (d < 0 || d > 9) throw new FrameError('length prefix is not a number');
        len = len * 10 + d;
      }
      if (len === 0 || len > MAX_FRAME_BYTES) throw new FrameError(`frame length ${len} out of range`);
      const end = hash + 1 + len;
      if (this.#buf.length < end) return out;
      out.push(this.#buf.toString('utf8', hash + 1, end));
      this.#buf = this.#buf.subarray(end);
    }
  }

  /** Bytes held waiting for the rest of a frame. */
  get pending(): number {
    return this.#buf.length;
  }
}
