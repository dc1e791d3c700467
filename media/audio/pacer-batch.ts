/**
 * What the agent-audio thread tells the main thread about its streams, as one buffer per batch:
 * the packets it sent and received, how far each stream's queue got, and DTMF requests done.
 * At 150 agent calls that is 15,000 packets a second; as objects (a report per stream, arrays of
 * numbers, a buffer each) the structured clone, the transfers and the allocations cost more than
 * the packets themselves. Here a batch is records back to back in one transferred buffer:
 *
 *   sent      kind 1, stream u32, sequence u16, timestamp u32, at f64, size u16, payload
 *   received  kind 2, stream u32, size u16, packet
 *   consumed  kind 3, stream u32, frames u32
 *   dtmf      kind 4, stream u32, request u32, ok u8
 *
 * Numbers are little-endian. Records keep their order within a stream.
 */

const SENT = 1;
const RECEIVED = 2;
const CONSUMED = 3;
const DTMF = 4;

/** Receives one batch's records, stream by stream as they come. */
export interface BatchSink {
  /**
   * A frame of ours as sent: its RTP timestamp and sequence number, when it left (ms,
   * `process.hrtime`), and where its payload lies in `batch` (read it only when needed: most
   * streams have nobody listening for what was sent, and a view per frame is garbage).
   */
  sent(stream: number, timestamp: number, sequence: number, atMs: number, batch: Uint8Array, offset: number, size: number): void;
  /** A packet of the peer's, whole (RTP, as mediasoup sent it to the thread). */
  received(stream: number, packet: Buffer): void;
  /** Frames the stream was given that are no longer queued (sent or cleared). */
  consumed(stream: number, frames: number): void;
  dtmf(stream: number, request: number, ok: boolean): void;
}

/** The thread's side: records appended to a growing buffer, taken whole with `take`. */
export class BatchWriter {
  #buf: Buffer;
  #view: DataView;
  #len = 0;

  constructor(initialBytes = 64 * 1024) {
    this.#buf = Buffer.alloc(initialBytes);
    this.#view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
  }

  get empty(): boolean {
    return this.#len === 0;
  }

  sent(stream: number, payload: Uint8Array, timestamp: number, sequence: number, atMs: number): void {
    const at = this.#room(1 + 4 + 2 + 4 + 8 + 2 + payload.length);
    const v = this.#view;
    v.setUint8(at, SENT);
    v.setUint32(at + 1, stream, true);
    v.setUint16(at + 5, sequence, true);
    v.setUint32(at + 7, timestamp >>> 0, true);
    v.setFloat64(at + 11, atMs, true);
    v.setUint16(at + 19, payload.length, true);
    this.#buf.set(payload, at + 21);
  }

  received(stream: number, packet: Uint8Array): void {
    const at = this.#room(1 + 4 + 2 + packet.length);
    const v = this.#view;
    v.setUint8(at, RECEIVED);
    v.setUint32(at + 1, stream, true);
    v.setUint16(at + 5, packet.length, true);
    this.#buf.set(packet, at + 7);
  }

  consumed(stream: number, frames: number): void {
    const at = this.#room(1 + 4 + 4);
    this.#view.setUint8(at, CONSUMED);
    this.#view.setUint32(at + 1, stream, true);
    this.#view.setUint32(at + 5, frames >>> 0, true);
  }

  dtmf(stream: number, request: number, ok: boolean): void {
    const at = this.#room(1 + 4 + 4 + 1);
    this.#view.setUint8(at, DTMF);
    this.#view.setUint32(at + 1, stream, true);
    this.#view.setUint32(at + 5, request >>> 0, true);
    this.#view.setUint8(at + 9, ok ? 1 : 0);
  }

  /** The batch so far, in a buffer of its own (to transfer), and a fresh start. */
  take(): Uint8Array {
    const out = new Uint8Array(this.#len);
    out.set(this.#buf.subarray(0, this.#len));
    this.#len = 0;
    return out;
  }

  /** Reserves `n` bytes at the end, growing the buffer when needed; returns their offset. */
  #room(n: number): number {
    const at = this.#len;
    if (at + n > this.#buf.length) {
      const next = Buffer.alloc(Math.max(this.#buf.length * 2, at + n));
      next.set(this.#buf.subarray(0, at));
      this.#buf = next;
      this.#view = new DataView(next.buffer, next.byteOffset, next.byteLength);
    }
    this.#len = at + n;
    return at;
  }
}

/**
 * The main thread's side: hands every record of `batch` to `sink`, in order. A record that runs
 * past the end (which the writer never makes) ends the batch: what came before it stands.
 */
export function readBatch(batch: Uint8Array, sink: BatchSink): void {
  const v = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  const end = batch.byteLength;
  let at = 0;
  while (at + 5 <= end) {
    const kind = v.getUint8(at);
    const stream = v.getUint32(at + 1, true);
    if (kind === SENT) {
      if (at + 21 > end) return;
      const size = v.getUint16(at + 19, true);
      if (at + 21 + size > end) return;
      sink.sent(stream, v.getUint32(at + 7, true), v.getUint16(at + 5, true), v.getFloat64(at + 11, true), batch, at + 21, size);
      at += 21 + size;
    } else if (kind === RECEIVED) {
      if (at + 7 > end) return;
      const size = v.getUint16(at + 5, true);
      if (at + 7 + size > end) return;
      sink.received(stream, Buffer.from(batch.buffer, batch.byteOffset + at + 7, size));
      at += 7 + size;
    } else if (kind === CONSUMED) {
      if (at + 9 > end) return;
      sink.consumed(stream, v.getUint32(at + 5, true));
      at += 9;
    } else if (kind === DTMF) {
      if (at + 10 > end) return;
      sink.dtmf(stream, v.getUint32(at + 5, true), v.getUint8(at + 9) === 1);
      at += 10;
    } else return;
  }
}
