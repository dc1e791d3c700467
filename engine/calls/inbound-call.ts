/**
 * An inbound INVITE from a trunk, on drachtio-srf: route it (trunk, number, agent), answer it
 * with a mediasoup leg's SDP, and carry it until either side hangs up, a timer reaps it, or its
 * media worker dies. The ladder: 100 Trying (sent by the SIP server), optional 180, 200 + SDP.
 */
import type Srf from 'drachtio-srf';
import type { Logger } from '../../config/logger.js';
import type { EventLog } from '../events/event-log.js';
import { Call, type EndInfo } from './call.js';
import type { InboundAuth } from './inbound-auth.js';
import { hangup, takeAnswer, wireDialog } from './in-dialog.js';
import { routeInvite, tenantOfDialled, type Refusal } from './inbound-route.js';
import { NoCommonCodecError, SdpError } from '../../media/errors.js';
import type { MediaService } from '../../media/media-service.js';
import type { SipLeg } from '../../media/sip-leg.js';
import type { Store } from '../store/store.js';
import { negotiateTimer } from './session-timer.js';
import { optionTags, unsupportedRequired } from './extensions.js';

export interface InboundDeps {
  srf: Srf;
  log: Logger;
  auth: InboundAuth;
  store: Store;
  events: EventLog;
  media: MediaService;
  settings: {
    ringMs: number;
    sessionExpiresSeconds: number;
    minSessionExpiresSeconds: number;
    inactivityTimeoutMs: number;
  };
  /** Whether another call fits (capacity). */
  hasRoom(): boolean;
  /** Registers the call with call control (capacity, shutdown, API control). */
  admit(call: Call): void;
  /** Work that must finish before shutdown (the final record of a call). */
  settle(work: Promise<void>): void;
}

type Req = Srf.SrfRequest & { on(event: 'cancel', fn: () => void): void };
type Res = Srf.SrfResponse;

/**
 * Handles one new INVITE. Never throws: every failure becomes a SIP response and a log line.
 * `receivedAt` is when it reached call control (`performance.now()`), the start of setup latency.
 */
