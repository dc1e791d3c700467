/**
 * The UAS core's share of the stack (RFC 3261 §8.2, §9.2, §12.1.1, §12.2.2, §13.3.1): what every
 * UA must do with received requests before (and while) the application answers them.
 */
import type { Logger } from '../../config/logger.js';
import type { TypedEmitter } from '../../lib/typed-emitter.js';
import { Dialog, endsSubscription } from './dialog/dialog.js';
import type { DialogTable } from './dialog/dialog-table.js';
import type { Uas2xxRetransmitter } from './dialog/uas-2xx-retransmitter.js';
import { SipParseError } from './message/errors.js';
import { SipResponse, type SipRequest } from './message/message.js';
import { parseUri, type Uri } from './message/uri.js';
import { hasRfc3261Branch } from './message/via.js';
import type { RoutedRequests, SipStackEvents } from './stack-events.js';
import type { SipStackOptions } from './stack-options.js';
import { ServerInviteTransaction } from './transaction/server-invite-transaction.js';
import type { ServerTransaction } from './transaction/transaction-layer.js';
import type { TransportLayer } from './transport/transport-layer.js';
import type { ReceivedInfo, SentInfo, SipProtocol } from './transport/types.js';

/** Request-URI schemes this UAS serves (§19.1 SIP and SIPS, RFC 3966 tel). */
const SUPPORTED_SCHEMES = new Set(['sip', 'sips', 'tel']);

/**
 * Option tags a request may Require (§8.2.2.3): RFC 3262 reliable provisional responses (the
 * drachtio layer numbers and resends them) and RFC 4028 session timers (call control runs them).
 */
const SUPPORTED_OPTION_TAGS = new Set(['100rel', 'timer']);

/** Requests that can establish a dialog (RFC 3261 INVITE, RFC 6665 SUBSCRIBE, RFC 3515 REFER). */
const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER']);

/** A request the UAS core answers itself, and how. */
interface Refusal {
  status: number;
  reason: string;
  headers: [string, string][];
}

interface UasCoreDeps {
  options: SipStackOptions;
  transport: TransportLayer;
  dialogs: DialogTable;
  retransmitter: Uas2xxRetransmitter;
  events: TypedEmitter<SipStackEvents>;
  /** Our Contact for a transport. */
  contact: (protocol: SipProtocol) => string;
  /** True when a URI names this stack (see `SipStack.isLocalUri`). */
  isLocal: (uri: Uri) => boolean;
  /** The proxy attached to the stack, if any. */
  proxy: () => RoutedRequests | null;
  log: Logger;
}

export class UasCore {
  constructor(private readonly d: UasCoreDeps) {}

  /** See `SipStack.respond`. */
  respond(tx: ServerTransaction, res: SipResponse): Promise<SentInfo> {
    const req = tx.request;
    const dialog = req.toTag !== null ? this.d.dialogs.matchRequest(req) : undefined;
    const protocol = tx.source.protocol;
    const ok = res.status >= 200 && res.status < 300;
    const creates = DIALOG_CREATING.has(req.method) && req.toTag === null;
    // §12.1.1: "The UAS MUST add a Contact header field to the response" that establishes a
    // dialog (a 2xx to INVITE, SUBSCRIBE or REFER); a 2xx to a re-INVITE carries it too.
    if ((creates || tx instanceof ServerInviteTransaction) && ok && !res.headers.has('Contact')) {
      res.headers.insertAfter('CSeq', 'Contact', dialog?.localContact || this.d.contact(protocol));
    }
    if (creates && res.status > 100 && res.status < 300 && !res.headers.has('Record-Route')) {
      // §12.1.1: "the UAS MUST copy all Record-Route header field values from the request into
      // the response ... and MUST maintain the order of those values."
      for (const rr of req.headers.getAll('Record-Route')) res.headers.insertAfter('CSeq', 'Record-Route', rr);
    }
    const sent = tx.respond(res);
    if (tx.lastResponse !== res) return sent; // refused by the state machine
    if (tx instanceof ServerInviteTransaction) this.#afterInviteResponse(tx, res, sent, dialog, protocol);
    else if (req.method === 'BYE' && ok && dialog) this.d.dialogs.remove(dialog, 'BYE answered');
    else if (creates && ok && !this.d.dialogs.get({ callId: req.callId, localTag: tx.toTag, remoteTag: req.fromTag ?? '' })) {
      // A 2xx to SUBSCRIBE (or an out-of-dialog REFER) creates a dialog (RFC 6665 §4.4.1, RFC 3515 §2.4.4).
      const d = Dialog.asUas(req, res, res.headers.get('Contact') ?? this.d.contact(protocol), protocol, this.d.log);
      if (d) this.d.dialogs.add(d);
    } else if (ok && dialog && endsSubscription(req, dialog)) this.d.dialogs.remove(dialog, 'subscription terminated');
    return sent;
  }

