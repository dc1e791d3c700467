/**
 * Blind transfer of a live answered inbound call (RFC 5589 §6.1, "Basic Transfer"):
 *
 * 1. REFER in the caller's dialog (RFC 3515), `Refer-To` the target and `Referred-By` the URI the
 *    caller dialled. The caller's side follows the implicit subscription with NOTIFYs whose
 *    `message/sipfrag` bodies carry the status of its INVITE to the target: a 1xx keeps us
 *    waiting, a 2xx means transferred (we BYE, the call ends `transferred`, hung up by `agent`),
 *    a final failure means the transfer failed and the call goes on with the agent.
 * 2. When the caller's side refuses the REFER (405, 501, 403, 488, 603) or does not answer it
 *    within `referAnswerMs`, the engine dials the target itself and bridges the two legs
 *    (`transfer-bridge.ts`). A target that does not answer, is busy or fails is a failed transfer.
 *    A REFER accepted late, while the engine's own INVITE to the target still rings, wins: that
 *    INVITE is CANCELed and the transfer follows the caller's side's NOTIFYs, so the target is
 *    not rung twice. (Accepted after the target answered the engine, it is too late: logged.)
 *
 * Each transfer is a small state machine (`transferMoves`). Nothing here throws for what a peer
 * does: every outcome is a `TransferOutcome`, an event on the call's timeline and, for a failure,
 * an error-log entry.
 */
import type Srf from 'drachtio-srf';
import type { Logger } from '../../config/logger.js';
import type { EventLog } from '../events/event-log.js';
import type { MediaService } from '../../media/media-service.js';
import type { Store } from '../store/store.js';
import type { Call } from './call.js';
import { takeInDialog } from './in-dialog.js';
import { isReferEvent, parseSipfrag, parseSubscriptionState, type SipfragStatus } from './sipfrag.js';
import { dialAndBridge } from './transfer-bridge.js';
import { registeredUserTarget, type BindingSource } from './registrar/user-target.js';
import { resolveTarget, type ResolvedTarget } from './transfer-target.js';

export interface TransferDeps {
  srf: Srf;
  store: Store;
  events: EventLog;
  media: MediaService;
  /** The tenant's registered SIP users, for targets that name one (`registrar/user-target.ts`). */
  registrar?: BindingSource;
}

export interface TransferOptions {
  /** A REFER unanswered this long is taken as refused: the engine bridges instead. */
  referAnswerMs?: number;
  /** After the REFER is accepted, the final NOTIFY must come within this. */
  notifyWaitMs?: number;
  /** The fallback INVITE rings this long before it is CANCELed. */
  ringMs?: number;
  /** RTP inactivity on the outbound leg. */
  inactivityMs?: number;
}

/**
 * A few seconds: a REFER is answered at once by a UA that supports it (RFC 3515 §2.4.2 says the
 * REFER is answered before the referenced INVITE is tried), well within UDP's first retransmits.
 */
const DEFAULT_REFER_ANSWER_MS = 4_000;
/** A callee rings for 20-30 s before voicemail or a carrier's no-answer timer. */
const DEFAULT_NOTIFY_WAIT_MS = 30_000;
const DEFAULT_RING_MS = 30_000;
const DEFAULT_INACTIVITY_MS = 60_000;

/**
 * REFER answers that mean "not here" rather than "not this target": the engine then bridges.
 * 405/501 (REFER not supported, RFC 3261 §21.4.6 and §21.5.2), 403 (not allowed), 488 (RFC 3515
 * leaves it to UAs that cannot reach the Refer-To), 603 (declined by the user, RFC 3515 §2.4.2).
 */
const bridgeOn = new Set([403, 405, 488, 501, 603]);

export type TransferVia = 'refer' | 'bridge';

export type TransferOutcome =
  /** The caller's side reached the target; our call ended (`transferred`). */
  | { result: 'transferred'; via: 'refer'; target: string }
  /** The engine dialled the target and bridges it with the caller until either hangs up. */
  | { result: 'bridged'; via: 'bridge'; target: string }
  /** The transfer was tried and failed; the call goes on. `status` is the SIP status when there was one. */
  | { result: 'failed'; via: TransferVia; target: string; reason: string; status: number | null }
  /** Not tried (call not answered, no dialog, another transfer running, bad target); nothing was sent. */
  | { result: 'refused'; target: string; reason: string };

export type TransferState = 'referring' | 'subscribed' | 'dialing' | 'transferred' | 'bridged' | 'failed';

