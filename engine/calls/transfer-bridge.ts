/**
 * The fallback of a blind transfer the caller's side would not carry out (REFER refused or
 * unanswered): the engine dials the target itself and bridges the two legs in mediasoup, staying
 * in the media path until either side hangs up, then BYEs the other.
 *
 * The outbound leg is created as the offerer on the caller's leg's worker (one router per worker;
 * a Consumer takes only Producers of its own router), offering only the caller's codec (mediasoup
 * forwards, it does not transcode): a `WebRtcLeg` for a target reached over a WebSocket (a
 * browser: ICE, DTLS-SRTP), a `SipLeg` (plain RTP) otherwise. Each leg's Consumer is fed by the
 * other leg's Producer, re-fed at every new Producer (leg-bridge.ts). A SIP user's bindings all
 * ring at once, a leg each (registrar/user-dial.ts): the first to answer is bridged, the others
 * are CANCELed.
 */
import type Srf from 'drachtio-srf';
import type { Logger } from '../../config/logger.js';
import { dial } from './dial.js';
import { NoCommonCodecError } from '../../media/errors.js';
import type { MediaService } from '../../media/media-service.js';
import type { CallLeg } from '../../media/call-leg.js';
import { endWithLeg } from './call-end.js';
import type { Call } from './call.js';
import { destroyDialog } from './in-dialog.js';
import { feedEachOther, serveBridgedDialog } from './leg-bridge.js';
import { mediaOfBinding } from './registrar/bindings.js';
import { dialBindings } from './registrar/user-dial.js';
import type { ResolvedTarget } from './transfer-target.js';

export interface BridgeDeps {
  srf: Srf;
  media: MediaService;
}

export interface DialOptions {
  /** An unanswered outbound INVITE is CANCELed after this long. */
  ringMs: number;
  /** The From user of the outbound INVITE (the trunk's caller id, else the caller's number). */
  callingNumber: string | null;
  inactivityMs: number;
  /** Stops the INVITE (CANCEL) while it rings; the call's signal when not given. */
  signal?: AbortSignal;
}

/** The outbound side of an established bridge. */
export interface Bridge {
  leg: CallLeg;
  dialog: Srf.Dialog;
}

export type DialResult = { kind: 'bridged'; bridge: Bridge } | { kind: 'failed'; reason: string; status: number | null };

/**
 * Dials `target` and, once it answers, bridges it with the call's leg. Never throws: a leg that
 * cannot be made, a refusal (486, 603…), no answer within `ringMs`, or an unusable answer is a
 * `failed` result, and the call goes on as before (its leg untouched).
 */
export async function dialAndBridge(deps: BridgeDeps, call: Call, callerLeg: CallLeg, target: ResolvedTarget, opts: DialOptions): Promise<DialResult> {
  const log = call.log.child({ transfer: 'bridge' });
  const reached = await reach(deps, call, callerLeg, target, opts, log);
  if (reached.kind === 'failed') return reached;
  const { leg, dialog } = reached;
  try {
    await leg.updateRemote(dialog.remote.sdp ?? '');
  } catch (err) {
    log.info({ err: (err as Error).message }, 'transfer target answer refused');
    destroyDialog(dialog, log);
    leg.close('bad answer');
    return { kind: 'failed', reason: err instanceof NoCommonCodecError ? 'no_common_codec' : 'bad_sdp', status: null };
  }
  if (call.ended) {
    destroyDialog(dialog, log);
    leg.close('call ended');
    return { kind: 'failed', reason: 'call_ended', status: null };
  }
  await connect(call, callerLeg, leg, dialog, log);
  return { kind: 'bridged', bridge: { leg, dialog } };
}

type Reached = { kind: 'answered'; leg: CallLeg; dialog: Srf.Dialog } | Extract<DialResult, { kind: 'failed' }>;

/**
 * The target's leg and answered dialog (its answer not applied yet): one INVITE from one leg, or,
 * for a SIP user, one per binding at once (registrar/user-dial.ts), the first to answer winning.
 */
