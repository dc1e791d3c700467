/**
 * An inbound INVITE from a trunk, on drachtio-srf: route it (trunk, number, agent), answer it
 * with a mediasoup leg's SDP, and carry it until either side hangs up, a timer reaps it, or its
 * media worker dies. The ladder: 100 Trying (sent by the SIP server), optional 180, 200 + SDP.
 */
import type Srf from 'drachtio-srf';
import type { Logger } from '../../config/logger.js';
import type { EventLog } from '../events/event-log.js';
import { Call, type EndInfo } from './call.js';
import { dialledCandidates, type InboundAuth } from './inbound-auth.js';
import { NoCommonCodecError, SdpError } from '../../media/errors.js';
import type { MediaService } from '../../media/media-service.js';
import type { SipLeg } from '../../media/sip-leg.js';
import type { PhoneNumber } from '../store/repositories/phone-numbers.js';
import type { SipTrunk } from '../store/repositories/sip-trunks.js';
import type { Store } from '../store/store.js';
import { negotiateTimer, timerDelays } from './session-timer.js';

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

/** Handles one new INVITE. Never throws: every failure becomes a SIP response and a log line. */
export async function handleInboundInvite(deps: InboundDeps, req: Req, res: Res): Promise<void> {
  const sipCallId = req.get('Call-ID');
  const reject = (status: number, why: string, headers: Record<string, string> = {}) => {
    deps.log.info({ sipCallId, status, why, source: req.source_address }, 'invite rejected');
    if (!res.finalResponseSent) res.send(status, { headers });
  };

  // 1. Which trunk (RFC 3261 §22.2 for digest).
  const verdict = deps.auth.check({ method: 'INVITE', sourceAddress: req.source_address, authorization: req.get('Authorization') || undefined });
  if (verdict.kind === 'challenge') return reject(401, 'challenge', { 'WWW-Authenticate': verdict.header });
  if (verdict.kind === 'forbidden') {
    deps.store.errorLogs.record({ tenantId: null, kind: 'sip', code: '403', message: `INVITE refused: ${verdict.why}`, details: { source: req.source_address, sipCallId } });
    return reject(403, verdict.why);
  }

  // 2. Which number, belonging to one of those trunks' tenants.
  const found = findNumber(deps.store, req.uri, req.get('To'), verdict.trunks);
  if (!found) return reject(404, 'unknown number');
  const { number, trunk } = found;
  if (!number.agentId) return reject(480, 'number has no agent');

  // 3. Session timers (RFC 4028), settled before the call exists: a 422 is not a call.
  const timer = negotiateTimer(
    { sessionExpires: req.get('Session-Expires') || undefined, minSE: req.get('Min-SE') || undefined, supported: req.get('Supported') || undefined },
    { interval: deps.settings.sessionExpiresSeconds, minSE: deps.settings.minSessionExpiresSeconds },
  );
  if (timer.kind === 'reject') return reject(422, 'session interval too small', { 'Min-SE': String(timer.minSE) });

  // 4. The call: recorded and announced before anything else happens to it.
  if (!deps.hasRoom()) {
    deps.store.errorLogs.record({ tenantId: number.tenantId, mode: number.mode, kind: 'sip', code: '503', message: 'INVITE refused: at capacity', details: { sipCallId } });
    return reject(503, 'at capacity', { 'Retry-After': '5' });
  }
  const from = req.getParsedHeader('From') as { uri: string };
  const fromNumber = dialledCandidates(from.uri, '')[0] ?? null;
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
      agentId: number.agentId,
      phoneNumberId: number.id,
      sipCallId,
    });
    deps.events.append('call.started', { tenantId: number.tenantId, mode: number.mode, callId: r.id }, {
      callId: r.id,
      agentId: number.agentId,
      direction: 'inbound',
      from: { uri: from.uri, number: fromNumber },
      to: { uri: req.uri, number: number.number },
      trunkId: trunk.id,
      sipCallId,
    });
    return r;
  });
  const log = deps.log.child({ callId: record.id, sipCallId });
  const call = new Call({ id: record.id, tenantId: number.tenantId, mode: number.mode, agentId: number.agentId, sipCallId }, log);
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
    res.send(180);
    call.transition('ringing', '180 sent');
    deps.events.append('call.ringing', scope, { callId: call.id, agentId: number.agentId });
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
    deps.events.append('call.answered', scope, { callId: call.id, agentId: number.agentId, answeredAt });
  });
  wireDialog(deps, call, dialog, mediaLeg, timer.kind === 'timer' ? timer : undefined);
  if (lateOffer) takeAnswer(call, dialog, mediaLeg, log);
  // Until the agent runtime speaks, the agent echoes the caller through mediasoup.
  mediaLeg.echo().catch((err: unknown) => log.error({ err }, 'echo failed'));
}

