/**
 * A tiny UDP relay that injects faults for real: each datagram between a client and a server can
 * be passed, dropped or duplicated by a policy. The client sends to `port`; the relay forwards
 * from its own second socket to the server, and sends the server's replies back to the client.
 */
import dgram from 'node:dgram';
import { DEFAULT_LIMITS, parseMessage } from '../../engine/sip/message/parser.js';
import type { SipMessage } from '../../engine/sip/message/message.js';

export type Direction = 'to-server' | 'to-client';
export type Verdict = 'pass' | 'drop' | 'dup';
export type Policy = (msg: SipMessage | null, dir: Direction, raw: Buffer) => Verdict;

interface ProxyLogEntry {
  dir: Direction;
  verdict: Verdict;
  line: string;
}

export class UdpProxy {
  readonly log: ProxyLogEntry[] = [];
  #client: { address: string; port: number } | undefined;

  private constructor(
    private readonly front: dgram.Socket,
    private readonly back: dgram.Socket,
    private readonly server: { address: string; port: number },
    private readonly policy: Policy,
  ) {
    front.on('message', (raw, rinfo) => {
      this.#client = { address: rinfo.address, port: rinfo.port };
      this.#relay(raw, 'to-server', back, server);
    });
    back.on('message', (raw) => {
      if (this.#client) this.#relay(raw, 'to-client', front, this.#client);
    });
  }

  static async start(server: { address: string; port: number }, policy: Policy): Promise<UdpProxy> {
    const bind = () =>
      new Promise<dgram.Socket>((resolve) => {
        const s = dgram.createSocket('udp4');
        s.bind(0, '127.0.0.1', () => resolve(s));
      });
    return new UdpProxy(await bind(), await bind(), server, policy);
  }

  /** The port clients send to. */
  get port(): number {
    return this.front.address().port;
  }

  #relay(raw: Buffer, dir: Direction, via: dgram.Socket, to: { address: string; port: number }): void {
    let msg: SipMessage | null = null;
    try {
      msg = parseMessage(raw, { stream: false, limits: DEFAULT_LIMITS });
    } catch {
      msg = null;
    }
    const verdict = this.policy(msg, dir, raw);
    this.log.push({ dir, verdict, line: msg ? `${msg.startLine} (${msg.cseq.method})` : '<unparsable>' });
    if (verdict === 'drop') return;
    via.send(raw, to.port, to.address);
    if (verdict === 'dup') via.send(raw, to.port, to.address);
  }

  /** Log lines of one direction and verdict, e.g. every dropped 200. */
  count(dir: Direction, verdict: Verdict, line: RegExp): number {
    return this.log.filter((e) => e.dir === dir && e.verdict === verdict && line.test(e.line)).length;
  }

  async close(): Promise<void> {
    await Promise.all([new Promise<void>((r) => this.front.close(() => r())), new Promise<void>((r) => this.back.close(() => r()))]);
  }
}
