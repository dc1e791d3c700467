/**
 * Raw SIP peers for tests: a UDP socket and a TCP client that send hand-written SIP text and
 * record every message they receive, with its arrival time. No SIP logic of ours is involved in
 * what they send, so they can send anything (retransmissions, duplicates, garbage).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { DEFAULT_LIMITS, parseMessage } from '../../engine/sip/message/parser.js';
import { StreamFramer } from '../../engine/sip/message/stream-framer.js';
import type { SipMessage, SipRequest, SipResponse } from '../../engine/sip/message/message.js';

export interface Arrival {
  msg: SipMessage;
  raw: Buffer;
  /** performance.now() at arrival. */
  at: number;
  from: { address: string; port: number };
}

abstract class Recorder {
  readonly received: Arrival[] = [];
  /** Raw chunks that did not parse (kept for assertions on junk answers). */
  readonly unparsed: Buffer[] = [];
  #waiters: (() => void)[] = [];

  protected record(raw: Buffer, from: { address: string; port: number }): void {
    const at = performance.now();
    try {
      this.received.push({ msg: parseMessage(raw, { stream: false, limits: DEFAULT_LIMITS }), raw, at, from });
    } catch {
      this.unparsed.push(raw);
    }
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Messages received so far that match. */
  all(pred: (m: SipMessage) => boolean = () => true): Arrival[] {
    return this.received.filter((a) => pred(a.msg));
  }

  /** Waits until `n` matching messages arrived (default 1) and returns the n-th. */
  async waitFor(pred: (m: SipMessage) => boolean, n = 1, timeoutMs = 10_000): Promise<Arrival> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.all(pred);
      if (found.length >= n) return found[n - 1]!;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for message #${n}; got: ${this.received.map((a) => a.msg.startLine).join(' | ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

export const isResponse = (status: number, method?: string) => (m: SipMessage) =>
  m.kind === 'response' && m.status === status && (method === undefined || m.cseq.method === method);
export const isRequest = (method: string) => (m: SipMessage) => m.kind === 'request' && m.method === method;
export const asResponse = (a: Arrival) => a.msg as SipResponse;
export const asRequest = (a: Arrival) => a.msg as SipRequest;

/** A UDP socket on 127.0.0.1 (or another loopback address, to be another source). */
export class UdpPeer extends Recorder {
  private constructor(
    readonly socket: dgram.Socket,
    readonly port: number,
  ) {
    super();
    socket.on('message', (raw, rinfo) => this.record(raw, { address: rinfo.address, port: rinfo.port }));
  }

  static open(host = '127.0.0.1'): Promise<UdpPeer> {
    const socket = dgram.createSocket('udp4');
    return new Promise((resolve) => socket.bind(0, host, () => resolve(new UdpPeer(socket, socket.address().port))));
  }

  send(data: string | Buffer, port: number, host = '127.0.0.1'): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(typeof data === 'string' ? Buffer.from(data) : data, port, host, (e) => (e ? reject(e) : resolve())));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** A TCP client connection to the stack, framing what it receives like a SIP peer would. */
export class TcpPeer extends Recorder {
  readonly #framer = new StreamFramer(DEFAULT_LIMITS);
  /** Every byte received, for pong and junk assertions. */
  rawIn = Buffer.alloc(0);
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    super();
    socket.on('data', (chunk: Buffer) => {
      this.rawIn = Buffer.concat([this.rawIn, chunk]);
      for (const ev of this.#framer.push(chunk)) {
        if (ev.kind === 'message') this.record(ev.raw, { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 });
      }
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  }

  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<TcpPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host, ...(localAddress ? { localAddress } : {}) }, () => resolve(new TcpPeer(s)));
      s.once('error', reject);
    });
  }

  get localPort(): number {
    return this.socket.localPort ?? 0;
  }

  send(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (e) => (e ? reject(e) : resolve())));
  }

  close(): void {
    this.socket.destroy();
  }
}