  /** §12.1.1 dialog creation (early on a tagged 1xx, confirmed on 2xx), §13.3.1.4 2xx retransmission. */
  #afterInviteResponse(tx: ServerInviteTransaction, res: SipResponse, sent: Promise<SentInfo>, dialog: Dialog | undefined, protocol: SipProtocol): void {
    const req = tx.request;
    const ok = res.status >= 200 && res.status < 300;
    if (dialog) {
      // A re-INVITE: §12.2.2 target refresh when accepted.
      if (ok) dialog.refreshTarget(req);
    } else if (res.status > 100) {
      const existing = this.d.dialogs.get({ callId: req.callId, localTag: tx.toTag, remoteTag: req.fromTag ?? '' });
      if (ok && existing) existing.confirm(res);
      else if (!existing && (ok || res.toTag !== null) && res.status < 300) {
        const d = Dialog.asUas(req, res, res.headers.get('Contact') ?? this.d.contact(protocol), protocol, this.d.log);
        if (d) this.d.dialogs.add(d);
      } else if (res.status >= 300) this.d.dialogs.removeEarly(req.callId, tx.toTag, `${res.status} sent`);
    }
    if (ok) this.d.retransmitter.start(res, sent, this.d.transport.isReliable(protocol));
  }

  #reply(tx: ServerTransaction, status: number, reason?: string, headers: [string, string][] = []): void {
    const res = SipResponse.to(tx.request, status, reason);
    for (const [name, value] of headers) res.headers.append(name, value);
    this.respond(tx, res).catch(() => undefined);
  }

  /**
   * §8.2.2 header inspection, in the RFC's order, for what the stack can judge alone: the
   * Request-URI scheme (§8.2.2.1), Require (§8.2.2.3), and Contact, which dialogs are built
   * from. Null when the request may go on.
   */
  #inspect(req: SipRequest): Refusal | null {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(req.uri)?.[1]?.toLowerCase();
    // §8.2.2.1: "If the Request-URI uses a scheme not supported by the UAS, it SHOULD reject the
    // request with a 416 (Unsupported URI Scheme) response" (RFC 4475 §3.3.2, §3.3.3).
    if (!scheme || !SUPPORTED_SCHEMES.has(scheme)) return { status: 416, reason: 'Unsupported URI Scheme', headers: [] };
    // §8.2.2.3: "the UAS MUST respond by generating a response with a status code of 420 (Bad
    // Extension). The UAS MUST add an Unsupported header field, and list in it those options it
    // does not understand amongst those in the Require header field" (RFC 4475 §3.3.5). ACK and
    // CANCEL are not checked ("Require ... MUST NOT be ... in CANCEL"; ACK never gets here).
    const unsupported = req.headers.getList('Require').filter((tag) => !SUPPORTED_OPTION_TAGS.has(tag.toLowerCase()));
    if (unsupported.length > 0) return { status: 420, reason: 'Bad Extension', headers: [['Unsupported', unsupported.join(', ')]] };
    // Contact, Route and Record-Route make dialogs and routes: read them now, so that one that
    // breaks the grammar (RFC 4475 §3.1.2.13 regbadct) gets 400 before anyone relies on it.
    try {
      if (req.headers.has('Contact')) void req.contacts;
      if (req.headers.has('Route')) void req.routes;
      if (req.headers.has('Record-Route')) void req.recordRoutes;
    } catch (e) {
      if (e instanceof SipParseError) return { status: 400, reason: e.message.slice(0, 100), headers: [] };
      throw e;
    }
    return null;
  }

  /**
   * A request from the transaction layer: answered here when the RFC says so, else passed on.
   * A header that breaks its grammar is found when someone reads it (here, in a dialog, in the
   * app layer): that request gets 400 (§21.4.1), anything else that throws 500 (§21.5.1), so
   * that no request is left without an answer and its transaction without an end.
   */
  onRequest(req: SipRequest, tx: ServerTransaction | null, info: ReceivedInfo): void {
    try {
      this.#onRequest(req, tx, info);
    } catch (e) {
      const bad = e instanceof SipParseError;
      if (bad) this.d.log.info({ callId: req.callId, method: req.method, reason: e.message }, 'sip request refused: bad header');
      else this.d.log.error({ err: e, callId: req.callId, method: req.method }, 'sip request handling failed');
      if (tx && tx.lastResponse === null) this.#reply(tx, bad ? 400 : 500, bad ? e.message.slice(0, 100) : undefined);
      else if (tx && (tx.lastResponse?.status ?? 0) < 200) this.#reply(tx, 500);
    }
  }

  #onRequest(req: SipRequest, tx: ServerTransaction | null, info: ReceivedInfo): void {
    const proxy = this.d.proxy();
    if (proxy && this.#routedHere(req) && proxy.claims(req)) {
      proxy.handle(req, tx, info);
      return;
    }
    const dialog = req.toTag !== null ? this.d.dialogs.matchRequest(req) ?? null : null;
    let refusal: Refusal | null;
    if (!tx) {
      // An ACK that matched no transaction: the ACK of a 2xx (§13.3.1.4). One that acknowledges
      // nothing pending (a duplicate, or one after the 64*T1 wait) is dropped.
      if (this.d.retransmitter.ack(req)) this.d.events.emit('request', req, null, info, dialog);
      else this.d.log.debug({ callId: req.callId }, 'ACK matching nothing pending dropped');
      return;
    }
    if (req.method === 'INVITE' && req.toTag === null && this.#isAnsweredInvite(req)) {
      // RFC 3261 ends the INVITE server transaction on 2xx (§17.2.1), so a late retransmission
      // of the INVITE reaches the core as a new request (the gap RFC 6026 describes). It is the
      // same call: absorb it (the 2xx was re-sent if still pending).
      tx.abort('retransmission of an answered INVITE');
    } else if ((refusal = this.#inspect(req))) {
      this.#reply(tx, refusal.status, refusal.reason, refusal.headers);
    } else if (req.method === 'INVITE' && req.toTag === null && !req.headers.has('Contact') && hasRfc3261Branch(req.topVia)) {
      // §8.1.1.8: "The Contact header field MUST be present and contain exactly one SIP or SIPS
      // URI in any request that can result in the establishment of a dialog." No dialog can be
      // built without it (drachtio-server answers such an INVITE with 400 too). An RFC 2543 peer
      // (no magic cookie) may leave it out (RFC 4475 §3.4.1): its From is the remote target.
      this.#reply(tx, 400, 'Missing Contact header');
    } else if (req.toTag !== null && !dialog && this.d.options.rejectUnknownDialog) {
      // §12.2.2: "If the UAS receives a request with a To tag that does not match any existing
      // dialog ... the UAS core SHOULD reject the request with a 481".
      this.#reply(tx, 481);
    } else if (dialog && !dialog.acceptRemoteSeq(req)) {
      this.#reply(tx, 500, 'Out of Order CSeq');
    } else if (this.d.events.listenerCount('request') === 0) {
      this.#reply(tx, 503);
    } else {
      this.d.events.emit('request', req, tx, info, dialog);
    }
  }

  /**
   * §16.4: the top Route names us (a dialog a proxy on this stack record-routed) and the request
   * goes on from here: another Route follows, or the Request-URI is not ours. A request routed
   * to us and addressed to us is the UAS core's.
   */
  #routedHere(req: SipRequest): boolean {
    const routes = req.headers.has('Route') ? req.routes : [];
    if (routes.length === 0 || !this.d.isLocal(routes[0]!.uri)) return false;
    return routes.length > 1 || !this.d.isLocal(parseUri(req.uri));
  }

  /** True for a retransmission of an INVITE we already answered with 2xx. */
  #isAnsweredInvite(req: SipRequest): boolean {
    if (this.d.retransmitter.retransmittedInvite(req)) return true;
    const seq = req.cseq.seq;
    return this.d.dialogs
      .byCallId(req.callId)
      .some((x) => x.role === 'uas' && x.state === 'confirmed' && x.id.remoteTag === (req.fromTag ?? '') && x.initialCSeq === seq);
  }

  /**
   * §9.2: "If the UAS did not find a matching transaction for the CANCEL ... it SHOULD respond to
   * the CANCEL with a 481". Otherwise it answers the CANCEL with 200 and, if the INVITE has no
   * final response yet, "the UAS SHOULD immediately respond to the INVITE with a 487".
   */
  onCancel(req: SipRequest, tx: ServerTransaction, invite: ServerInviteTransaction | null, info: ReceivedInfo): void {
    if (!invite) {
      this.#reply(tx, 481);
      return;
    }
    const cancelOk = SipResponse.to(req, 200);
    const pending = invite.state === 'proceeding';
    // The 200 carries the same To tag as the INVITE's responses.
    if (req.toTag === null && pending) cancelOk.headers.set('To', `${req.header('To')};tag=${invite.toTag}`);
    this.respond(tx, cancelOk).catch(() => undefined);
    if (!pending) return;
    invite.cancelled = true;
    if (this.d.options.answerCancelledInvite) this.#reply(invite, 487);
    this.d.events.emit('cancel', req, invite, info);
  }

  /** §13.3.1.4: no ACK within 64*T1. */
  onAckTimeout(res: SipResponse): void {
    const dialog = this.d.dialogs.get({ callId: res.callId, localTag: res.toTag ?? '', remoteTag: res.fromTag ?? '' }) ?? null;
    this.d.events.emit('ackTimeout', res, dialog);
  }
}

