/**
 * A connected pair of sockets in one process, for drachtio's control connection when drachtio-srf
 * and the embedded server share an event loop: the bytes of the wire protocol go from one end's
 * `write` to the other end's `data` without the kernel's loopback TCP.
 *
 * Each end is a `net.Socket` without a handle, because drachtio-srf checks
 * `socket instanceof net.Socket` before every request (lib/drachtio-agent.js `typeSocket`). The
 * stream machinery is net.Socket's own (Duplex): only the five places where it would touch a
 * handle are replaced (`_write`, `_writev`, `_final`, `_read`, `_destroy`).
 *
 * Delivery is never synchronous: what one end writes during a turn of the event loop reaches the
 * other end in one chunk on the next `setImmediate`, as a loopback TCP read would (a reply must
 * never run inside the call that sent the request: drachtio-srf registers its reply callback
 * after `write` returns). Measured against delivery from a microtask (2026-12-05, SIPp at 100
 * calls/s through the engine, 16 alternated pairs of rounds): the microtask brought INVITE -> 200
 * p99 down (medians 15.1 against 18.6 ms) but the event loop's delay up in 7 of the 8 pairs that
 * measured it (p99 6.8-19.8 against 4.2-16.0 ms, max 28-157 against 16-72 ms): a message's whole
 * path then runs without a turn for timers or other sockets. The next turn keeps the loop
 * responsive.
 *
 * Bytes keep their order; an end's `end()` or `destroy()` reaches the other end as EOF after
 * everything written before it, and the other end then closes too (`allowHalfOpen` is false, as
 * on the TCP connection).
 */
import net from 'node:net';

/** What `remoteAddress` and `localAddress` say: the peer is this process. */
const LOOPBACK = '127.0.0.1';

export class InProcessSocket extends net.Socket {
  #peer: InProcessSocket | null = null;
  /** Written and not yet delivered to the peer, in order. */
  #outbox: (string | Buffer)[] = [];
  #flushScheduled = false;
  /** This end finished writing (end or destroy): the peer gets EOF after the outbox. */
  #eof = false;
  #eofSent = false;

  /** Two connected ends: `[client, server]`. The client end emits `connect` on the next tick. */
  static pair(): [InProcessSocket, InProcessSocket] {
    const client = new InProcessSocket();
    const server = new InProcessSocket();
    client.#peer = server;
    server.#peer = client;
    process.nextTick(() => {
      if (!client.destroyed) client.emit('connect');
    });
    return [client, server];
  }

  override _write(chunk: string | Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#outbox.push(chunk);
    this.#schedule();
    cb();
  }

  override _writev(chunks: { chunk: string | Buffer }[], cb: (err?: Error | null) => void): void {
    for (const c of chunks) this.#outbox.push(c.chunk);
    this.#schedule();
    cb();
  }

  /** `end()`: no handle to shut down; the peer gets EOF after what was written. */
  override _final(cb: (err?: Error | null) => void): void {
    this.#eof = true;
    this.#schedule();
    cb();
  }

  /** Data is pushed by the peer, never pulled. */
  override _read(): void {}

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#eof = true;
    this.#schedule();
    super._destroy(err, cb);
  }

  #schedule(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = false;
    const peer = this.#peer;
    const chunks = this.#outbox;
    this.#outbox = [];
    // A peer that is gone reads nothing more (a TCP peer that closed would answer RST).
    if (!peer || peer.destroyed || peer.readableEnded) return;
    if (chunks.length) peer.push(join(chunks));
    if (this.#eof && !this.#eofSent && !peer.destroyed) {
      this.#eofSent = true;
      peer.push(null);
    }
  }
}

function join(chunks: (string | Buffer)[]): Buffer {
  if (chunks.length === 1) {
    const c = chunks[0]!;
    return typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
  }
  if (chunks.every((c) => typeof c === 'string')) return Buffer.from(chunks.join(''), 'utf8');
  return Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c)));
}

// net.Socket declares these as properties read from the handle; without one they would be
// undefined. drachtio-srf reports `remoteAddress` as the server's address (`req.server.address`).
Object.defineProperties(InProcessSocket.prototype, {
  remoteAddress: { get: () => LOOPBACK },
  remoteFamily: { get: () => 'IPv4' },
  remotePort: { get: () => 0 },
  localAddress: { get: () => LOOPBACK },
  localPort: { get: () => 0 },
});
