/**
 * A SIP peer's media side for tests: a real UDP socket on 127.0.0.1 that sends paced G.711 RTP
 * and records every datagram it gets back.
 */
import dgram from 'node:dgram';
import { g711Encode } from '../../media/audio/g711.js';
import { sine } from '../../media/audio/tone.js';
import { readRtpHeader, writeRtpPacket, type RtpHeader } from '../../media/rtp/packet.js';
import type { G711Name } from '../../media/sdp/types.js';

interface Received {
  header: RtpHeader;
  payload: Buffer;
  /** Whole datagram, header and extensions included. */
  size: number;
  from: { address: string; port: number };
  at: number;
}

interface StreamOptions {
  to: number;
  count: number;
  /** Packet interval, ms. */
  intervalMs?: number;
  payloadType?: number;
  ssrc?: number;
  /** First sequence number; later packets count up from it. */
  firstSequence?: number;
  /** Payload of packet i; a 440 Hz tone (μ-law) whose level moves every packet by default. */
  payload?: (i: number) => Buffer;
  signal?: AbortSignal;
}

/**
 * 20 ms of a 440 Hz tone, G.711-encoded, a little louder at each packet index so that every
 * payload is different and an echoed packet can be matched to the one sent.
 */
export function tonePayload(i: number, law: G711Name = 'PCMU'): Buffer {
  const pcm = sine(440, 20, { amplitude: 0.2 + (i % 300) * 0.002, phase: i * 0.55 });
  return g711Encode(law, pcm);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RtpPeer {
  readonly received: Received[] = [];
  readonly sent: Buffer[] = [];
  #waiters: (() => void)[] = [];

  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (msg, from) => {
      const header = readRtpHeader(msg);
      if (!header) return; // RTCP from the worker
      const payload = msg.subarray(header.payloadOffset, header.payloadOffset + header.payloadLength);
      this.received.push({ header, payload, size: msg.length, from: { address: from.address, port: from.port }, at: performance.now() });
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  static async open(): Promise<RtpPeer> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new RtpPeer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(to: number, packet: Buffer): void {
    this.sent.push(packet);
    this.socket.send(packet, to, '127.0.0.1');
  }

  /** Sends `count` RTP packets paced at `intervalMs` (drift-corrected), like a phone. */
  async stream(o: StreamOptions): Promise<number> {
    const interval = o.intervalMs ?? 20;
    const ssrc = o.ssrc ?? 0x1234abcd;
    const seq0 = o.firstSequence ?? 1000;
    const start = performance.now();
    let sent = 0;
    for (let i = 0; i < o.count; i++) {
      if (o.signal?.aborted) break;
      const payload = o.payload ? o.payload(i) : tonePayload(i);
      const packet = writeRtpPacket(
        { marker: i === 0, payloadType: o.payloadType ?? 0, sequence: seq0 + i, timestamp: 8000 + i * 160, ssrc },
        payload,
      );
      this.send(o.to, packet);
      sent++;
      const wait = start + (i + 1) * interval - performance.now();
      if (wait > 0) await sleep(wait);
    }
    return sent;
  }

  /**
   * Resolves once `n` RTP packets have arrived (from port `fromPort` of 127.0.0.1, when given), or
   * after `timeoutMs` with what there is.
   */
  async waitFor(n: number, timeoutMs = 5000, fromPort?: number): Promise<number> {
    const count = () => (fromPort === undefined ? this.received.length : this.receivedFrom(fromPort).length);
    const deadline = performance.now() + timeoutMs;
    while (count() < n && performance.now() < deadline) {
      await Promise.race([new Promise<void>((r) => this.#waiters.push(r)), sleep(Math.min(100, deadline - performance.now()))]);
    }
    return count();
  }

  /**
   * Packets from `port`: the peer's socket is on an ephemeral port, which another test process's
   * peer may have had a moment ago, and that process's leg may still be sending to it.
   */
  receivedFrom(port: number): Received[] {
    return this.received.filter((r) => r.from.port === port);
  }

  /** Packets received after `since` (performance.now() time). */
  receivedSince(since: number): Received[] {
    return this.received.filter((r) => r.at >= since);
  }

  close(): void {
    this.socket.close();
  }
}
