/**
 * An answered inbound call's dialog: BYE from either side, the ACK that never came, re-INVITE
 * and UPDATE (hold, unhold, new SDP, session refreshes), the answer to a late offer, and the
 * in-dialog requests we do not serve yet, refused rather than answered 200 by drachtio-srf's
 * defaults.
 */
import type Srf from 'drachtio-srf';
import type { Logger } from '../../config/logger.js';
import { NoCommonCodecError } from '../../media/errors.js';
import type { CallLeg } from '../../media/call-leg.js';
import type { Call } from './call.js';
import { dtmfInfoHandler } from './dtmf-in.js';
import { timerDelays } from './session-timer.js';

/**
 * The methods an inbound call serves, for `Allow` (RFC 3261 §20.5) in OPTIONS answers and
 * refusals. INFO is served in a dialog for DTMF only and NOTIFY only during our own transfer's
 * REFER, so neither is advertised; REFER from the caller and MESSAGE are not served.
 */
export const ALLOWED_METHODS = 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE';

type Refusal = { status: number; text: string };

/**
 * Ends a dialog (BYE). drachtio-srf's `destroy()` without a callback returns a promise that
 * rejects when the BYE cannot be sent (the SIP server's connection is down): that is a log line,
 * never an unhandled rejection.
 */
export function destroyDialog(dialog: Srf.Dialog, log: { warn(o: object, msg: string): void }): void {
  try {
    void Promise.resolve(dialog.destroy() as unknown).catch((err: unknown) => log.warn({ err: (err as Error)?.message }, 'BYE not sent'));
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'BYE not sent');
  }
}

/**
 * In-dialog requests we cannot carry out, and the answer each gets instead of drachtio-srf's
 * default 200 (which would tell a carrier that a transfer or a digit was taken).
 *
 * - REFER: 501. RFC 3515 §2.4.2 keeps 603 Decline for a REFER the user did not approve; ours is
 *   not declined, it is not built, and 501 (RFC 3261 §21.5.2, "does not support the
 *   functionality") lets the transferor fall back (e.g. bridge the call itself) instead of
 *   reporting a refusal by the callee.
 * - INFO: 501 for anything but DTMF (`application/dtmf-relay`, `application/dtmf`), which
 *   dtmf-in.ts answers and reports as the call's `dtmf` event.
 * - MESSAGE: 501 (RFC 3428 is not served).
 * - NOTIFY: 481, RFC 6665 §4.1.3: a NOTIFY matching no subscription "MUST" get 481; an INVITE
 *   dialog with no REFER accepted has none. While a transfer's REFER is under way, transfer.ts
 *   takes the `Event: refer` NOTIFYs (`takeInDialog`).
 */
const unserved: Record<'refer' | 'info' | 'message' | 'notify', Refusal> = {
  refer: { status: 501, text: 'Transfers requested by the caller (REFER) are not implemented' },
  info: { status: 501, text: 'INFO is served for DTMF only (application/dtmf-relay, application/dtmf)' },
  message: { status: 501, text: 'MESSAGE is not implemented' },
  notify: { status: 481, text: 'No subscription in this dialog' },
};

/**
 * Answers one in-dialog request that would otherwise be refused (see `unserved`); returns false
 * to leave it to the refusal.
 */
export type InDialogTaker = (req: Srf.SrfRequest, res: Srf.SrfResponse) => boolean;

const takers = new WeakMap<Srf.Dialog, Map<keyof typeof unserved, InDialogTaker>>();

/**
 * Lets another part of call control serve an otherwise refused method in one dialog while it
 * needs to (a transfer takes the NOTIFYs of its REFER's implicit subscription, RFC 3515 §2.4.4).
 * One taker per method and dialog; returns the release.
 */
export function takeInDialog(dialog: Srf.Dialog, method: keyof typeof unserved, taker: InDialogTaker): () => void {
  let byMethod = takers.get(dialog);
  if (!byMethod) takers.set(dialog, (byMethod = new Map()));
  byMethod.set(method, taker);
  return () => {
    if (byMethod.get(method) === taker) byMethod.delete(method);
  };
}

interface DialogTimer {
  interval: number;
  refresher: 'uac' | 'uas';
  headers: Record<string, string>;
}

/**
 * In-dialog life: BYE, ACK timeout, re-INVITE and UPDATE, session refreshes, unserved methods.
 * `remote` is who the far end is: the caller of an inbound call, the callee of an outbound one
 * (its BYE ends the call `caller_hangup` or `callee_hangup`).
 */
