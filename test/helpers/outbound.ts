/**
 * What the outbound-call tests share (calls through a trunk, calls to a registered SIP user):
 * SIPp as the called side on a chosen UDP port, its trace read back as timed message blocks, and
 * the check that a finished call left no leg, port, live call or queued call behind.
 */
import dgram from 'node:dgram';
import type { ExecutionContext } from 'ava';
import { waitFor } from './http.js';
import { scenario, type InboundSetup } from './inbound.js';
import { runSipp, type SippResult } from './sipp.js';

/** Starts SIPp as a UAS on `port` with a scenario of test/engine/calls/scenarios, and resolves once it listens. */
export async function sippUas(port: number, file: string, vars: Record<string, string | number>, calls = 1): Promise<{ done: Promise<SippResult> }> {
  const done = runSipp({ transport: 'u1', target: '127.0.0.1:9', scenario: scenario(file, vars), args: ['-p', String(port)], calls, timeoutSeconds: 40 });
  await waitFor(() => udpBound(port), 5000, 20);
  // Wrapped: an async function returning the promise itself would wait for SIPp to finish.
  return { done };
}

/** Whether something holds UDP `port` on loopback (SIPp is up). */
export function udpBound(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', () => resolve(true));
    sock.bind({ address: '127.0.0.1', port, exclusive: true }, () => sock.close(() => resolve(false)));
  });
}

/** SIPp's trace as message blocks, each with its time (SIPp prints it on the separator line). */
export function traceBlocks(r: SippResult): { at: number; text: string }[] {
  const out: { at: number; text: string }[] = [];
  const parts = r.messages.split(/^(-{10,}.*)$/m);
  for (let i = 1; i < parts.length; i += 2) {
    const m = /(\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d(?:\.\d+)?)/.exec(parts[i]!);
    out.push({ at: m ? Date.parse(`${m[1]}T${m[2]}Z`) : NaN, text: parts[i + 1] ?? '' });
  }
  return out;
}

/** The requests of `method` SIPp received, in order. */
export const receivedRequests = (r: SippResult, method: string) =>
  traceBlocks(r).filter((b) => /message received/.test(b.text) && new RegExp(`^\\s*${method} `, 'm').test(b.text));

/** After a call ended: no media leg or port, no live call, nothing queued or dialling. */
export async function nothingLeft(t: ExecutionContext, s: InboundSetup): Promise<void> {
  await waitFor(() => s.app.engine.mediaService.stats().legs === 0, 5000);
  t.deepEqual(s.app.engine.mediaService.stats(), { legs: 0, portsHeld: 0 });
  t.is(s.app.engine.calls.activeCalls, 0);
  t.is(s.app.engine.calls.outbound.size, 0);
}
