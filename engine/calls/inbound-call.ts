/**
 * An inbound INVITE from a trunk (or from a tenant's SIP user to an agent or number,
 * `handleUserInvite`), on drachtio-srf: route it (trunk, number, agent; a number that rings a
 * SIP user is bridged to its devices instead, trunk-user-call.ts), answer it
 * with a mediasoup leg's SDP, and carry it until either side hangs up, a timer reaps it, or its
 * media worker dies. The ladder: 100 Trying (sent by the SIP server), optional 180, 200 + SDP.
 * Screening (trunk, extensions, route, session timer) refuses before a call exists; an admitted
 * call runs `inboundSteps`, and every way it ends goes through `Call.end` to `finish`.
 */
import type Srf from 'drachtio-srf';
import type { Logger } from '../../config/logger.js';
import type { EventLog } from '../events/event-log.js';
import { Call } from './call.js';
import { recordEnd } from './call-end.js';
import { runSteps } from './call-steps.js';
import type { InboundAuth } from './inbound-auth.js';
import { inboundSteps, type InboundContext } from './inbound-steps.js';
import { routeInvite, tenantOfDialled, type Refusal, type Route, type UserRoute } from './inbound-route.js';
import { recordCall } from './inbound-record.js';
import { runBridgedCall, runUserCall, type BridgedCallee } from './trunk-user-call.js';
import type { MediaService } from '../../media/media-service.js';
import type { Store } from '../store/store.js';
import type { SipTrunk } from '../store/repositories/sip-trunks.js';
import { negotiateTimer } from './session-timer.js';
import type { AgentRuntime } from '../agents/runtime/runtime.js';
import { optionTags, unsupportedRequired } from './extensions.js';
import type { BindingSource } from './registrar/user-target.js';
import type { UserBridges } from './registrar/user-bridge.js';

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
  /** Runs the agents of answered calls (absent: every call echoes). */
  agents?: AgentRuntime;
  /** Work that must finish before shutdown (the final record of a call). */
  settle(work: Promise<void>): void;
  /** Numbers that ring a SIP user (trunk-user-call.ts): its bindings, and the bridge to them. Absent: such calls get 480. */
  users?: { registrar: BindingSource; bridges: UserBridges };
}

type Req = Srf.SrfRequest & { on(event: 'cancel', fn: () => void): void };
type Res = Srf.SrfResponse;
type Reject = (status: number, why: string, headers?: Record<string, string>) => void;

/** What screening settled before the call exists. */
export interface Screened<R extends Route | UserRoute = Route> {
  route: R;
  timer: InboundContext['timer'];
  silentRing: boolean;
}

/**
 * Handles one new INVITE from a trunk. Never throws: every failure becomes a SIP response and a
 * log line. `receivedAt` is when it reached call control (`performance.now()`), the start of
 * setup latency.
 */
export async function handleInboundInvite(deps: InboundDeps, req: Req, res: Res, receivedAt = performance.now()): Promise<void> {
  const { refuse, reject } = refusals(deps, req, res);
  const trunks = checkTrunk(deps, req, refuse, reject);
  if (!trunks) return;
  const from = req.getParsedHeader('From') as { uri: string };
  const screened = screen(deps, req, refuse, reject, () => routeInvite(deps.store, { requestUri: req.uri, to: req.get('To'), fromUri: from.uri }, trunks));
  if (!screened) return;
  // A number that rings a SIP user: the engine bridges the caller to the user's devices.
  if ('sipUser' in screened.route) runUserCall(deps, req, res, screened as Screened<UserRoute>, receivedAt, refuse);
  else await runCall(deps, req, res, screened as Screened, receivedAt, refuse, reject);
}

/**
 * Handles an INVITE from one of the tenant's SIP users (already authenticated, see
 * registrar/user-calls.ts) to an agent or number (`route`, from user-agent-route.ts): the same
 * screening after the trunk, admission, record and steps as a trunk's call; a number that rings a
 * SIP user is bridged to that user's devices (trunk-user-call.ts), a `web` call.
 */
export async function handleUserInvite(deps: InboundDeps, req: Req, res: Res, route: Route | UserRoute | Refusal, receivedAt = performance.now()): Promise<void> {
  const { refuse, reject } = refusals(deps, req, res);
  const screened = screen(deps, req, refuse, reject, () => route);
  if (!screened) return;
  // A number that rings a SIP user: bridged to the user's devices, as a trunk's call to it is.
  if ('sipUser' in screened.route) runUserCall(deps, req, res, screened as Screened<UserRoute>, receivedAt, refuse);
  else await runCall(deps, req, res, screened as Screened, receivedAt, refuse, reject);
}

/**
 * Takes an INVITE from one of the tenant's SIP users (already authenticated) to another user whose
 * devices the engine must bridge (registrar/user-calls.ts): a `web` call record, bridged to
 * `callee`'s bindings (trunk-user-call.ts).
 */
export function handleBridgedUserInvite(deps: InboundDeps, req: Req, res: Res, scope: Route['scope'], callee: BridgedCallee, receivedAt = performance.now()): void {
  const { refuse } = refusals(deps, req, res);
  const route = { scope, number: null, trunk: null, fromNumber: null, direction: 'web' as const };
  runBridgedCall(deps, req, res, route, callee, receivedAt, refuse);
}