/** The legal moves of one transfer. */
export const transferMoves: Readonly<Record<TransferState, readonly TransferState[]>> = {
  referring: ['subscribed', 'dialing', 'failed'],
  subscribed: ['transferred', 'failed'],
  dialing: ['bridged', 'failed', 'subscribed'],
  transferred: [],
  bridged: [],
  failed: [],
};

/** Calls with a transfer under way (one at a time per call). */
const running = new WeakSet<Call>();

/** Transfers `call` to `target` (an E.164 number or a sip:/sips: URI). Never throws. */
export async function transferCall(deps: TransferDeps, call: Call, target: string, opts: TransferOptions = {}): Promise<TransferOutcome> {
  const { leg, dialog } = call.parts;
  const refuse = (reason: string): TransferOutcome => {
    call.log.info({ target, reason }, 'transfer refused');
    return { result: 'refused', target, reason };
  };
  if (call.state !== 'answered') return refuse('call is not answered');
  if (!leg || !dialog) return refuse('call has no media leg or dialog');
  if (running.has(call)) return refuse('a transfer is already under way');
  running.add(call);
  try {
    const row = deps.store.calls.getById(call.id);
    const trunk = row?.trunkId ? (deps.store.sipTrunks.getById(row.trunkId) ?? null) : null;
    // A tenant's SIP user is dialled at every binding at once, never referred to (see user-target.ts).
    const user = registeredUserTarget(target, call.identity, deps.registrar);
    const resolved = user ?? resolveTarget(target, trunk, dialog.remote?.uri ?? null);
    if ('error' in resolved) return refuse(resolved.error);
    return await new Transfer(deps, call, dialog, target, resolved, row?.toUri ?? null, {
      bridgeOnly: user !== null,
      callingNumber: trunk?.callerId ?? row?.fromNumber ?? null,
      referAnswerMs: opts.referAnswerMs ?? DEFAULT_REFER_ANSWER_MS,
      notifyWaitMs: opts.notifyWaitMs ?? DEFAULT_NOTIFY_WAIT_MS,
      ringMs: opts.ringMs ?? DEFAULT_RING_MS,
      inactivityMs: opts.inactivityMs ?? DEFAULT_INACTIVITY_MS,
    }).run();
  } catch (err) {
    // A defect, not a peer's doing: logged, shown to the tenant when the store still works; the call goes on.
    call.log.error({ err }, 'transfer failed unexpectedly');
    try {
      const scope = { tenantId: call.identity.tenantId, mode: call.identity.mode, callId: call.id };
      deps.store.errorLogs.record({ ...scope, kind: 'internal', message: `transfer to ${target} failed: ${(err as Error).message}`, details: { sipCallId: call.identity.sipCallId } });
    } catch (again) {
      call.log.error({ err: again }, 'transfer failure not recorded');
    }
    return { result: 'failed', via: 'refer', target, reason: 'engine_error', status: null };
  } finally {
    running.delete(call);
  }
}

interface Settings {
  /** Dial and bridge at once, without a REFER (a target only the engine can reach). */
  bridgeOnly: boolean;
  callingNumber: string | null;
  referAnswerMs: number;
  notifyWaitMs: number;
  ringMs: number;
  inactivityMs: number;
}

/** What the NOTIFYs told, once final: the sipfrag's final status, or the subscription's end without one. */
type Final = SipfragStatus | { status: null; reason: string };

/** The REFER's implicit subscription being watched: its final status, and the end of watching. */
type Watch = { promise: Promise<Final>; release: () => void };

/** A REFER not answered in time: its answer may still come while the engine dials. */
type LateRefer = { answer: Promise<{ status: number }>; watch: Watch };

class Transfer {
  #state: TransferState = 'referring';
  readonly #log: Logger;
  readonly #scope: { tenantId: string; mode: Call['identity']['mode']; callId: string };

  constructor(
    private readonly deps: TransferDeps,
    private readonly call: Call,
    private readonly dialog: Srf.Dialog,
    private readonly target: string,
    private readonly resolved: ResolvedTarget,
    private readonly identity: string | null,
    private readonly settings: Settings,
  ) {
    this.#log = call.log.child({ transfer: target });
    this.#scope = { tenantId: call.identity.tenantId, mode: call.identity.mode, callId: call.id };
  }

