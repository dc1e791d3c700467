/**
 * Symmetric RTP latching (RFC 4961; "comedia"): the peer's first RTP packet tells where it really
 * sends from (its address behind NAT) and which SSRC it uses. mediasoup 3.12 cannot create a
 * Producer without knowing the SSRC, so the leg's port is held by a Node socket until this
 * first packet, then handed to the worker. Only this packet goes through Node.
 */
import type dgram from 'node:dgram';
import { readRtpHeader } from './packet.js';

export interface Latch {
  /** Where the peer's RTP comes from: where ours goes. */
  ip: string;
  port: number;
  /** The peer's SSRC; null when nothing came and we send to the SDP's address instead. */
  ssrc: number | null;
  payloadType: number | null;
  /** RTP packets and bytes Node received while waiting, the latching one included. */
  packets: number;
  bytes: number;
  at: number;
}

/**
 * Resolves with the first RTP packet on `socket` whose payload type `accept`s; RTCP, STUN and
 * other payload types are ignored. Rejects with the signal's reason when aborted.
 */
export function awaitFirstRtp(socket: dgram.Socket, accept: (payloadType: number) => boolean, signal: AbortSignal): Promise<Latch> {
  return new Promise((resolve, reject) => {
    let packets = 0;
    let bytes = 0;
    const done = () => {
      socket.off('message', onMessage);
      signal.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      done();
      reject(signal.reason);
    };
    const onMessage = (msg: Buffer, from: dgram.RemoteInfo) => {
      const h = readRtpHeader(msg);
      if (!h || !accept(h.payloadType)) return;
      packets++;
      bytes += msg.length;
      done();
      resolve({ ip: from.address, port: from.port, ssrc: h.ssrc, payloadType: h.payloadType, packets, bytes, at: Date.now() });
    };
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', onAbort);
    socket.on('message', onMessage);
  });
}

/**
 * The target when the peer has not sent anything: the address and port its SDP gives
 * (RFC 3264 §5.1, "the address and port to which the offerer wishes to receive media").
 */
export function sdpTarget(address: string, port: number): Latch {
  return { ip: address, port, ssrc: null, payloadType: null, packets: 0, bytes: 0, at: Date.now() };
}