/**
 * The caller's answer to our offer, from its ACK (drachtio-srf records it as the dialog's remote
 * SDP before emitting 'ack'; it may already be there when the ACK came in the same read as the
 * 200's echo). An ACK without SDP, or an answer we cannot use, ends the call with BYE.
 */
function takeAnswer(call: Call, dialog: Srf.Dialog, leg: SipLeg, log: Logger): void {
  let taken = false;
  const take = (sdp: string | undefined) => {
    if (taken || call.ended) return;
    taken = true;
    if (!sdp?.trim()) return hangup(call, 'no_offer');
    leg.updateRemote(sdp).then(
      () => log.debug('answer to our offer applied'),
      (err: unknown) => {
        log.info({ err: (err as Error).message }, 'answer to our offer refused');
        hangup(call, err instanceof NoCommonCodecError ? 'no_common_codec' : 'bad_sdp');
      },
    );
  };
  if (dialog.remote.sdp) take(dialog.remote.sdp);
  // drachtio-srf's typings give 'ack' a response; it emits the ACK request.
  else dialog.once('ack', (ack: { body?: string }) => take(ack.body));
}

/** Finds the dialled number among the candidates, in the tenant of one of the trunks. */
function findNumber(
  store: Store,
  requestUri: string,
  to: string,
  trunks: SipTrunk[],
): { number: PhoneNumber; trunk: SipTrunk } | undefined {
  for (const candidate of dialledCandidates(requestUri, to)) {
    const n = store.phoneNumbers.findByNumber(candidate);
    if (!n) continue;
    // A number pinned to a trunk only answers through that trunk.
    const trunk = trunks.find((t) => t.tenantId === n.tenantId && t.mode === n.mode && (!n.trunkId || n.trunkId === t.id));
    if (trunk) return { number: n, trunk };
  }
  return undefined;
}

/** In-dialog life: BYE, re-INVITE (hold, unhold, new SDP), session refreshes. */
function wireDialog(
  deps: InboundDeps,
  call: Call,
  dialog: Srf.Dialog,
  leg: SipLeg,
  timer: { interval: number; refresher: 'uac' | 'uas'; headers: Record<string, string> } | undefined,
): void {
  let byUs = false;
  const connected = () => (dialog as Srf.Dialog & { connected?: boolean }).connected !== false;
  // drachtio-srf reads every frame of a TCP chunk in one go: a BYE right behind our 200's echo
  // can end the dialog before this code runs (before createUAS's promise continues).
  if (!connected()) {
    call.end({ reason: 'caller_hangup', hangupBy: 'caller' });
    return;
  }
  dialog.on('destroy', () => {
    if (!byUs) call.end({ reason: 'caller_hangup', hangupBy: 'caller' });
  });
  call.onDispose(() => {
    if (connected()) {
      byUs = true;
      dialog.destroy();
    }
  });

  const delays = timer && timerDelays(timer.interval);
  let expiry: NodeJS.Timeout | undefined;
  const armTimer = () => {
    if (!timer || !delays) return;
    clearTimeout(expiry);
    if (timer.refresher === 'uac') {
      // §10: the side not refreshing sends BYE shortly before expiry.
      expiry = call.timer(delays.expireMs, () => hangup(call, 'session_timer_expired'));
    } else {
      expiry = call.timer(delays.refreshMs, () => {
        dialog
          .modify(dialog.local.sdp)
          .then(armTimer)
          .catch(() => hangup(call, 'session_timer_expired'));
      });
    }
  };
  armTimer();

  dialog.on('modify', (req, res) => {
    leg
      .updateRemote(req.body)
      .then((answer) => {
        res.send(200, { body: answer, headers: { 'Content-Type': 'application/sdp', ...(timer ? timer.headers : {}) } });
        armTimer();
      })
      .catch((err: unknown) => {
        call.log.warn({ err: (err as Error).message }, 're-INVITE refused');
        res.send(err instanceof NoCommonCodecError ? 488 : 400);
      });
  });
  dialog.on('update', (_req, res) => {
    res.send(200, { headers: timer ? timer.headers : {} });
    armTimer();
  });
}

function hangup(call: Call, reason: EndInfo['reason']): void {
  call.end({ reason, hangupBy: 'system' });
}

/** Records the end, announces it. Runs once, from the call's `ended` event. */
async function finish(deps: InboundDeps, call: Call, info: EndInfo, leg: SipLeg | undefined): Promise<void> {
  const scope = { tenantId: call.identity.tenantId, mode: call.identity.mode, callId: call.id };
  const endedAt = (call.endedAt ?? new Date()).toISOString();
  const write = (rtp: Record<string, number>) => {
    deps.events.transaction(() => {
      deps.store.calls.end(call.id, {
        status: call.answeredAt ? 'completed' : info.reason === 'canceled' ? 'canceled' : 'failed',
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