export function wireDialog(call: Call, dialog: Srf.Dialog, leg: CallLeg, timer: DialogTimer | undefined, remote: 'caller' | 'callee' = 'caller'): void {
  const hangup = { reason: `${remote}_hangup`, hangupBy: remote } as const;
  // `connected` is a public field of drachtio-srf's Dialog, missing from its typings.
  const connected = () => (dialog as Srf.Dialog & { connected?: boolean }).connected !== false;
  // drachtio-srf reads every frame of a TCP chunk in one go: a BYE right behind our 200's echo
  // can end the dialog before this code runs (before createUAS's promise continues).
  if (!connected()) {
    call.end(hangup);
    return;
  }
  dialog.on('destroy', (bye: Srf.SrfRequest) => {
    // Our own BYE (the call ended first, and its disposer destroyed the dialog) ends nothing.
    if (call.ended) return;
    // A BYE from the SIP server itself (drachtio's "unsolicited" request) is the one it sends
    // when our 2xx was never ACKed (RFC 3261 §13.3.1.4, 64*T1); the caller's BYEs come from
    // the network.
    if (bye?.source === 'application') call.end({ reason: 'ack_timeout', hangupBy: 'system' });
    else call.end(hangup);
  });
  call.onDispose(() => {
    if (connected()) destroyDialog(dialog, call.log);
  });

  const armTimer = sessionTimer(call, dialog, leg, timer);
  armTimer();
  serveOffers(call, dialog, leg, timer, armTimer);
  for (const [event, refusal] of Object.entries(unserved)) {
    const refuse = (req: Srf.SrfRequest, res: Srf.SrfResponse) => {
      if (takers.get(dialog)?.get(event as keyof typeof unserved)?.(req, res)) return;
      call.log.info({ method: req.method, status: refusal.status }, 'in-dialog request not served');
      res.send(refusal.status, { headers: { Allow: ALLOWED_METHODS, Warning: `399 agent-studio "${refusal.text}"` } });
    };
    dialog.on(event as 'refer', event === 'info' ? dtmfInfoHandler(call, refuse) : refuse);
  }
}

/** re-INVITE and UPDATE, with or without an offer; each answer (re)arms the session timer. */
function serveOffers(call: Call, dialog: Srf.Dialog, leg: CallLeg, timer: DialogTimer | undefined, armTimer: () => void): void {
  const answerOffer = (req: Srf.SrfRequest, res: Srf.SrfResponse) => {
    if (req.method === 'INVITE' && !req.body?.trim()) return offerInAnswer(res);
    leg
      .updateRemote(req.body)
      .then((answer) => {
        res.send(200, { body: answer, headers: { 'Content-Type': 'application/sdp', ...(timer ? timer.headers : {}) } });
        armTimer();
      })
      .catch((err: unknown) => {
        call.log.warn({ err: (err as Error).message, method: req.method }, 'offer in dialog refused');
        res.send(err instanceof NoCommonCodecError ? 488 : 400);
      });
  };
  // RFC 3261 §14.2: a re-INVITE without an offer (SBCs refresh sessions so) gets ours in the
  // 2xx, our current description; the answer comes in the ACK.
  const offerInAnswer = (res: Srf.SrfResponse) => {
    res.send(200, { body: leg.answerSdp, headers: { 'Content-Type': 'application/sdp', ...(timer ? timer.headers : {}) } });
    armTimer();
    dialog.once('ack', (ack: { body?: string }) => {
      if (!ack.body?.trim() || call.ended) return;
      leg.updateRemote(ack.body).catch((err: unknown) => {
        call.log.info({ err: (err as Error).message }, 'answer in ACK refused');
        call.hangup(err instanceof NoCommonCodecError ? 'no_common_codec' : 'bad_sdp');
      });
    });
  };
  dialog.on('modify', answerOffer);
  dialog.on('update', (req, res) => {
    // RFC 3311 §5.2: an UPDATE with an offer gets its answer in the 2xx; answering a bare 200
    // would leave the caller sending to an address we never took.
    if (req.body?.trim()) return answerOffer(req, res);
    res.send(200, { headers: timer ? timer.headers : {} });
    armTimer();
  });
}

/** RFC 4028 §10 on an answered call; returns the function that (re)arms it after a refresh. */
function sessionTimer(call: Call, dialog: Srf.Dialog, leg: CallLeg, timer: DialogTimer | undefined): () => void {
  const delays = timer && timerDelays(timer.interval);
  let expiry: NodeJS.Timeout | undefined;
  const arm = () => {
    if (!timer || !delays) return;
    clearTimeout(expiry);
    if (timer.refresher === 'uac') {
      // §10: the side not refreshing sends BYE shortly before expiry.
      expiry = call.timer(delays.expireMs, () => call.hangup('session_timer_expired'));
    } else {
      expiry = call.timer(delays.refreshMs, () => {
        // Our current description (after any hold or new offer), unchanged, so its version
        // stays (RFC 3264 §8). drachtio-srf's `dialog.local.sdp` is still the first answer.
        dialog
          .modify(leg.answerSdp)
          .then(arm)
          .catch(() => call.hangup('session_timer_expired'));
      });
    }
  };
  return arm;
}

/**
 * The caller's answer to our offer, from its ACK (drachtio-srf records it as the dialog's remote
 * SDP before emitting 'ack'; it may already be there when the ACK came in the same read as the
 * 200's echo). An ACK without SDP, or an answer we cannot use, ends the call with BYE.
 */
export function takeAnswer(call: Call, dialog: Srf.Dialog, leg: CallLeg, log: Logger): void {
  // Taken once: either the SDP is already there, or the one ACK brings it.
  const take = (sdp: string | undefined) => {
    if (call.ended) return;
    if (!sdp?.trim()) return call.hangup('no_offer');
    leg.updateRemote(sdp).then(
      () => log.debug('answer to our offer applied'),
      (err: unknown) => {
        log.info({ err: (err as Error).message }, 'answer to our offer refused');
        call.hangup(err instanceof NoCommonCodecError ? 'no_common_codec' : 'bad_sdp');
      },
    );
  };
  if (dialog.remote.sdp) take(dialog.remote.sdp);
  // drachtio-srf's typings give 'ack' a response; it emits the ACK request.
  else dialog.once('ack', (ack: { body?: string }) => take(ack.body));
}
