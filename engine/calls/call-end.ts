/** The answer and the end of a call, in the store and the event log (inbound and outbound calls alike). */
import type { CallLeg } from '../../media/call-leg.js';
import type { EventLog } from '../events/event-log.js';
import type { Store } from '../store/store.js';
import type { Call } from './call.js';
import type { EndReason } from './call-record.js';

/** Leg close reasons that end the call (the media is gone), with the end reason they give. */
export const endByLegClose: Readonly<Record<string, EndReason>> = {
  media_worker_died: 'media_worker_died',
  media_error: 'media_error',
  media_port_lost: 'media_error',
  ice_failed: 'ice_failed',
  ice_disconnected: 'ice_disconnected',
  dtls_failed: 'dtls_failed',
  dtls_closed: 'dtls_closed',
};

/**
 * Ends `call` when `leg` closes on its own (a dead worker, a browser gone or hung up without a
 * BYE), not when the call's own end closed it. `party` is whose leg it is: a browser that closes
 * its peer connection hung up (`dtls_closed`, unless its BYE follows within 2 s); every other
 * cause is the system's, at once.
 */
export function endWithLeg(call: Call, leg: CallLeg, party: 'caller' | 'callee'): void {
  leg.on('close', (reason) => {
    const end = endByLegClose[reason];
    if (!end || call.ended) return;
    if (end !== 'dtls_closed') return void call.end({ reason: end, hangupBy: 'system' });
    // A browser hanging up sends its BYE and closes its peer connection at once; the DTLS close
    // often arrives first. The BYE, if one comes, says how the call ended.
    const wait = setTimeout(() => {
      if (!call.ended) call.end({ reason: end, hangupBy: party });
    }, BYE_AFTER_DTLS_CLOSE_MS);
    call.signal.addEventListener('abort', () => clearTimeout(wait), { once: true });
  });
}

/** How long a BYE may trail a browser's DTLS close before the call is ended `dtls_closed`. */
const BYE_AFTER_DTLS_CLOSE_MS = 2000;

/** Records that `call` (just moved to `answered`) was answered, and announces it, in one transaction. */
export function recordAnswered(deps: { store: Store; events: EventLog }, call: Call): void {
  const scope = { tenantId: call.identity.tenantId, mode: call.identity.mode, callId: call.id };
  const answeredAt = call.answeredAt!.toISOString();
  deps.events.transaction(() => {
    deps.store.calls.markAnswered(call.id, answeredAt);
    deps.events.append('call.answered', scope, { callId: call.id, agentId: call.identity.agentId, answeredAt });
  });
}

/**
 * Records a call's end and announces it, inbound or outbound: the row closed with its status
 * (`Call.outcome`), reason, media counters, transcript and metrics (and the final SIP status of
 * an outbound INVITE), then `call.ended`, in one transaction. Runs once, from the call's `ended`
 * event; the leg's last counters are read, then it closes.
 */
export async function recordEnd(deps: { store: Store; events: EventLog }, call: Call, leg: CallLeg | undefined, sipCode: () => number | null = () => null): Promise<void> {
  const info = call.endInfo!;
  const scope = { tenantId: call.identity.tenantId, mode: call.identity.mode, callId: call.id };
  const endedAt = (call.endedAt ?? new Date()).toISOString();
  const code = sipCode();
  const write = (rtp: Record<string, number>) => {
    deps.events.transaction(() => {
      deps.store.calls.end(call.id, {
        status: call.outcome!,
        at: endedAt,
        reason: info.reason,
        hangupBy: info.hangupBy,
        sipCode: code,
        rtpStats: rtp,
        ...(call.transcript.length ? { transcript: call.transcript } : {}),
        ...(Object.keys(call.metrics).length ? { metrics: call.metrics } : {}),
      });
      deps.events.append('call.ended', scope, {
        callId: call.id,
        agentId: call.identity.agentId,
        endReason: info.reason,
        hangupBy: info.hangupBy,
        durationMs: call.durationMs,
        rtp,
        ...(code === null ? {} : { sipCode: code }),
      });
    });
    // One lifecycle line per call (transitions are at debug).
    call.log.info({ endReason: info.reason, hangupBy: info.hangupBy, durationMs: call.durationMs, rtp }, 'call ended');
  };
  if (!leg) return write({});
  // The leg's last counters go into the record. They are asked for before the leg closes, in the
  // same turn: the worker answers requests in order, so the counters come back before the
  // transport goes, and the three requests reach it in one write.
  const stats = leg.stats();
  leg.close('call ended');
  let rtp: Record<string, number> = {};
  try {
    // The store's names are the engine's view: received from the caller, sent to the caller.
    const s = await stats;
    rtp = { packetsReceived: s.rtpPacketsIn, packetsSent: s.rtpPacketsOut, bytesReceived: s.bytesIn, bytesSent: s.bytesOut };
  } catch {
    // the leg's worker is gone: no counters to keep
  }
  write(rtp);
}
