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
 * 2. the INVITE goes to the binding's Contact (dial.ts, drachtio-srf's `createUAC`; a WebSocket
 *    client's `*.invalid` host is an alias of its socket), From the caller's username;
 * 3. the callee's 180/183 rings the caller (180, no early media); its 2xx answers the caller with
 *    the caller leg's answer, and the two legs' Producers feed each other (leg-bridge.ts);
 * 4. the caller's CANCEL CANCELs the callee's INVITE (the SIP server has already answered 200 and
 *    487); the callee's refusal is passed to the caller (486, 603, 480…), no answer within the
 *    ring time is 408 (as the proxy's `finalTimeout` gives), a callee never reached 480;
 * 5. BYE from either side BYEs the other; a leg closing (ICE or DTLS failed, the page closed, the
 *    media worker died) or falling silent past its inactivity time BYEs both.
 *
 * One binding rings: the newest (the one a transfer to the user dials too, user-target.ts).
 * Forking would take a leg (a mediasoup transport, an ICE agent) per ringing device and a dialog
 * set with early dialogs per binding, for a case (a user on a phone and a browser at once) the
 * proxy still serves when the caller's media suits every binding.
 */
import { randomUUID } from 'node:crypto';
import type Srf from 'drachtio-srf';
import type { Logger } from '../../../config/logger.js';
import type { CallLeg } from '../../../media/call-leg.js';
import { NoCommonCodecError, SdpError } from '../../../media/errors.js';
import type { MediaService } from '../../../media/media-service.js';
import { isWebRtcOffer } from '../../../media/sdp/index.js';
import { dial } from '../dial.js';
import { destroyDialog } from '../in-dialog.js';
import { feedEachOther, serveBridgedDialog } from '../leg-bridge.js';
import { mediaOfBinding, type Binding } from './bindings.js';

/** How long the callee may ring before the caller gets 408 (the proxy's `finalTimeout`, user-calls.ts). */
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

/**
 * The binding a call must be bridged to, or null when it is proxied as before: the INVITE has no
 * offer (a late offer is the devices' own business) or one we cannot read, or every binding
 * speaks the caller's media (a WebRTC offer and browsers, a plain RTP offer and devices).
 */
export function bridgeTarget(offer: string | undefined, bindings: readonly Binding[]): Binding | null {
  if (!offer?.trim() || bindings.length === 0) return null;
  let media: 'webrtc' | 'rtp';
  try {
    media = isWebRtcOffer(offer) ? 'webrtc' : 'rtp';
  } catch {
    // An offer we cannot read is the devices' business, as before: proxied.
    return null;
  }
  if (bindings.every((b) => mediaOfBinding(b) === media)) return null;
  return bindings.reduce((a, b) => (b.registeredAt > a.registeredAt ? b : a));
}

export interface UserBridgeOptions {
  /** The caller's username (the From user of the INVITE to the callee). */
  caller: string;
  aor: string;
  binding: Binding;
  ringMs?: number;
  /** RTP silence after which a bridged call ends (the legs' `inactivityMs`). */
  inactivityMs?: number;
}

type UasRequest = Srf.SrfRequest & { on(event: 'cancel', fn: () => void): void };

/** Bridged calls to registered users; `active` is how many are not over yet. */
export class UserBridges {
  readonly #calls = new Set<BridgedUserCall>();

  constructor(
    private readonly srf: Srf,
    private readonly media: MediaService,
    private readonly log: Logger,
  ) {}

  get active(): number {
    return this.#calls.size;
  }

  /** Takes the INVITE: answers it in time, never throws (every failure is a final response and a log line). */
  start(req: Srf.SrfRequest, res: Srf.SrfResponse, o: UserBridgeOptions): void {
    const id = randomUUID();
    const call = new BridgedUserCall(this.srf, this.media, req as UasRequest, res, o, this.log.child({ bridgeId: id, aor: o.aor }), id);
    this.#calls.add(call);
    void call.run().finally(() => this.#calls.delete(call));
  }
}

class BridgedUserCall {
  #state: UserBridgeState = 'placing';
  readonly #abort = new AbortController();
  readonly #legs: CallLeg[] = [];
  readonly #dialogs = new Set<Srf.Dialog>();
  readonly #cleanup: (() => void)[] = [];
  #ended!: () => void;
  readonly #done = new Promise<void>((resolve) => (this.#ended = resolve));

  constructor(
    private readonly srf: Srf,
    private readonly media: MediaService,
    private readonly req: UasRequest,
    private readonly res: Srf.SrfResponse,
    private readonly o: UserBridgeOptions,
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

  async #place(): Promise<void> {
    const { req, o, log } = this;
    // The SIP server has already answered 200 to the CANCEL and 487 to the INVITE.
    req.on('cancel', () => {
      log.info('caller canceled');
      this.#abort.abort();
      if (this.#state === 'placing') this.#end('caller_cancel');
    });
    const callerLeg = await this.#leg(() => this.media.createLeg(req.body, this.#legOpts('caller')));
    if (!callerLeg) return;
    const legOpts = { ...this.#legOpts('callee'), nextTo: callerLeg };
    const calleeMedia = mediaOfBinding(o.binding);
    const calleeLeg = await this.#leg(() => (calleeMedia === 'webrtc' ? this.media.createWebRtcLeg(null, legOpts) : this.media.createSipLeg(null, legOpts)));
    if (!calleeLeg) return;
    if (!this.#move('ringing', 'legs ready')) return;
    log.info({ caller: o.caller, contact: o.binding.contact, callerMedia: callerLeg.kind, calleeMedia: calleeLeg.kind }, 'bridging a call to a registered user');
    let rung = false;
    const dialed = await dial(
      this.srf,
      this.#abort.signal,
      {
        offer: calleeLeg.offerSdp([callerLeg.codec]),
        target: { uri: o.binding.contact, auth: null },
        ringMs: o.ringMs ?? USER_BRIDGE_RING_MS,
        callingNumber: o.caller,
        onProvisional: ({ status }) => {
          if (rung || (status !== 180 && status !== 183) || this.#state !== 'ringing') return;
          rung = true;
          this.#send(180);
        },
      },
      log,
    );
    if (dialed.kind === 'failed') {
      this.#refuse(refusalFor(dialed));
      this.#end(dialed.reason);
      return;
    }
    this.#dialogs.add(dialed.dialog);
    dialed.dialog.on('destroy', () => this.#dialogGone(dialed.dialog, 'callee_bye'));
    if (!this.#move('connecting', 'callee answered')) return;
    try {
      await calleeLeg.updateRemote(dialed.dialog.remote.sdp ?? '');
    } catch (err) {
      log.info({ err: (err as Error).message }, "callee's answer refused");
      this.#refuse(488);
      this.#end(err instanceof NoCommonCodecError ? 'no_common_codec' : 'bad_sdp');
      return;
    }
    await this.#answerCaller(callerLeg, calleeLeg, dialed.dialog);
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
    for (const leg of [callerLeg, calleeLeg]) this.#cleanup.push(leg.on('inactive', (ms) => this.#end('rtp_timeout', { leg: leg.id, silentMs: ms })));
  }

  /** A leg for one side, or null when it cannot be made (the caller has had its answer then). */
  async #leg(make: () => Promise<CallLeg>): Promise<CallLeg | null> {
    let leg: CallLeg;
    try {
      leg = await make();
    } catch (err) {
      const status = err instanceof NoCommonCodecError ? 488 : err instanceof SdpError ? 400 : 503;
      this.log.info({ err: (err as Error).message, status }, 'bridge leg not made');
      this.#refuse(status);
      this.#end('media_unavailable');
      return null;
    }
    this.#legs.push(leg);
    if (this.#state === 'ended') {
      leg.close('bridge ended');
      return null;
    }
    // A leg ending by itself (ICE or DTLS failed, the page closed, its worker died) ends the call.
    this.#cleanup.push(
      leg.on('close', (reason) => {
        if (this.#state === 'ended') return;
        if (this.#state === 'placing' || this.#state === 'ringing') this.#refuse(503);
        this.#end('leg_closed', { leg: leg.id, legReason: reason });
      }),
    );
    return leg;
  }

  #legOpts(side: 'caller' | 'callee') {
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

  /** Ends both sides once: BYE to every dialog still up, CANCEL of a ringing INVITE, both legs closed. */
  #end(reason: string, fields: Record<string, unknown> = {}): void {
    const from = this.#state;
    const canceled = this.#abort.signal.aborted;
    if (!this.#move('ended', reason)) return;
    this.log.info({ reason, from, ...fields }, 'bridged user call ended');
    this.#abort.abort();
    for (const off of this.#cleanup.splice(0)) off();
    for (const d of [...this.#dialogs]) destroyDialog(d, this.log);
    this.#dialogs.clear();
    for (const leg of this.#legs) leg.close(reason);
    // Unanswered and not canceled: the caller must not be left without a final response. A
    // callee that hung up before the caller was answered is unavailable (480), not our fault (500).
    if (from !== 'bridged' && !canceled) this.#send(from === 'connecting' && reason !== 'callee_bye' ? 500 : 480);
    this.#ended();
  }
}

/** What the caller is told when the callee's INVITE failed (dial.ts's `failed`). */
function refusalFor(d: { reason: string; status: number | null }): number {
  if (d.reason === 'no_answer') return 408;
  const s = d.status;
  // A challenge from the callee is between it and the engine; the caller cannot answer it.
  if (s === null || s === 401 || s === 407 || s < 400 || s > 699) return 480;
  return s;
}
