/**
 * RTP ports of one worker slot. A SIP leg's port is first bound in Node (to learn the peer's SSRC
 * from its first packet), then handed to the mediasoup worker at the same number, so the leg's
 * port is chosen here rather than by mediasoup, from a range mediasoup never picks from (see
 * worker-pool.ts). Only even ports are given out (RFC 3550 §11: RTP
 * on an even port, RTCP on the next odd one), so a peer's RTCP sent to port + 1 never lands on
 * another leg's RTP port.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { isIP } from 'node:net';

/** Bind failures tolerated before giving up on a range that looks full. */
const maxBindFailures = 64;

/** Binds a UDP socket on ip:port; rejects with the bind error (EADDRINUSE, ...). */
export function bindUdp(ip: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({ type: isIP(ip) === 6 ? 'udp6' : 'udp4' });
    const onError = (err: Error) => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    socket.bind({ address: ip, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

export function closeUdp(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

export class RtpPorts {
  readonly #held = new Set<number>();
  readonly #first: number;
  readonly #count: number;

  constructor(min: number, max: number) {
    this.#first = min + (min % 2);
    this.#count = Math.max(0, Math.floor((max - this.#first) / 2) + 1);
  }

  /** Ports held by legs of this slot. */
  get held(): number {
    return this.#held.size;
  }

  /**
   * Binds a Node socket on a free even port and holds the number until `release`. With `port`,
   * binds that one (a leg taking its port back from the worker), retrying briefly while the
   * worker lets go of it. Rejects when no port can be bound.
   */
  async bind(ip: string, port?: number): Promise<dgram.Socket> {
    if (port !== undefined) return this.#rebind(ip, port);
    let failures = 0;
    const start = randomInt(0, Math.max(1, this.#count));
    for (let i = 0; i < this.#count && failures < maxBindFailures; i++) {
      const p = this.#first + ((start + i) % this.#count) * 2;
      if (this.#held.has(p)) continue;
      this.#held.add(p);
      try {
        return await bindUdp(ip, p);
      } catch {
        this.#held.delete(p);
        failures++;
      }
    }
    throw new Error(`no free RTP port in ${this.#first}-${this.#first + (this.#count - 1) * 2}`);
  }

  async #rebind(ip: string, port: number): Promise<dgram.Socket> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        return await bindUdp(ip, port);
      } catch (e) {
        lastError = e;
        await new Promise((r) => setTimeout(r, 10 * (attempt + 1)));
      }
    }
    throw lastError;
  }

  release(port: number): void {
    this.#held.delete(port);
  }
}
