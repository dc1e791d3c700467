/**
 * A call to a registered SIP user whose device does not speak the caller's media: a plain-RTP
 * phone calling a browser (which needs ICE and DTLS-SRTP, RFC 8827), or a browser calling a
 * phone. Proxying cannot work there, so the engine is a B2BUA for that call (RFC 3261 §6,
 * "back-to-back user agent") with the media anchored in mediasoup:
 *
 * 1. the caller's leg is made from its offer (`createLeg`: a WebRtcLeg for a WebRTC offer, else a
 *    SipLeg), and a leg for the callee next to it (`nextTo`, one router), as the offerer: a
 *    WebRtcLeg for a contact reached down a WebSocket, a SipLeg for a device. The callee's leg
 *    offers only the caller's codec (G.711 both sides: mediasoup forwards, it does not transcode);
 * 2. every binding rings at once (user-fork.ts): each gets a leg of its own, next to the caller's,
 *    and an INVITE to its Contact (dial.ts, drachtio-srf's `createUAC`; a WebSocket client's
 *    `*.invalid` host is an alias of its socket), From the caller's username or number. The first
 *    2xx wins; the other branches are CANCELed and their legs closed (a late 2xx is ACKed and
 *    BYEd);
 * 3. the first 180/183 rings the caller (180, no early media); the winner's 2xx answers the
 *    caller with the caller leg's answer, and the two legs' Producers feed each other (leg-bridge.ts);
 * 4. the caller's CANCEL CANCELs every branch (the SIP server has already answered 200 and 487);
 *    when no branch answers, the best refusal is passed to the caller (603, 486, 480…: user-fork.ts
 *    `bestFailure`); no answer within the ring time (`sip.userRingMs`) is 480, a callee never
 *    reached 480;
 * 5. BYE from either side BYEs the other; a leg closing (ICE or DTLS failed, the page closed, the
 *    media worker died) or falling silent past its inactivity time BYEs both. A ringing branch
 *    whose leg closes is CANCELed alone.
 *
 * An observer (`BridgeObserver`) hears the call ring, answer and end: a trunk's call to a user
 * keeps its call record that way (../trunk-user-call.ts).
 */
import { randomUUID } from 'node:crypto';
import type Srf from 'drachtio-srf';
import type { Logger } from '../../../config/logger.js';
import type { CallLeg } from '../../../media/call-leg.js';
import { NoCommonCodecError, SdpError } from '../../../media/errors.js';
import type { MediaService } from '../../../media/media-service.js';
import { destroyDialog } from '../in-dialog.js';
import { feedEachOther, serveBridgedDialog } from '../leg-bridge.js';
import { mediaOfBinding, type Binding } from './bindings.js';
import { forkInvite, refusalFor, type ForkBranch } from './user-fork.js';

/** How long the callee may ring before the caller gets 480, unless the engine sets another (config `sip.userRingMs`). */
export const USER_BRIDGE_RING_MS = 60_000;

/**
 * placing: legs being made; ringing: the callee's INVITE is out; connecting: the callee answered,
 * its answer is applied and the caller answered; bridged: media flows both ways; ended.
 */
export type UserBridgeState = 'placing' | 'ringing' | 'connecting' | 'bridged' | 'ended';

const legalMoves: Record<UserBridgeState, readonly UserBridgeState[]> = {
  placing: ['ringing', 'ended'],
  ringing: ['connecting', 'ended'],
  connecting: ['bridged', 'ended'],
  bridged: ['ended'],
  ended: [],
};

/** Why a bridged call ended (the caller's side is `caller`, the dialled user's `callee`). */
export type BridgeEndReason =
  | 'caller_bye'
  | 'callee_bye'
  | 'caller_cancel'
  /** The caller's 200 could not be sent (a CANCEL crossed the callee's 200, or the caller is gone). */
  | 'caller_gone'
  | 'no_answer'
  /** Every branch refused: `calleeStatus` is the refusal the caller got (486, 603…). */
  | 'callee_refused'
  | 'dial_error'
  | 'media_unavailable'
  | 'no_common_codec'
  | 'bad_sdp'
  | 'rtp_timeout'
  /** A leg closed by itself: `leg` says whose and why (its close reason: ice_failed, dtls_closed…). */
  | 'leg_closed'
  /** Ended from outside (`BridgeHandle.hangup`). */
  | 'hangup'
  | 'engine_error';

