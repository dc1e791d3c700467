/**
 * A trunk's call to a number that rings one of the tenant's SIP users (`phone_numbers.sip_user_id`):
 * the engine bridges the caller to every binding of the user at once (registrar/user-bridge.ts,
 * the media through mediasoup: a browser is offered WebRTC, a device G.711), and the call is a
 * call record like any inbound call: admitted under the engine's cap, `call.started` when it is
 * routed, `call.ringing` at the first 180 of a binding, `call.answered` when both sides are up,
 * `call.ended` with its reason and who hung up. It is live (live calls, SSE) until it ends, and
 * ending it from the API (or a shutdown) ends the bridge.
 *
 * No binding when the INVITE arrives: 480, and the call ends `not_registered`.
 *
 * A SIP user's (or a browser's) call to such a number is bridged the same way, as a `web` call with
 * the number on its record (user-agent-route.ts). A SIP user's call to another user that the
 * engine must bridge (registrar/user-calls.ts: a phone calling a browser, or the reverse) takes
 * the same path (`runBridgedCall`), as a `web` call.
 */
import type Srf from 'drachtio-srf';
import type { CallLeg } from '../../media/call-leg.js';
import { Call, type EndInfo } from './call.js';
import { endByLegClose, recordAnswered, recordEnd } from './call-end.js';
import type { InboundDeps, Screened } from './inbound-call.js';
import { recordCall, type RecordedRoute } from './inbound-record.js';
import { unavailable, type Refusal, type UserRoute } from './inbound-route.js';
import { refusalEnd } from './outbound-steps.js';
import { aorOf } from './registrar/sip-domain.js';
import type { BridgeEnd, BridgeObserver } from './registrar/user-bridge.js';
import type { Binding } from './registrar/bindings.js';
import { newestFirst } from './registrar/bridge-targets.js';

/**
 * Admits, records and bridges the call; never throws (every failure is a SIP answer, a log line
 * and the call's end).
 */
export function runUserCall(deps: InboundDeps, req: Srf.SrfRequest, res: Srf.SrfResponse, screened: Screened<UserRoute>, receivedAt: number, refuse: (r: Refusal) => void): void {
  const { route } = screened;
  const users = deps.users;
  if (!users) return refuse(unavailable('SIP users cannot be reached here (no registrar)', 'The user cannot be reached', route.scope));
  const aor = aorOf(route.scope, route.sipUser.username);
  // The From user of the INVITEs to the devices: the trunk caller's number, or the calling SIP user's name.
  const caller = route.fromNumber ?? (route.callerAor ? userOfAor(route.callerAor) : null);
  runBridgedCall(deps, req, res, route, { aor, caller, bindings: users.registrar.registrationsOf(aor) }, receivedAt, refuse);
}

/** The user part of a `sip:<user>@<host>` address of record. */
function userOfAor(aor: string): string | null {
  return /^sips?:([^@]+)@/i.exec(aor)?.[1] ?? null;
}

/** Who a bridged call rings: the user's address of record and bindings, and the caller's name in From. */
export interface BridgedCallee {
  aor: string;
  caller: string | null;
  bindings: readonly Binding[];
}

/**
 * A call the engine bridges to a user's bindings, as a call record: a trunk's call to a number
 * that rings the user (direction `inbound`), or a SIP user's call to another user whose devices
 * do not speak its media (a phone calling a browser, direction `web`). Admitted under the engine's
 * cap (503 at capacity); no binding is 480 and `not_registered`.
 */
export function runBridgedCall(deps: InboundDeps, req: Srf.SrfRequest, res: Srf.SrfResponse, route: RecordedRoute, callee: BridgedCallee, receivedAt: number, refuse: (r: Refusal) => void): void {
  const users = deps.users;
  if (!users) return refuse(unavailable('SIP users cannot be reached here (no registrar)', 'The user cannot be reached', route.scope));
  if (!deps.hasRoom()) return refuse({ status: 503, why: 'at capacity', headers: { 'Retry-After': '5' }, tenant: route.scope });
  const sipCallId = req.get('Call-ID');
  const record = recordCall(deps, req, route, null);
  const log = deps.log.child({ callId: record.id, sipCallId, aor: callee.aor });
  const call = new Call({ id: record.id, tenantId: route.scope.tenantId, mode: route.scope.mode, agentId: null, sipCallId }, log, receivedAt);
  deps.admit(call);
  let callerLeg: CallLeg | undefined;
  let sipCode: number | null = null;
  let recorded: Promise<void> | null = null;
  // Once, whichever comes first: the bridge's end (its legs wait for it) or the call's.
  const recordOnce = () => (recorded ??= recordEnd(deps, call, callerLeg, () => sipCode));
  call.once('ended', () => deps.settle(recordOnce()));
  if (callee.bindings.length === 0) {
    log.info('called user not registered');
    res.send(480, { headers: { Warning: '399 agent-studio "The user is not registered"' } });
    call.end({ reason: 'not_registered', hangupBy: 'system' });
    return;
  }
  const observer: BridgeObserver = {
    ringing: () => {
      if (call.transition('ringing', '180 from a binding')) deps.events.append('call.ringing', { ...route.scope, callId: call.id }, { callId: call.id, agentId: null });
    },
    answered: (leg) => {
      callerLeg = leg;
      call.parts.leg = leg;
      if (call.transition('answered', 'bridged')) recordAnswered(deps, call);
    },
    ended: (end) => {
      sipCode = end.calleeStatus;
      call.end(endInfoOf(end));
      return recordOnce();
    },
  };
  const bridge = users.bridges.start(req, res, {
    aor: callee.aor,
    caller: callee.caller,
    bindings: newestFirst(callee.bindings),
    inactivityMs: deps.settings.inactivityTimeoutMs,
    observer,
  });
  // An API hang-up or a shutdown ends the call first: the bridge follows (BYE, or CANCEL and 480).
  call.onDispose(() => bridge.hangup());
}

/** The call's end for the bridge's. */
export function endInfoOf(end: BridgeEnd): EndInfo {
  switch (end.reason) {
    case 'caller_bye':
      return { reason: 'caller_hangup', hangupBy: 'caller' };
    case 'callee_bye':
      return { reason: 'callee_hangup', hangupBy: 'callee' };
    case 'caller_cancel':
    case 'caller_gone':
      return { reason: 'canceled', hangupBy: 'caller' };
    case 'no_answer':
      return { reason: 'no_answer', hangupBy: 'system' };
    case 'callee_refused':
      return refusalEnd(end.calleeStatus ?? 480);
    case 'leg_closed': {
      const reason = (end.leg && endByLegClose[end.leg.reason]) ?? 'media_error';
      // A browser closing its peer connection hung up; every other cause is the system's.
      return { reason, hangupBy: reason === 'dtls_closed' && end.leg ? end.leg.side : 'system' };
    }
    case 'media_unavailable':
      return { reason: 'media_error', hangupBy: 'system' };
    case 'dial_error':
    case 'no_common_codec':
    case 'bad_sdp':
    case 'rtp_timeout':
    case 'engine_error':
      return { reason: end.reason, hangupBy: 'system' };
    case 'hangup':
      // Only the call's own end hangs the bridge up: the call has its reason already.
      return { reason: 'api_hangup', hangupBy: 'system' };
  }
}