  async run(): Promise<TransferOutcome> {
    const { call, target } = this;
    this.deps.events.append('call.transfer_started', this.#scope, { callId: call.id, agentId: call.identity.agentId, target });
    this.#log.info({ uri: this.resolved.uri }, 'transfer started');
    const referred = this.settings.bridgeOnly ? { bridge: true as const, late: null } : await this.#refer();
    if (!('bridge' in referred)) return referred;
    this.#move('dialing', this.settings.bridgeOnly ? 'a target only the engine reaches' : 'REFER refused or unanswered');
    const late = referred.late;
    // A late 2xx to the REFER while the target rings: the caller's side carries the transfer.
    const yieldToRefer = new AbortController();
    let lateAccepted = false;
    late?.answer.then(
      (res) => {
        if (res.status < 200 || res.status >= 300) return late.watch.release();
        if (this.#state === 'dialing') {
          lateAccepted = true;
          this.#log.info({ status: res.status }, 'REFER accepted late: the engine’s own INVITE is CANCELed');
          yieldToRefer.abort();
        } else {
          this.#log.warn({ status: res.status, state: this.#state }, 'REFER accepted after the engine reached the target: the target may be called twice');
          late.watch.release();
        }
      },
      () => late.watch.release(),
    );
    const leg = call.parts.leg;
    if (call.ended || !leg) return this.#fail('bridge', 'call_ended', null);
    const dialed = await dialAndBridge({ srf: this.deps.srf, media: this.deps.media }, call, leg, this.resolved, {
      ringMs: this.settings.ringMs,
      callingNumber: this.settings.callingNumber,
      inactivityMs: this.settings.inactivityMs,
      signal: AbortSignal.any([call.signal, yieldToRefer.signal]),
    });
    if (lateAccepted && late && dialed.kind === 'failed' && !call.ended) {
      this.#move('subscribed', 'REFER accepted late');
      return this.#follow(late.watch);
    }
    if (dialed.kind === 'failed') return this.#fail('bridge', dialed.reason, dialed.status);
    if (lateAccepted) {
      this.#log.warn('REFER accepted as the target answered the engine: the target may be called twice');
      late?.watch.release();
    }
    this.#move('bridged', 'target answered');
    this.#complete();
    return { result: 'bridged', via: 'bridge', target };
  }

  /**
   * The REFER and its NOTIFYs: transferred, failed, or `bridge` to fall back (with the REFER
   * still awaited when it was not answered in time).
   */
  async #refer(): Promise<TransferOutcome | { bridge: true; late: LateRefer | null }> {
    const { call, dialog } = this;
    const final = this.#watchNotifies();
    const headers: Record<string, string> = { 'Refer-To': `<${this.resolved.uri}>` };
    if (this.identity) headers['Referred-By'] = `<${this.identity}>`;
    // Contact, mandatory in a REFER (RFC 3515 §2.1), is added by the SIP server as in every request.
    // drachtio-srf's typings ask for a whole request; it reads method, headers and body.
    const sent = dialog.request({ method: 'REFER', headers } as unknown as Srf.SrfRequest);
    const answer = await within(sent, this.settings.referAnswerMs, call.signal);
    // Not accepted: no subscription to follow, later NOTIFYs get the 481 again (RFC 6665 §4.1.3).
    // Unanswered: watched on while the engine dials, in case the REFER is accepted late.
    if (answer.kind === 'timeout') sent.catch(() => undefined);
    else if (answer.kind !== 'value' || answer.value.status >= 300) final.release();
    if (answer.kind === 'aborted') return this.#fail('refer', 'call_ended', null);
    if (answer.kind === 'error') {
      this.#log.warn({ err: answer.error }, 'REFER not sent');
      return this.#fail('refer', 'refer_error', null);
    }
    if (answer.kind === 'timeout') {
      this.#log.info({ waitedMs: this.settings.referAnswerMs }, 'REFER unanswered, bridging');
      return { bridge: true, late: { answer: sent as Promise<{ status: number }>, watch: final } };
    }
    const status = answer.value.status;
    this.#log.info({ status }, 'REFER answered');
    if (bridgeOn.has(status)) return { bridge: true, late: null };
    if (status >= 300) return this.#fail('refer', `REFER answered ${status}`, status);
    this.#move('subscribed', `REFER answered ${status}`);
    return this.#follow(final);
  }