export interface BridgeEnd {
  reason: BridgeEndReason;
  /** The callee's final status: 200 once answered, the best refusal, else null. */
  calleeStatus: number | null;
  leg?: { side: 'caller' | 'callee'; reason: string };
}

/** What a call's owner hears of a bridge; a listener must not throw (it is logged if it does). */
export interface BridgeObserver {
  /** The first 180 or 183 of a binding, when the caller is sent 180. */
  ringing(): void;
  /** Both sides answered and the legs feed each other. */
  answered(callerLeg: CallLeg): void;
  /** Once, as the call ends. The legs are closed after what it returns has settled (their counters can be read till then). */
  ended(end: BridgeEnd): Promise<void> | void;
}

export interface UserBridgeOptions {
  /** The caller's username or number (the From user of the INVITEs to the callee); drachtio's default when null. */
  caller: string | null;
  aor: string;
  /** The bindings that ring, all at once. */
  bindings: readonly Binding[];
  ringMs?: number;
  /** RTP silence after which a bridged call ends (the legs' `inactivityMs`). */
  inactivityMs?: number;
  observer?: BridgeObserver;
}

/** A bridged call, for whoever started it. */
export interface BridgeHandle {
  /** Ends it from outside (BYE to both sides, or CANCEL and a 480 to an unanswered caller). */
  hangup(): void;
}

type UasRequest = Srf.SrfRequest & { on(event: 'cancel', fn: () => void): void };

/** Bridged calls to registered users; `active` is how many are not over yet. */
export class UserBridges {
  readonly #calls = new Set<BridgedUserCall>();

  constructor(
    private readonly srf: Srf,
    private readonly media: MediaService,
    private readonly log: Logger,
    /** The ring time of calls that do not set their own. */
    private readonly ringMs = USER_BRIDGE_RING_MS,
  ) {}

  get active(): number {
    return this.#calls.size;
  }

  /** Takes the INVITE: answers it in time, never throws (every failure is a final response and a log line). */
  start(req: Srf.SrfRequest, res: Srf.SrfResponse, o: UserBridgeOptions): BridgeHandle {
    const id = randomUUID();
    const call = new BridgedUserCall(this.srf, this.media, req as UasRequest, res, { ringMs: this.ringMs, ...o }, this.log.child({ bridgeId: id, aor: o.aor }), id);
    this.#calls.add(call);
    void call.run().finally(() => this.#calls.delete(call));
    return { hangup: () => call.hangup() };
  }
}

/** One branch of the fork: its binding's leg and its own CANCEL. */
interface Branch extends ForkBranch {
  leg: CallLeg;
}

class BridgedUserCall {
  #state: UserBridgeState = 'placing';
  readonly #abort = new AbortController();
  readonly #legs: CallLeg[] = [];
  readonly #dialogs = new Set<Srf.Dialog>();
  readonly #cleanup: (() => void)[] = [];
  #calleeStatus: number | null = null;
  #ended!: () => void;
  readonly #done = new Promise<void>((resolve) => (this.#ended = resolve));

  constructor(
    private readonly srf: Srf,
    private readonly media: MediaService,
    private readonly req: UasRequest,
    private readonly res: Srf.SrfResponse,
    private readonly o: UserBridgeOptions & { ringMs: number },
    private readonly log: Logger,
    private readonly id: string,
  ) {}

  /** Resolves once the call is over, whichever way. */
  async run(): Promise<void> {
    try {
      await this.#place();
    } catch (err) {
      this.log.error({ err }, 'bridged user call failed');
      this.#refuse(500);
      this.#end('engine_error');
    }
    await this.#done;
  }

  hangup(): void {
    this.#end('hangup');
  }