/** The two ways of refusing an INVITE: for a tenant (its error log sees it), or plainly. */
function refusals(deps: InboundDeps, req: Req, res: Res): { refuse: (r: Refusal) => void; reject: Reject } {
  const sipCallId = req.get('Call-ID');
  const refuse = (r: Refusal) => {
    deps.log.info({ sipCallId, status: r.status, why: r.why, source: req.source_address, tenantId: r.tenant?.tenantId }, 'invite rejected');
    if (r.tenant) {
      deps.store.errorLogs.record({ ...r.tenant, kind: 'sip', code: String(r.status), message: `INVITE refused: ${r.why}`, details: { source: req.source_address, sipCallId, to: req.uri } });
    }
    if (!res.finalResponseSent) res.send(r.status, { headers: r.headers });
  };
  const reject: Reject = (status, why, headers = {}) => refuse({ status, why, headers, tenant: null });
  return { refuse, reject };
}

/** Step 4 on: admission, the record, then the steps. */
async function runCall(deps: InboundDeps, req: Req, res: Res, screened: Screened, receivedAt: number, refuse: (r: Refusal) => void, reject: Reject): Promise<void> {
  // 4. The call: recorded and announced before anything else happens to it.
  if (!deps.hasRoom()) {
    return refuse({ status: 503, why: 'at capacity', headers: { 'Retry-After': '5' }, tenant: screened.route.scope });
  }
  const ctx = admitCall(deps, req, res, screened, receivedAt, reject);
  try {
    await runSteps(ctx, inboundSteps);
  } catch (err) {
    // A step that throws is a defect: the caller gets a 500 (or a BYE once answered) and the
    // call ends with its reason, so nothing is left live behind the error.
    ctx.call.log.error({ err }, 'call step failed');
    reject(500, 'engine error');
    ctx.call.hangup('engine_error');
  }
}

/** Step 1, a trunk's call: which trunks it came through (RFC 3261 §22.2 for digest); null when refused. */
function checkTrunk(deps: InboundDeps, req: Req, refuse: (r: Refusal) => void, reject: Reject): SipTrunk[] | null {
  const verdict = deps.auth.check({ method: 'INVITE', sourceAddress: req.source_address, authorization: req.get('Authorization') || undefined });
  if (verdict.kind === 'challenge') {
    reject(401, 'challenge', { 'WWW-Authenticate': verdict.header });
    return null;
  }
  if (verdict.kind === 'forbidden') {
    // The tenant whose number was dialled sees the refusal; with no number of ours dialled
    // (scanners), only the operator's log line does: such rows would have no reader.
    refuse({ status: 403, why: verdict.why, headers: {}, tenant: tenantOfDialled(deps.store, req.uri, req.get('To')) });
    return null;
  }
  return verdict.trunks;
}

/**
 * Steps 2-3, before the call exists: the extensions required, where it goes (`routeOf`: number
 * and agent), which session timer. Returns null when the INVITE was refused.
 */
function screen<R extends Route | UserRoute>(deps: InboundDeps, req: Req, refuse: (r: Refusal) => void, reject: Reject, routeOf: () => R | Refusal): Screened<R> | null {
  // RFC 3261 §8.2.2.3: extensions the caller requires and we lack are refused, after the
  // caller's check (scanners learn nothing) and before anything is routed.
  const unsupported = unsupportedRequired(req.get('Require') || undefined);
  if (unsupported.length) {
    reject(420, 'unsupported extension required', { Unsupported: unsupported.join(', ') });
    return null;
  }
  const silentRing = optionTags(req.get('Require') || undefined).includes('100rel');
  // 2. Which number (after the trunk's prefix rule) and agent.
  const route = routeOf();
  if ('status' in route) {
    refuse(route);
    return null;
  }
  // 3. Session timers (RFC 4028), settled before the call exists: a 422 is not a call.
  const timer = negotiateTimer(
    { sessionExpires: req.get('Session-Expires') || undefined, minSE: req.get('Min-SE') || undefined, supported: req.get('Supported') || undefined },
    { interval: deps.settings.sessionExpiresSeconds, minSE: deps.settings.minSessionExpiresSeconds },
  );
  if (timer.kind === 'reject') {
    reject(422, 'session interval too small', { 'Min-SE': String(timer.minSE) });
    return null;
  }
  return { route, timer, silentRing };
}

/** The recorded call as a `Call`, admitted, with its end path (record, CANCEL) and its steps' context. */
function admitCall(deps: InboundDeps, req: Req, res: Res, screened: Screened, receivedAt: number, reject: Reject): InboundContext {
  const { agent, scope, number, trunk } = screened.route;
  const sipCallId = req.get('Call-ID');
  const record = recordCall(deps, req, screened.route, agent);
  const log = deps.log.child({ callId: record.id, sipCallId });
  const call = new Call({ id: record.id, tenantId: scope.tenantId, mode: scope.mode, agentId: agent.id, sipCallId }, log, receivedAt);
  deps.admit(call);
  const ctx: InboundContext = {
    call,
    deps,
    req,
    res,
    log,
    reject,
    timer: screened.timer,
    silentRing: screened.silentRing,
    scope: { ...scope, callId: call.id },
    // An INVITE without SDP is a late offer (RFC 3261 §13.2.1).
    lateOffer: !req.body?.trim(),
    agent,
    workflow: record.workflow,
    direction: 'inbound',
    facts: {
      callId: record.id,
      agentId: agent.id,
      // A SIP user calling is its address-of-record.
      caller: screened.route.fromNumber ?? screened.route.callerAor,
      callee: number?.number ?? null,
      trunkId: trunk?.id ?? null,
      headers: (req as unknown as { headers: Record<string, string> }).headers ?? {},
    },
    has: (need) => (need === 'leg' ? !!ctx.leg : !!ctx.dialog),
  };
  call.once('ended', () => deps.settle(recordEnd(deps, call, ctx.leg)));
  // The SIP server has already answered 200 to the CANCEL and 487 to the INVITE.
  req.on('cancel', () => call.end({ reason: 'canceled', hangupBy: 'caller' }));
  return ctx;
}
