/**
 * Sends raw bytes to a running SIP server over UDP or TCP and reports what came back: the first
 * final response (or the last provisional one), silence, or a closed connection. Then checks the
 * server is still alive with an OPTIONS (over TCP on a fresh connection, since a bad frame may
 * rightly close its own). Used by the RFC 4475 and the property tests.
 */
import { randomUUID } from 'node:crypto';
import type { SipResponse } from '../../engine/sip/message/message.js';
import { requestText } from './sip-text.js';
import { TcpPeer, UdpPeer, type Arrival } from './sip-peer.js';
import { sleep } from './timing.js';

export type Protocol = 'udp' | 'tcp';

export interface Outcome {
  /** The first final status, else the last provisional one, else null (nothing came back). */
  status: number | null;
  /** Every response received, in order. */
  responses: SipResponse[];
  /** TCP: the server closed the connection. */
  closed: boolean;
  /** Bytes that came back and did not parse as SIP. */
  junk: number;
}

interface ProbeOptions {
  /** How long to wait for a final response (ms). */
  finalMs?: number;
  /** How long silence must last to count as "dropped" (ms). */
  quietMs?: number;
  /** TCP: how long to wait, after the answer, for the server to close the connection (ms). */
  closeMs?: number;
}

const isFinal = (a: Arrival) => a.msg.kind === 'response' && a.msg.status >= 200;

async function settle(peer: UdpPeer | TcpPeer, closed: () => boolean, o: Required<ProbeOptions>): Promise<void> {
  const end = Date.now() + o.finalMs;
  let lastCount = -1;
  let quietSince = Date.now();
  while (Date.now() < end) {
    if (peer.received.some(isFinal) || closed()) return;
    if (peer.received.length !== lastCount) [lastCount, quietSince] = [peer.received.length, Date.now()];
    // Nothing at all for quietMs: dropped. A provisional response means a final one is coming.
    if (peer.received.length === 0 && Date.now() - quietSince >= o.quietMs) return;
    await sleep(10);
  }
}

function outcome(peer: UdpPeer | TcpPeer, closed: boolean): Outcome {
  const responses = peer.received.filter((a) => a.msg.kind === 'response').map((a) => a.msg as SipResponse);
  const final = responses.find((r) => r.status >= 200) ?? responses.at(-1);
  return { status: final?.status ?? null, responses, closed, junk: peer.unparsed.length };
}

/** Sends `bytes` from a fresh UDP socket. */
async function probeUdp(port: number, bytes: Buffer, opts: ProbeOptions = {}): Promise<Outcome> {
  const o = { finalMs: 4000, quietMs: 400, closeMs: 0, ...opts };
  const peer = await UdpPeer.open();
  try {
    await peer.send(bytes, port);
    await settle(peer, () => false, o);
    return outcome(peer, false);
  } finally {
    await peer.close();
  }
}

/** Sends `bytes` on a fresh TCP connection, then closes it. */
async function probeTcp(port: number, bytes: Buffer | Buffer[], opts: ProbeOptions = {}): Promise<Outcome> {
  const o = { finalMs: 4000, quietMs: 400, closeMs: 0, ...opts };
  const peer = await TcpPeer.connect(port);
  let closed = false;
  void peer.closed.then(() => (closed = true));
  try {
    for (const b of Array.isArray(bytes) ? bytes : [bytes]) if (!closed) await peer.send(b).catch(() => undefined);
    await settle(peer, () => closed, o);
    if (!closed && o.closeMs > 0) await Promise.race([peer.closed, sleep(o.closeMs)]);
    return outcome(peer, closed);
  } finally {
    peer.close();
  }
}

export function probe(protocol: Protocol, port: number, bytes: Buffer, opts?: ProbeOptions): Promise<Outcome> {
  return protocol === 'udp' ? probeUdp(port, bytes, opts) : probeTcp(port, bytes, opts);
}

/** An OPTIONS as a well-behaved peer sends it, for liveness checks. */
export function optionsRequest(protocol: Protocol, uri = 'sip:service@127.0.0.1'): Buffer {
  const transport = protocol === 'udp' ? 'UDP' : 'TCP';
  return Buffer.from(requestText({ method: 'OPTIONS', uri, branch: `z9hG4bK-live-${randomUUID()}`, callId: `live-${randomUUID()}`, viaPort: 5060, transport, rport: true }));
}

/** The status of an OPTIONS sent on a fresh socket or connection (200 when the server is alive). */
export async function liveness(protocol: Protocol, port: number): Promise<number | null> {
  return (await probe(protocol, port, optionsRequest(protocol), { finalMs: 4000, quietMs: 4000 })).status;
}

/** Sends an OPTIONS on an open connection and waits for its answer (null: none within `ms`). */
export async function optionsOn(peer: TcpPeer, ms = 4000): Promise<number | null> {
  const req = optionsRequest('tcp');
  const callId = /Call-ID: (\S+)/.exec(req.toString())![1]!;
  await peer.send(req);
  const a = await peer.waitFor((m) => m.kind === 'response' && m.headers.get('Call-ID') === callId && m.status >= 200, 1, ms).catch(() => null);
  return a ? (a.msg as SipResponse).status : null;
}