  async #place(): Promise<void> {
    const { req, o, log } = this;
    // The SIP server has already answered 200 to the CANCEL and 487 to the INVITE.
    req.on('cancel', () => {
      log.info('caller canceled');
      this.#abort.abort();
      if (this.#state === 'placing') this.#end('caller_cancel');
    });
    const callerLeg = await this.#leg(() => this.media.createLeg(req.body, this.#legOpts('caller')), 'caller');
    if (!callerLeg) return;
    const branches = await this.#branches(callerLeg);
    if (!branches) return;
    if (!this.#move('ringing', 'legs ready')) return;
    log.info({ caller: o.caller, bindings: branches.map((b) => b.binding.contact), callerMedia: callerLeg.kind }, 'bridging a call to a registered user');
    let rung = false;
    const forked = await forkInvite(
      this.srf,
      this.#abort.signal,
      branches,
      {
        ringMs: o.ringMs,
        callingNumber: o.caller,
        onRinging: () => {
          if (rung || this.#state !== 'ringing') return;
          rung = true;
          this.#send(180);
          this.#observe('ringing', () => o.observer?.ringing());
        },
      },
      log,
    );
    if (forked.kind === 'failed') {
      this.#calleeStatus = forked.status;
      if (forked.reason === 'call_ended') {
        // Every branch CANCELed under us: the caller's CANCEL, the call ended, or every callee leg closed.
        if (this.#abort.signal.aborted) return this.#end('caller_cancel');
        this.#refuse(503);
        this.#end('leg_closed', { leg: { side: 'callee', reason: 'every branch leg closed' } });
        return;
      }
      this.#refuse(refusalFor(forked));
      this.#end(forked.reason === 'refused' ? 'callee_refused' : forked.reason);
      return;
    }
    const winner = branches[forked.index]!;
    // The losers' legs go now; their CANCELs are on their way (user-fork.ts).
    for (const b of branches) if (b !== winner) b.leg.close('another binding answered');
    this.#calleeStatus = 200;
    this.#dialogs.add(forked.dialog);
    forked.dialog.on('destroy', () => this.#dialogGone(forked.dialog, 'callee_bye'));
    if (!this.#move('connecting', 'callee answered')) return;
    log.info({ contact: winner.binding.contact, calleeMedia: winner.leg.kind }, 'a binding answered');
    try {
      await winner.leg.updateRemote(forked.dialog.remote.sdp ?? '');
    } catch (err) {
      log.info({ err: (err as Error).message }, "callee's answer refused");
      this.#refuse(488);
      this.#end(err instanceof NoCommonCodecError ? 'no_common_codec' : 'bad_sdp');
      return;
    }
    await this.#answerCaller(callerLeg, winner.leg, forked.dialog);
  }

  /**
   * A leg and an offer per binding, next to the caller's leg (one router), offering only the
   * caller's codec: WebRTC for a browser, plain RTP for a device. A binding whose leg cannot be
   * made is left out; null (the caller refused) when none can.
   */
  async #branches(callerLeg: CallLeg): Promise<Branch[] | null> {
    const made = await Promise.all(
      this.o.bindings.map(async (binding, i) => {
        const opts = { ...this.#legOpts(`callee:${i}`), nextTo: callerLeg };
        const leg = await this.#leg(() => (mediaOfBinding(binding) === 'webrtc' ? this.media.createWebRtcLeg(null, opts) : this.media.createSipLeg(null, opts)), 'callee', true);
        return leg && { binding, leg, offer: leg.offerSdp([callerLeg.codec]), abort: new AbortController() };
      }),
    );
    if (this.#state === 'ended') return null;
    const branches = made.filter((b): b is Branch => b !== null);
    if (branches.length === 0) {
      this.#refuse(503);
      this.#end('media_unavailable');
      return null;
    }
    // A ringing branch whose leg dies is CANCELed alone; once it has won, its close ends the call.
    for (const b of branches) this.#cleanup.push(b.leg.on('close', () => b.abort.abort()));
    return branches;
  }

  async #answerCaller(callerLeg: CallLeg, calleeLeg: CallLeg, callee: Srf.Dialog): Promise<void> {
    if (this.#state !== 'connecting') return;
    let uas: Srf.Dialog;
    try {
      uas = await this.srf.createUAS(this.req, this.res, { localSdp: callerLeg.answerSdp });
    } catch (err) {
      // A CANCEL that crossed the callee's 200, or a caller gone.
      this.log.info({ err: (err as Error).message }, 'caller not answered');
      this.#end('caller_gone');
      return;
    }
    if (this.#state !== 'connecting') {
      // The call ended while the caller's 200 was out (a leg closed, the callee hung up): BYE it.
      destroyDialog(uas, this.log);
      return;
    }
    this.#dialogs.add(uas);
    uas.on('destroy', () => this.#dialogGone(uas, 'caller_bye'));
    if (!this.#move('bridged', 'caller answered')) return;
    this.#cleanup.push(feedEachOther(callerLeg, calleeLeg, this.log));
    serveBridgedDialog(uas, callerLeg, this.log);
    serveBridgedDialog(callee, calleeLeg, this.log);
    for (const leg of [callerLeg, calleeLeg]) this.#cleanup.push(leg.on('inactive', (ms) => this.#end('rtp_timeout', { legId: leg.id, silentMs: ms })));
    this.#observe('answered', () => this.o.observer?.answered(callerLeg));
  }

  /**
   * A leg for one side, or null when it cannot be made (then the caller has had its answer,
   * unless `optional`: a callee leg among several). The caller's leg, or a callee's once it has
   * won, closing by itself ends the call.
   */
  async #leg(make: () => Promise<CallLeg>, side: 'caller' | 'callee', optional = false): Promise<CallLeg | null> {
    let leg: CallLeg;
    try {
      leg = await make();
    } catch (err) {
      const status = err instanceof NoCommonCodecError ? 488 : err instanceof SdpError ? 400 : 503;
      this.log.info({ err: (err as Error).message, status, side }, 'bridge leg not made');
      if (optional) return null;
      this.#refuse(status);
      this.#end(err instanceof NoCommonCodecError ? 'no_common_codec' : err instanceof SdpError ? 'bad_sdp' : 'media_unavailable');
      return null;
    }
    this.#legs.push(leg);
    if (this.#state === 'ended') {
      leg.close('bridge ended');
      return null;
    }
    this.#cleanup.push(
      leg.on('close', (reason) => {
        if (this.#state === 'ended') return;
        // A ringing branch's leg only cancels its branch (see #branches).
        if (side === 'callee' && (this.#state === 'placing' || this.#state === 'ringing')) return;
        if (this.#state === 'placing' || this.#state === 'ringing') this.#refuse(503);
        this.#end('leg_closed', { leg: { side, reason } });
      }),
    );
    return leg;
  }

  #legOpts(side: string) {
    return { id: `${this.id}:${side}`, log: this.log.child({ side }), ...(this.o.inactivityMs ? { inactivityMs: this.o.inactivityMs } : {}) };
  }

  #dialogGone(dialog: Srf.Dialog, why: 'caller_bye' | 'callee_bye'): void {
    this.#dialogs.delete(dialog);
    this.#end(why);
  }

  /** A final refusal to the caller, unless it has one (487 after its CANCEL, a 200). */
  #refuse(status: number): void {
    if (this.#abort.signal.aborted) return;
    this.#send(status);
  }

  #send(status: number): void {
    if (this.res.finalResponseSent) return;
    try {
      this.res.send(status);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, status }, 'response to the caller not sent');
    }
  }

  #move(to: UserBridgeState, reason: string): boolean {
    if (!legalMoves[this.#state].includes(to)) {
      if (this.#state !== 'ended') this.log.warn({ from: this.#state, to, reason }, 'bridge move refused');
      return false;
    }
    this.log.debug({ from: this.#state, to, reason }, 'bridge state');
    this.#state = to;
    return true;
  }

  /** Runs an observer's callback; one that throws is logged, never fatal. */
  #observe<T>(what: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.log.error({ err, what }, 'bridge observer threw');
      return undefined;
    }
  }

  /**
   * Ends both sides once: BYE to every dialog still up, CANCEL of the ringing INVITEs, the
   * observer told, then every leg closed.
   */
  #end(reason: BridgeEndReason, fields: { leg?: BridgeEnd['leg'] } & Record<string, unknown> = {}): void {
    const from = this.#state;
    const canceled = this.#abort.signal.aborted;
    if (!this.#move('ended', reason)) return;
    this.log.info({ reason, from, ...fields }, 'bridged user call ended');
    this.#abort.abort();
    for (const off of this.#cleanup.splice(0)) off();
    for (const d of [...this.#dialogs]) destroyDialog(d, this.log);
    this.#dialogs.clear();
    // Unanswered and not canceled: the caller must not be left without a final response. A
    // callee that hung up before the caller was answered is unavailable (480), not our fault (500).
    if (from !== 'bridged' && !canceled) this.#send(from === 'connecting' && reason !== 'callee_bye' ? 500 : 480);
    const end: BridgeEnd = { reason, calleeStatus: this.#calleeStatus, ...(fields.leg ? { leg: fields.leg } : {}) };
    const told = this.#observe('ended', () => this.o.observer?.ended(end));
    void Promise.resolve(told)
      .catch((err: unknown) => this.log.error({ err }, 'bridge observer failed'))
      .finally(() => {
        for (const leg of this.#legs) leg.close(reason);
        this.#ended();
      });
  }
}