async function reach(deps: BridgeDeps, call: Call, callerLeg: CallLeg, target: ResolvedTarget, opts: DialOptions, log: Logger): Promise<Reached> {
  const signal = opts.signal ?? call.signal;
  const legOpts = (suffix: string) => ({ id: `${call.id}:transfer${suffix}`, log, nextTo: callerLeg, inactivityMs: opts.inactivityMs });
  if (target.bindings?.length) {
    // Opus reaches only browsers: the devices are left out of such a call.
    const bindings = callerLeg.codec.name === 'opus' ? target.bindings.filter((b) => mediaOfBinding(b) === 'webrtc') : target.bindings;
    if (!bindings.length) {
      log.info('no binding of the user can take the call\'s Opus');
      return { kind: 'failed', reason: 'no_common_codec', status: null };
    }
    const dialed = await dialBindings(
      deps.srf,
      signal,
      {
        bindings,
        makeLeg: (b, i) => {
          // One binding's leg is the call's `:transfer` leg, as any target's; several are told apart by branch.
          const o = legOpts(bindings.length > 1 ? `:${i}` : '');
          return mediaOfBinding(b) === 'webrtc' ? deps.media.createWebRtcLeg(null, o) : deps.media.createSipLeg(null, o);
        },
        offerOf: (leg) => leg.offerSdp([callerLeg.codec]),
        ringMs: opts.ringMs,
        callingNumber: opts.callingNumber,
      },
      log,
    );
    if (dialed.kind === 'failed') return dialed;
    if (call.ended) {
      destroyDialog(dialed.dialog, log);
      dialed.leg.close('call ended');
      return { kind: 'failed', reason: 'call_ended', status: null };
    }
    return dialed;
  }
  // A browser's Opus call reaches only another browser: phones and trunks speak G.711 and
  // mediasoup does not transcode (codec-choice.ts keeps Opus from agents that transfer).
  if (callerLeg.codec.name === 'opus' && target.media !== 'webrtc') {
    log.info({ target: target.media }, 'transfer target cannot take the call\'s Opus');
    return { kind: 'failed', reason: 'no_common_codec', status: null };
  }
  let leg: CallLeg;
  try {
    leg = target.media === 'webrtc' ? await deps.media.createWebRtcLeg(null, legOpts('')) : await deps.media.createSipLeg(null, legOpts(''));
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'transfer leg not created');
    return { kind: 'failed', reason: 'media_unavailable', status: null };
  }
  if (call.ended) {
    leg.close('call ended');
    return { kind: 'failed', reason: 'call_ended', status: null };
  }
  const dialed = await dial(deps.srf, signal, { offer: leg.offerSdp([callerLeg.codec]), target, ringMs: opts.ringMs, callingNumber: opts.callingNumber }, log);
  if (dialed.kind === 'failed') {
    leg.close('transfer failed');
    return dialed;
  }
  return { kind: 'answered', leg, dialog: dialed.dialog };
}

/**
 * Feeds each leg with the other's Producer and ties both sides' ends together: the target's BYE
 * ends the call (`callee_hangup`), the call's end BYEs the target and closes its leg.
 */
async function connect(call: Call, callerLeg: CallLeg, leg: CallLeg, dialog: Srf.Dialog, log: Logger): Promise<void> {
  const stopFeeding = feedEachOther(callerLeg, leg, log);
  const connected = () => (dialog as Srf.Dialog & { connected?: boolean }).connected !== false;
  dialog.on('destroy', () => {
    if (!call.ended) call.end({ reason: 'callee_hangup', hangupBy: 'callee' });
  });
  serveBridgedDialog(dialog, leg, log);
  leg.on('inactive', () => call.hangup('rtp_timeout'));
  // A browser's leg ends by itself too (ICE or DTLS failed, the page closed): so does the call.
  endWithLeg(call, leg, 'callee');
  call.onDispose(() => {
    stopFeeding();
    if (connected()) destroyDialog(dialog, log);
    leg.close('hangup');
  });
  // The caller's own leg may have closed while the bridge was set up: the call is over then.
  if (!connected() && !call.ended) call.end({ reason: 'callee_hangup', hangupBy: 'callee' });
}