  /** The accepted REFER's NOTIFYs, to the final status: transferred (our side hangs up) or failed. */
  async #follow(final: Watch): Promise<TransferOutcome> {
    const { call, target } = this;
    const outcome = await within(final.promise, this.settings.notifyWaitMs, call.signal);
    if (outcome.kind === 'aborted') return this.#fail('refer', 'call_ended', null);
    if (outcome.kind !== 'value') return this.#fail('refer', 'no final NOTIFY', null);
    const f = outcome.value;
    if (f.status === null) return this.#fail('refer', f.reason, null);
    if (f.status >= 300) return this.#fail('refer', `target answered ${f.status}${f.reason ? ` ${f.reason}` : ''}`, f.status);
    this.#move('transferred', `NOTIFY ${f.status}`);
    this.#complete();
    // RFC 5589 §6.1: the transferor ends its dialog with the transferee once the transfer succeeded.
    call.end({ reason: 'transferred', hangupBy: 'agent' });
    return { result: 'transferred', via: 'refer', target };
  }

  /**
   * Takes the NOTIFYs of the REFER's implicit subscription (RFC 3515 §2.4.4) from before the
   * REFER leaves (a NOTIFY may overtake the 202), answers each 200 and resolves on the first
   * final status, or on `Subscription-State: terminated` without one. The NOTIFYs keep being
   * answered until the subscription ends or the call does.
   */
  #watchNotifies(): Watch {
    let settle!: (f: Final) => void;
    let settled = false;
    const promise = new Promise<Final>((resolve) => (settle = resolve));
    const done = (f: Final) => {
      if (settled) return;
      settled = true;
      settle(f);
    };
    const release = takeInDialog(this.dialog, 'notify', (req, res) => {
      if (!isReferEvent(req.get('Event'))) return false;
      try {
        res.send(200);
        const frag = parseSipfrag(req.body);
        const sub = parseSubscriptionState(req.get('Subscription-State'));
        this.#log.info({ status: frag?.status ?? null, subscription: sub?.state ?? null }, 'transfer NOTIFY');
        if (frag && frag.status >= 200) done(frag);
        if (sub?.state === 'terminated') {
          done({ status: null, reason: `subscription terminated${sub.reason ? ` (${sub.reason})` : ''} without a final status` });
          release();
        }
      } catch (err) {
        this.#log.warn({ err }, 'transfer NOTIFY not handled');
      }
      return true;
    });
    this.call.onDispose(release);
    return { promise, release };
  }

  #move(to: TransferState, reason: string): boolean {
    const from = this.#state;
    if (!transferMoves[from].includes(to)) {
      this.#log.warn({ from, to, reason }, 'illegal transfer transition refused');
      return false;
    }
    this.#state = to;
    this.#log.debug({ from, to, reason }, 'transfer state');
    return true;
  }

  #complete(): void {
    const { call, target } = this;
    this.deps.events.append('call.transfer_completed', this.#scope, { callId: call.id, agentId: call.identity.agentId, target });
    this.#log.info({ state: this.#state }, 'transfer completed');
  }

  #fail(via: TransferVia, reason: string, status: number | null): TransferOutcome {
    const { call, target } = this;
    this.#move('failed', reason);
    this.#log.info({ via, reason, status }, 'transfer failed');
    this.deps.events.append('call.transfer_failed', this.#scope, { callId: call.id, agentId: call.identity.agentId, target, reason });
    // A call that ended meanwhile is no failure to show an admin: its end is on the timeline.
    if (reason === 'call_ended') return { result: 'failed', via, target, reason, status };
    this.deps.store.errorLogs.record({
      ...this.#scope,
      kind: 'sip',
      code: status === null ? null : String(status),
      message: `transfer to ${target} failed: ${reason}`,
      details: { sipCallId: call.identity.sipCallId, via, uri: this.resolved.uri },
    });
    return { result: 'failed', via, target, reason, status };
  }
}

type Within<T> = { kind: 'value'; value: T } | { kind: 'error'; error: unknown } | { kind: 'timeout' } | { kind: 'aborted' };

/** `work`'s value, or why there is none: an error, `ms` passed, or `signal` aborted. */
function within<T>(work: Promise<T>, ms: number, signal: AbortSignal): Promise<Within<T>> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve({ kind: 'aborted' });
    const finish = (w: Within<T>) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(w);
    };
    const onAbort = () => finish({ kind: 'aborted' });
    const timer = setTimeout(() => finish({ kind: 'timeout' }), ms);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => finish({ kind: 'value', value }),
      (error: unknown) => finish({ kind: 'error', error }),
    );
  });
}