export async function handleInboundInvite(deps: InboundDeps, req: Req, res: Res, receivedAt = performance.now()): Promise<void> {
  const sipCallId = req.get('Call-ID');
  const from = req.getParsedHeader('From') as { uri: string };
  const refuse = (r: Refusal) => {
    deps.log.info({ sipCallId, status: r.status, why: r.why, source: req.source_address, tenantId: r.tenant?.tenantId }, 'invite rejected');
    if (r.tenant) {
      deps.store.errorLogs.record({ ...r.tenant, kind: 'sip', code: String(r.status), message: `INVITE refused: ${r.why}`, details: { source: req.source_address, sipCallId, to: req.uri } });
    }
    if (!res.finalResponseSent) res.send(r.status, { headers: r.headers });
  };
  const reject = (status: number, why: string, headers: Record<string, string> = {}) => refuse({ status, why, headers, tenant: null });

  // 1. Which trunk (RFC 3261 §22.2 for digest).
  const verdict = deps.auth.check({ method: 'INVITE', sourceAddress: req.source_address, authorization: req.get('Authorization') || undefined });
  if (verdict.kind === 'challenge') return reject(401, 'challenge', { 'WWW-Authenticate': verdict.header });
  if (verdict.kind === 'forbidden') {
    // The tenant whose number was dialled sees the refusal; with no number of ours dialled
    // (scanners), only the operator's log line does: such rows would have no reader.
    return refuse({ status: 403, why: verdict.why, headers: {}, tenant: tenantOfDialled(deps.store, req.uri, req.get('To')) });
  }

  // RFC 3261 §8.2.2.3: extensions the caller requires and we lack are refused, after the
  // trunk check (scanners learn nothing) and before anything is routed.
  const unsupported = unsupportedRequired(req.get('Require') || undefined);
  if (unsupported.length) return reject(420, 'unsupported extension required', { Unsupported: unsupported.join(', ') });
  const silentRing = optionTags(req.get('Require') || undefined).includes('100rel');

  // 2. Which number (after the trunk's prefix rule) and agent, in one of those trunks' tenants.
  const route = routeInvite(deps.store, { requestUri: req.uri, to: req.get('To'), fromUri: from.uri }, verdict.trunks);
  if ('status' in route) return refuse(route);
  const { number, trunk, fromNumber } = route;
  const agentId = route.agent.id;

  // 3. Session timers (RFC 4028), settled before the call exists: a 422 is not a call.
  const timer = negotiateTimer(
    { sessionExpires: req.get('Session-Expires') || undefined, minSE: req.get('Min-SE') || undefined, supported: req.get('Supported') || undefined },
    { interval: deps.settings.sessionExpiresSeconds, minSE: deps.settings.minSessionExpiresSeconds },
  );
  if (timer.kind === 'reject') return reject(422, 'session interval too small', { 'Min-SE': String(timer.minSE) });

  // 4. The call: recorded and announced before anything else happens to it.
  if (!deps.hasRoom()) {
    return refuse({ status: 503, why: 'at capacity', headers: { 'Retry-After': '5' }, tenant: { tenantId: number.tenantId, mode: number.mode } });
  }
  // The row and its first event commit together.
  const record = deps.events.transaction(() => {
    const r = deps.store.calls.create({
      tenantId: number.tenantId,
      mode: number.mode,
      direction: 'inbound',
      fromUri: from.uri,
      toUri: req.uri,
      fromNumber,
      toNumber: number.number,
      trunkId: trunk.id,
      agentId: agentId,
      phoneNumberId: number.id,
      sipCallId,
    });
    deps.events.append('call.started', { tenantId: number.tenantId, mode: number.mode, callId: r.id }, {
      callId: r.id,
      agentId: agentId,
      direction: 'inbound',
      from: { uri: from.uri, number: fromNumber },
      to: { uri: req.uri, number: number.number },
      trunkId: trunk.id,
      sipCallId,
    });
    return r;
  });
  const log = deps.log.child({ callId: record.id, sipCallId });
  const call = new Call({ id: record.id, tenantId: number.tenantId, mode: number.mode, agentId: agentId, sipCallId }, log, receivedAt);
  deps.admit(call);
  const scope = { tenantId: number.tenantId, mode: number.mode, callId: call.id };
  call.once('ended', (info) => deps.settle(finish(deps, call, info, leg)));

  let leg: SipLeg | undefined;
  let canceled = false;
  req.on('cancel', () => {
    // The SIP server has already answered 200 to the CANCEL and 487 to the INVITE.
    canceled = true;
    call.end({ reason: 'canceled', hangupBy: 'caller' });
  });

  // 5. Media: a leg that answers the caller's offer, or, for an INVITE without SDP (a late
  // offer, RFC 3261 §13.2.1), one that offers in our 200 and takes the answer from the ACK.
  const lateOffer = !req.body?.trim();
  try {
    leg = await deps.media.createSipLeg(lateOffer ? null : req.body, { inactivityMs: deps.settings.inactivityTimeoutMs, id: call.id, log });
  } catch (err) {
    if (call.ended) return;
    if (err instanceof NoCommonCodecError) {
      reject(488, 'no common codec', { Warning: '305 agent-studio "Incompatible media format"' });
      call.end({ reason: 'no_common_codec', hangupBy: 'system' });
    } else if (err instanceof SdpError) {
      reject(400, 'bad SDP');
      call.end({ reason: 'bad_sdp', hangupBy: 'system' });
    } else {
      log.error({ err }, 'media leg failed');
      // Not the caller's doing and invisible in SIP: the tenant sees it next to the call.
      deps.store.errorLogs.record({ ...scope, kind: 'media', code: '503', message: `media unavailable: ${(err as Error).message}`, details: { sipCallId } });
      reject(503, 'media unavailable', { 'Retry-After': '5' });
      call.end({ reason: 'media_error', hangupBy: 'system' });
    }
    return;
  }
  if (call.ended) return leg.close('call ended');
  const mediaLeg = leg;
  mediaLeg.on('inactive', () => hangup(call, 'rtp_timeout'));
  mediaLeg.on('close', (reason) => {
    if (reason === 'media_worker_died') hangup(call, 'media_worker_died');
  });

  // 6. Ring, then answer.
  if (deps.settings.ringMs > 0) {
    // RFC 3262 §3: with 100rel required, a 180 would have to be reliable; the call rings silently.
    if (silentRing) call.transition('ringing', 'ringing without 180 (100rel required)');
    else {
      res.send(180);
      call.transition('ringing', '180 sent');
    }
    deps.events.append('call.ringing', scope, { callId: call.id, agentId: agentId });
    await new Promise((r) => call.timer(deps.settings.ringMs, () => r(undefined)));
    if (call.ended || canceled) return;
  }
  // Written before the 200 leaves: a crash before markAnswered below must not lose the answer.
  deps.store.calls.markAnswerSent(call.id);
  let dialog: Srf.Dialog;
  try {
    dialog = await deps.srf.createUAS(req, res, {
      localSdp: lateOffer ? mediaLeg.offerSdp() : mediaLeg.answerSdp,
      headers: timer.kind === 'timer' ? timer.headers : {},
    });
  } catch (err) {
    if (!call.ended) {
      log.warn({ err: (err as Error).message }, 'answer failed');
      call.end({ reason: canceled ? 'canceled' : 'media_error', hangupBy: canceled ? 'caller' : 'system' });
    }
    return;
  }
  if (call.ended) {
    dialog.destroy();
    return;
  }
  call.transition('answered', '200 sent');
  const answeredAt = call.answeredAt!.toISOString();
  deps.events.transaction(() => {
    deps.store.calls.markAnswered(call.id, answeredAt);
    deps.events.append('call.answered', scope, { callId: call.id, agentId: agentId, answeredAt });
  });
  wireDialog(call, dialog, mediaLeg, timer.kind === 'timer' ? timer : undefined);
  if (lateOffer) takeAnswer(call, dialog, mediaLeg, log);
  // Until the agent runtime speaks, the agent echoes the caller through mediasoup.
  // A call we cannot feed would be an answered call of silence: end it instead.
  mediaLeg.echo().catch((err: unknown) => {
    if (call.ended) return;
    log.error({ err }, 'echo failed');
    deps.store.errorLogs.record({ ...scope, kind: 'media', message: `media feed failed: ${(err as Error).message}`, details: { sipCallId } });
    hangup(call, 'media_error');
  });
}

