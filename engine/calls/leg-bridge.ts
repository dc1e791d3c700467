/**
 * Two media legs bridged in mediasoup, and the dialog of a leg the engine placed: what the
 * transfer bridge (transfer-bridge.ts) and the user bridge (registrar/user-bridge.ts) share.
 *
 * Both legs stand on one router (`nextTo`): a Consumer takes only Producers of its own router.
 * mediasoup forwards, it does not transcode, so the legs carry one codec (the placed leg offers
 * only the other's).
 */
import type { types as ms } from 'mediasoup';
import type Srf from 'drachtio-srf';
import type { Logger } from '../../config/logger.js';
import { NoCommonCodecError } from '../../media/errors.js';
import type { CallLeg } from '../../media/call-leg.js';

/**
 * Feeds each leg with the other's Producer, now and after each new Producer (a SipLeg's re-latch,
 * a browser's re-offer). Returns what stops the feeding.
 */
export function feedEachOther(a: CallLeg, b: CallLeg, log: Logger): () => void {
  const feed = (to: CallLeg, from: CallLeg) => (producer: ms.Producer | null) =>
    void to.play(producer).catch((err: unknown) => {
      if (!to.closed && !from.closed) log.warn({ err: (err as Error).message }, 'bridge feed failed');
    });
  const offs = [a.onProducer(feed(b, a)), b.onProducer(feed(a, b))];
  feed(b, a)(a.producer);
  feed(a, b)(b.producer);
  return () => {
    for (const off of offs) off();
  };
}

/** In-dialog requests a bridged peer may send that the bridge does not serve, and their answers (see in-dialog.ts). */
const refusedInBridge: Record<'refer' | 'info' | 'message' | 'notify', number> = { refer: 501, info: 501, message: 501, notify: 481 };

/**
 * Serves a bridged peer's dialog: its re-INVITEs and UPDATEs with an offer (hold, a new address)
 * are answered by its leg, REFER, INFO, MESSAGE and NOTIFY refused (`refusedInBridge`).
 */
export function serveBridgedDialog(dialog: Srf.Dialog, leg: CallLeg, log: Logger): void {
  dialog.on('modify', (req, res) => answerOffer(leg, req, res, log));
  dialog.on('update', (req, res) => (req.body?.trim() ? answerOffer(leg, req, res, log) : res.send(200)));
  for (const [event, status] of Object.entries(refusedInBridge)) dialog.on(event as 'refer', (_req, res) => res.send(status));
}

/** A re-INVITE or UPDATE from a bridged peer. */
function answerOffer(leg: CallLeg, req: Srf.SrfRequest, res: Srf.SrfResponse, log: Logger): void {
  if (!req.body?.trim()) {
    // RFC 3261 §14.2: our current description; the answer in the ACK would change nothing here.
    res.send(200, { body: leg.answerSdp, headers: { 'Content-Type': 'application/sdp' } });
    return;
  }
  leg.updateRemote(req.body).then(
    (answer) => res.send(200, { body: answer, headers: { 'Content-Type': 'application/sdp' } }),
    (err: unknown) => {
      log.info({ err: (err as Error).message }, 'offer from bridged peer refused');
      res.send(err instanceof NoCommonCodecError ? 488 : 400);
    },
  );
}
