/**
 * A small RFC 6455 client over a plain TCP socket, for tests: Node 20 has no WebSocket without a
 * flag, and a test needs what a browser hides anyway (headers on the upgrade, the refusal's status
 * and body, binary and malformed frames, a reader that stops reading).
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

export interface Refusal {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The upgrade was answered with something else than 101. */
export class UpgradeRefused extends Error {
  constructor(readonly response: Refusal) {
    super(`upgrade refused: ${response.status}`);
  }
}

export interface Closed {
  code: number | null;
  reason: string;
}

/** A frame as the server sent it: JSON text parsed. */
export type Frame = Record<string, unknown> & { type: string };

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export class WsClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<Closed>;
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  #resolveClosed!: (c: Closed) => void;
  #closedWith: Closed | null = null;
  #reqId = 0;

  private constructor(private readonly socket: net.Socket, rest: Buffer) {
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    socket.on('data', (d: Buffer) => this.#onData(d));
    socket.on('close', () => this.#finish({ code: null, reason: 'socket closed' }));
    socket.on('error', () => undefined);
    if (rest.length) this.#onData(rest);
  }

  /** Opens `ws://127.0.0.1:<port><path>`; throws `UpgradeRefused` on any answer but 101. */
  static connect(port: number, headers: Record<string, string> = {}, path = '/api/v1/ws'): Promise<WsClient> {
    const key = randomBytes(16).toString('base64');
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let head = Buffer.alloc(0);
      const onData = (d: Buffer) => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = head.subarray(0, end).toString().split('\r\n');
        const status = Number(lines[0]!.split(' ')[1]);
        const h: Record<string, string> = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          h[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        const rest = head.subarray(end + 4);
        if (status !== 101) {
          // A refusal: read its body (Content-Length) and give up.
          const length = Number(h['content-length'] ?? 0);
          const collect = (body: Buffer) => {
            if (body.length < length) return false;
            socket.off('data', onData);
            socket.destroy();
            reject(new UpgradeRefused({ status, headers: h, body: body.subarray(0, length).toString() }));
            return true;
          };
          if (!collect(rest)) {
            let body = rest;
            socket.off('data', onData);
            socket.on('data', (more: Buffer) => collect((body = Buffer.concat([body, more]))));
          }
          return;
        }
        const accept = createHash('sha1').update(key + GUID).digest('base64');
        socket.off('data', onData);
        if (h['sec-websocket-accept'] !== accept) {
          socket.destroy();
          reject(new Error('bad Sec-WebSocket-Accept'));
          return;
        }
        resolve(new WsClient(socket, rest));
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.once('connect', () => {
        const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
        );
      });
    });
  }

  /** Sends a JSON frame (an object) or raw text. */
  send(frame: unknown): void {
    this.#write(0x1, Buffer.from(typeof frame === 'string' ? frame : JSON.stringify(frame)));
  }

  /** Sends a text frame of these exact bytes (which need not be UTF-8). */
  sendTextBytes(data: Buffer): void {
    this.#write(0x1, data);
  }

  sendBinary(data: Buffer): void {
    this.#write(0x2, data);
  }

  /** Sends a frame with a fresh request id and waits for its reply or error. */
  async request(frame: Record<string, unknown>, timeoutMs = 10_000): Promise<Frame> {
    const id = frame.id ?? `r${++this.#reqId}`;
    const from = this.frames.length;
    this.send({ ...frame, id });
    return this.waitFor((f) => (f.type === 'reply' || f.type === 'error') && f.id === id, timeoutMs, from);
  }

  /** The first frame from index `from` on that `pred` takes. */
  async waitFor(pred: (f: Frame) => boolean, timeoutMs = 10_000, from = 0): Promise<Frame> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.frames.slice(from).find(pred);
      if (hit) return hit;
      if (this.#closedWith) throw new Error(`closed (${JSON.stringify(this.#closedWith)}) before the frame arrived`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no such frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(from))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Event frames received so far (their `event` objects). */
  events(): { id: number; type: string; callId: string | null; data: Record<string, unknown> }[] {
    return this.frames.filter((f) => f.type === 'event').map((f) => f.event as never);
  }

  /** Stops reading from the socket (the server's data piles up in the kernel, then in uWS). */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(code = 1000): Promise<Closed> {
    if (!this.#closedWith) {
      const body = Buffer.alloc(2);
      body.writeUInt16BE(code);
      this.#write(0x8, body);
    }
    return this.closed;
  }

  /** Drops the TCP connection without a close frame. */
  destroy(): void {
    this.socket.destroy();
  }

  #write(opcode: number, payload: Buffer): void {
    if (this.socket.destroyed) return;
    const mask = randomBytes(4);
    const len = payload.length;
    const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    if (len >= 126 && len < 65536) {
      head[0] = 0x80 | opcode;
      head[1] = 0x80 | 126;
      head.writeUInt16BE(len, 2);
    } else if (len >= 65536) {
      head[0] = 0x80 | opcode;
      head[1] = 0x80 | 127;
      head.writeBigUInt64BE(BigInt(len), 2);
    }
    const masked = Buffer.from(payload);
    for (let i = 0; i < masked.length; i++) masked[i]! ^= mask[i % 4]!;
    this.socket.write(Buffer.concat([head, mask, masked]));
  }

  #onData(d: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, d]);
    for (;;) {
      if (this.#buf.length < 2) return;
      const opcode = this.#buf[0]! & 0x0f;
      let len = this.#buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.#buf.length < 4) return;
        len = this.#buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.#buf.length < 10) return;
        len = Number(this.#buf.readBigUInt64BE(2));
        off = 10;
      }
      if (this.#buf.length < off + len) return;
      const payload = this.#buf.subarray(off, off + len);
      this.#buf = this.#buf.subarray(off + len);
      this.#frame(opcode, Buffer.from(payload));
    }
  }

  #frame(opcode: number, payload: Buffer): void {
    if (opcode === 0x1) {
      this.frames.push(JSON.parse(payload.toString()) as Frame);
    } else if (opcode === 0x8) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : null;
      this.#finish({ code, reason: payload.subarray(2).toString() });
      this.socket.end();
    } else if (opcode === 0x9) {
      this.#write(0xa, payload);
    }
    for (const w of this.#waiters.splice(0)) w();
  }

  #finish(c: Closed): void {
    if (this.#closedWith) return;
    this.#closedWith = c;
    this.#resolveClosed(c);
    for (const w of this.#waiters.splice(0)) w();
  }
}
