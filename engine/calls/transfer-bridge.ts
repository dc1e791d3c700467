/**
 * The fallback of a blind transfer the caller's side would not carry out (REFER refused or
 * unanswered): the engine dials the target itself and bridges the two legs in mediasoup, staying
 * in the media path until either side hangs up, then BYEs the other.
 *
 * The outbound leg is a `SipLeg` created as the offerer on the caller's leg's worker (one router
 * per worker; a Consumer takes only Producers of its own router), offering only the caller's
 * codec (mediasoup forwards, it does not transcode). Each leg's Consumer is fed by the other
 * leg's Producer, re-fed at every re-latch (`onProducer`).
 */
import type Srf from 'drachtio-srf';
import type { Logger } from '../../config/logger.js';
import { dial } from './dial.js';
import { NoCommonCodecError } from '../../media/errors.js';
import type { MediaService } from '../../media/media-service.js';
import type { CallLeg } from '../../media/call-leg.js';
import type { SipLeg } from '../../media/sip-leg.js';
import { endWithLeg } from './call-end.js';
import type { Call } from './call.js';
import { destroyDialog } from './in-dialog.js';
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
  leg: SipLeg;
  dialog: Srf.Dialog;
}

export type DialResult = { kind: 'bridged'; bridge: Bridge } | { kind: 'failed'; reason: string; status: number | null };

/** In-dialog requests from the target the bridge does not serve, and their answers (see in-dialog.ts). */
const refusedFromTarget: Record<'refer' | 'info' | 'message' | 'notify', number> = { refer: 501, info: 501, message: 501, notify: 481 };

/**
 * Dials `target` and, once it answers, bridges it with the call's leg. Never throws: a leg that
 * cannot be made, a refusal (486, 603…), no answer within `ringMs`, or an unusable answer is a
 * `failed` result, and the call goes on as before (its leg untouched).
 */
export async function dialAndBridge(deps: BridgeDeps, call: Call, callerLeg: CallLeg, target: ResolvedTarget, opts: DialOptions): Promise<DialResult> {
  const log = call.log.child({ transfer: 'bridge' });
  let leg: SipLeg;
  try {
    leg = await deps.media.createSipLeg(null, { id: `${call.id}:transfer`, log, nextTo: callerLeg, inactivityMs: opts.inactivityMs });
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'transfer leg not created');
    return { kind: 'failed', reason: 'media_unavailable', status: null };
  }
  if (call.ended) {
    leg.close('call ended');
    return { kind: 'failed', reason: 'call_ended', status: null };
  }
  const dialed = await dial(deps.srf, opts.signal ?? call.signal, { offer: leg.offerSdp([callerLeg.codec]), target, ringMs: opts.ringMs, callingNumber: opts.callingNumber }, log);
  if (dialed.kind === 'failed') {
    leg.close('transfer failed');
    return dialed;
  }
  const dialog = dialed.dialog;
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

/**
 * Feeds each leg with the other's Producer (now and after each re-latch) and ties both sides'
 * ends together: the target's BYE ends the call (`callee_hangup`), the call's end BYEs the
 * target and closes its leg.
 */
async function connect(call: Call, callerLeg: CallLeg, leg: SipLeg, dialog: Srf.Dialog, log: Logger): Promise<void> {
  const feed = (to: CallLeg, from: CallLeg) => (producer: import('mediasoup').types.Producer | null) =>
    void to.play(producer).catch((err: unknown) => {
      if (!to.closed && !from.closed) log.warn({ err: (err as Error).message }, 'bridge feed failed');
    });
  const offs = [callerLeg.onProducer(feed(leg, callerLeg)), leg.onProducer(feed(callerLeg, leg))];
  feed(leg, callerLeg)(callerLeg.producer);
  feed(callerLeg, leg)(leg.producer);
  const connected = () => (dialog as Srf.Dialog & { connected?: boolean }).connected !== false;
  dialog.on('destroy', () => {
    if (!call.ended) call.end({ reason: 'callee_hangup', hangupBy: 'callee' });
  });
  dialog.on('modify', (req, res) => answerOffer(leg, req, res, log));
  dialog.on('update', (req, res) => (req.body?.trim() ? answerOffer(leg, req, res, log) : res.send(200)));
  for (const [event, status] of Object.entries(refusedFromTarget)) dialog.on(event as 'refer', (_req, res) => res.send(status));
  leg.on('inactive', () => call.hangup('rtp_timeout'));
  endWithLeg(call, leg, 'callee');
  call.onDispose(() => {
    for (const off of offs) off();
    if (connected()) destroyDialog(dialog, log);
    leg.close('hangup');
  });
  // The caller's own leg may have closed while the bridge was set up: the call is over then.
  if (!connected() && !call.ended) call.end({ reason: 'callee_hangup', hangupBy: 'callee' });
}

/** A re-INVITE or UPDATE with an offer from the target (hold, a new address). */
function answerOffer(leg: SipLeg, req: Srf.SrfRequest, res: Srf.SrfResponse, log: Logger): void {
  if (!req.body?.trim()) {
    // RFC 3261 §14.2: our current description; the answer in the ACK would change nothing here.
    res.send(200, { body: leg.answerSdp, headers: { 'Content-Type': 'application/sdp' } });
    return;
  }
  leg.updateRemote(req.body).then(
    (answer) => res.send(200, { body: answer, headers: { 'Content-Type': 'application/sdp' } }),
    (err: unknown) => {
      log.info({ err: (err as Error).message }, 'offer from transfer target refused');
      res.send(err instanceof NoCommonCodecError ? 488 : 400);
    },
  );
}