/** Records the end, announces it. Runs once, from the call's `ended` event. */
async function finish(deps: InboundDeps, call: Call, info: EndInfo, leg: SipLeg | undefined): Promise<void> {
  const scope = { tenantId: call.identity.tenantId, mode: call.identity.mode, callId: call.id };
  const endedAt = (call.endedAt ?? new Date()).toISOString();
  const write = (rtp: Record<string, number>) => {
    deps.events.transaction(() => {
      deps.store.calls.end(call.id, {
        status: endStatus(call, info),
        at: endedAt,
        reason: info.reason,
        hangupBy: info.hangupBy,
        rtpStats: rtp,
      });
      deps.events.append('call.ended', scope, {
        callId: call.id,
        agentId: call.identity.agentId,
        endReason: info.reason,
        hangupBy: info.hangupBy,
        durationMs: call.durationMs,
        rtp,
      });
    });
    // One lifecycle line per call (transitions are at debug).
    call.log.info({ endReason: info.reason, hangupBy: info.hangupBy, durationMs: call.durationMs, rtp }, 'call ended');
  };
  if (!leg) return write({});
  // The leg's last counters go into the record, then the leg closes.
  let rtp: Record<string, number> = {};
  try {
    // The store's names are the engine's view: received from the caller, sent to the caller.
    const s = await leg.stats();
    rtp = { packetsReceived: s.rtpPacketsIn, packetsSent: s.rtpPacketsOut, bytesReceived: s.bytesIn, bytesSent: s.bytesOut };
  } catch {
    // the leg's worker is gone: no counters to keep
  }
  leg.close('call ended');
  write(rtp);
}

/**
 * The final status: an unanswered call failed unless the caller canceled it; an answered one
 * completed, unless its 200 was never ACKed (the caller never confirmed the call).
 */
function endStatus(call: Call, info: EndInfo): 'completed' | 'failed' | 'canceled' {
  if (call.answeredAt) return info.reason === 'ack_timeout' ? 'failed' : 'completed';
  return info.reason === 'canceled' ? 'canceled' : 'failed';
}
