/**
 * The embedded drachtio-compatible SIP server: the SIP stack on one side, drachtio-srf apps on the
 * control connection on the other. It does what drachtio-server 0.9.5 does in the recorded traces:
 * 100 Trying at once, network requests to the app that routed their method, the app's responses
 * completed (To tag, Contact, Content-Type) and echoed back, the app's requests completed (Via,
 * Max-Forwards, Call-ID, CSeq, From tag, Contact) and their responses reported, in-dialog
 * requests by dialog id, CANCEL answered by the server and then reported, and a BYE on the app's
 * behalf when our 2xx is never ACKed. App headers are written as drachtio-server writes them
 * (app-headers.ts, header-order.ts); `proxy` frames go to the stateful proxy (proxy.ts); reliable
 * provisional responses are numbered and resent until PRACK (reliable-provisional.ts). Its
 * conformance to drachtio-server is tested in test/engine/sip/drachtio/conformance.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../../config/logger.js';
import type { Dialog } from '../dialog/dialog.js';
import { SipRequest, SipResponse, type SipMessage } from '../message/message.js';
import { parseMessage, DEFAULT_LIMITS } from '../message/parser.js';
import { serialize } from '../message/serializer.js';
import { tagOf, withTag, formatNameAddr } from '../message/name-addr.js';
import { parseUri } from '../message/uri.js';
import type { SipStack } from '../sip-stack.js';
import { ServerInviteTransaction } from '../transaction/server-invite-transaction.js';
import type { ClientTransactionBase } from '../transaction/client-transaction.js';
import type { ClientTransaction, ServerTransaction } from '../transaction/transaction-layer.js';
import { requestTarget } from '../transport/routing.js';
import type { ReceivedInfo, SentInfo } from '../transport/types.js';
import { ControlServer, type AppProxyFrame, type AppSession, type AppSipFrame } from './control-server.js';
import { appHeaders } from './app-headers.js';
import { sofiaOrder } from './header-order.js';
import { ProxyService } from './proxy.js';
import { isReliable, ReliableProvisionals } from './reliable-provisional.js';
import { unroutedAnswer } from './unrouted.js';
import {
  dialogIdOf,
  networkHeader,
  requestSentFields,
  responseSentFields,
  stackTime,
  unsolicitedHeader,
  type NetworkMeta,
} from './wire-format.js';

/** Headers the server owns on responses: the app's copies are ignored. */
const RESPONSE_OWNED = new Set(['via', 'from', 'to', 'call-id', 'cseq', 'content-length']);
/** Headers the server owns on in-dialog requests (from the dialog state). */
const DIALOG_OWNED = new Set(['via', 'from', 'to', 'call-id', 'cseq', 'max-forwards', 'content-length', 'route']);

/** A network request waiting for the app's answer. */
interface PendingServerTx {
  tx: ServerTransaction;
  session: AppSession;
  /** The drachtio dialog id once one exists (an early or confirmed dialog, or the request's). */
  dialogId: string;
}

/** A dialog known to an app. */
interface AppDialog {
  id: string;
  session: AppSession;
  /** The stack's dialog, once it exists (a UAC dialog appears with the first 1xx/2xx with a tag). */
  dialog: Dialog | null;
  /** The initial INVITE's transaction id: the ACK of its 2xx is reported with it. */
  inviteTxnId: string | null;
  inviteCSeq: number | null;
}

export class DrachtioServer {
  readonly control: ControlServer;
  readonly #serverTx = new Map<string, PendingServerTx>();
  readonly #clientTx = new Map<string, { tx: ClientTransaction; session: AppSession; dialogId: string }>();
  readonly #dialogs = new Map<string, AppDialog>();
  readonly #byStackDialog = new Map<Dialog, AppDialog>();
  readonly #proxy: ProxyService;
  readonly #reliable: ReliableProvisionals;
  #port = 0;

  constructor(
    private readonly stack: SipStack,
    secret: string,
    private readonly log: Logger,
  ) {
    this.control = new ControlServer(
      secret,
      {
        hostports: () => this.#hostports(),
        onSip: (session, frame) => this.#onAppSip(session, frame),
        onProxy: (session, frame) => this.#onProxy(session, frame),
        onClosed: (session) => this.#onSessionClosed(session),
      },
      log,
    );
    this.#proxy = new ProxyService(stack, log);
    this.#reliable = new ReliableProvisionals(stack.options.timers.t1, (tx) => this.#unanswerable(tx), log);
    stack.on('request', (req, tx, info, dialog) => this.#onNetworkRequest(req, tx, info, dialog));
    stack.on('cancel', (cancel, invite, info) => this.#onCancel(cancel, invite, info));
    stack.on('ackTimeout', (res, dialog) => this.#onAckTimeout(res, dialog));
    stack.dialogs.on('terminated', (dialog) => this.#forgetDialog(dialog));
  }

  /** Starts the control listener; resolves with its port. */
  async listen(host: string, port: number): Promise<number> {
    this.#port = await this.control.listen(host, port);
    return this.#port;
  }

  get port(): number {
    return this.#port;
  }

  /** Live state, for health and leak tests. */
  stats(): { apps: number; pendingServer: number; pendingClient: number; dialogs: number; proxy: ProxyService['size']; unacked1xx: number } {
    return {
      apps: this.control.sessions.size,
      pendingServer: this.#serverTx.size,
      pendingClient: this.#clientTx.size,
      dialogs: this.#dialogs.size,
      proxy: this.#proxy.size,
      unacked1xx: this.#reliable.size,
    };
  }

  close(): Promise<void> {
    this.#proxy.close();
    this.#reliable.close();
    return this.control.close();
  }

  #hostports(): string {
    return this.stack
      .listening()
      .map((l) => `${l.protocol}/${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`)
      .sort()
      .join(',');
  }

  // ---------------------------------------------------------------- network -> app

  #onNetworkRequest(req: SipRequest, tx: ServerTransaction | null, info: ReceivedInfo, dialog: Dialog | null): void {
    if (!tx) return this.#onAck(req, info, dialog);
    if (tx instanceof ServerInviteTransaction) tx.sendTrying().catch(() => undefined);
    if (dialog) {
      const owner = this.#byStackDialog.get(dialog);
      if (!owner || owner.session.closed) {
        this.#answer(tx, 481, 'Call/Transaction Does Not Exist');
        return;
      }
      if (req.method === 'PRACK' && !this.#reliable.prack(req)) {
        this.#answer(tx, 481, 'Call/Transaction Does Not Exist');
        return;
      }
      this.#serverTx.set(tx.id, { tx, session: owner.session, dialogId: owner.id });
      owner.session.send(networkHeader(this.#meta(info, tx.id, owner.id)), this.#text(req));
      return;
    }
    const session = this.control.sessionFor(req.method.toLowerCase());
    if (!session) {
      const apps = [...this.control.sessions].filter((x) => x.authenticated && !x.closed);
      const a = unroutedAnswer(req.method, apps.length ? apps.flatMap((x) => [...x.routes]) : null);
      this.#answer(tx, a.status, a.reason, a.headers);
      return;
    }
    this.#serverTx.set(tx.id, { tx, session, dialogId: '' });
    session.send(networkHeader(this.#meta(info, tx.id, ''), { address: info.source.local.address, port: info.source.local.port }), this.#text(req));
  }

  /** The ACK of a 2xx: reported with the initial INVITE's transaction id, or a new one for a re-INVITE. */
  #onAck(req: SipRequest, info: ReceivedInfo, dialog: Dialog | null): void {
    const owner = dialog ? this.#byStackDialog.get(dialog) : undefined;
    if (!owner || owner.session.closed) return;
    const initial = owner.inviteTxnId !== null && owner.inviteCSeq === req.cseq.seq;
    const txnId = initial ? owner.inviteTxnId! : randomUUID();
    if (initial) owner.inviteTxnId = null;
    owner.session.send(networkHeader({ ...this.#meta(info, txnId, owner.id), protocol: '' }), this.#text(req));
  }

  /** The stack answered 200 to the CANCEL and 487 to the INVITE; now the app hears of it. */
  #onCancel(cancel: SipRequest, invite: ServerInviteTransaction, info: ReceivedInfo): void {
    if (this.#proxy.cancel(invite)) return;
    const pending = this.#serverTx.get(invite.id);
    if (!pending) return;
    this.#serverTx.delete(invite.id);
    // drachtio-server reports the INVITE's size and transaction id with the CANCEL.
    const meta = { ...this.#meta(info, invite.id, pending.dialogId), bytes: invite.info.bytes };
    pending.session.send(networkHeader(meta), this.#text(cancel));
  }

  /** §13.3.1.4: no ACK for our 2xx. BYE the peer, and tell the app with an unsolicited BYE. */
  #onAckTimeout(_res: SipResponse, dialog: Dialog | null): void {
    if (!dialog) return;
    const owner = this.#byStackDialog.get(dialog);
    const tx = this.stack.requestInDialog(dialog, 'BYE', { headers: [['Reason', 'SIP;cause=408;text="ACK timeout"']] });
    tx.on('sent', (sent) => {
      if (!owner || owner.session.closed) return;
      const meta = { ...this.#sentMeta(sent, '', owner.id) };
      owner.session.send(unsolicitedHeader(meta), sent.raw.toString('utf8'));
    });
  }

  // ---------------------------------------------------------------- app -> network

  #onAppSip(session: AppSession, frame: AppSipFrame): void {
    let msg: SipMessage;
    try {
      msg = parseMessage(Buffer.from(frame.message, 'utf8'), { stream: false, limits: DEFAULT_LIMITS });
    } catch (err) {
      session.reply(frame.msgId, ['NO', `bad SIP message: ${(err as Error).message}`]);
      return;
    }
    try {
      if (msg.kind === 'response') this.#appResponse(session, frame, msg);
      else if (frame.dialogId) this.#appInDialogRequest(session, frame, msg);
      else if (msg.method === 'CANCEL') this.#appCancel(session, frame, msg);
      else this.#appNewRequest(session, frame, msg);
    } catch (err) {
      this.log.warn({ err, method: msg.kind === 'request' ? msg.method : msg.status }, 'app message refused');
      session.reply(frame.msgId, ['NO', (err as Error).message]);
    }
  }

  /** `srf.proxyRequest`: the app hands a network request it has not answered to the proxy. */
  #onProxy(session: AppSession, frame: AppProxyFrame): void {
    const pending = this.#serverTx.get(frame.transactionId);
    if (!pending || pending.session !== session) {
      session.reply(frame.msgId, ['NOK', `unknown transaction ${frame.transactionId}`]);
      return;
    }
    this.#serverTx.delete(frame.transactionId);
    this.#proxy.start(session, frame, pending.tx);
  }

  #appResponse(session: AppSession, frame: AppSipFrame, app: SipResponse): void {
    const pending = this.#serverTx.get(frame.transactionId);
    if (!pending) {
      session.reply(frame.msgId, ['NO', `unknown transaction ${frame.transactionId}`]);
      return;
    }
    const { tx } = pending;
    const req = tx.request;
    const res = this.stack.createResponse(req, app.status, app.reason);
    const local = this.stack.transport.sentBy(tx.source.protocol);
    for (const f of appHeaders(app.headers, local).fields()) if (!RESPONSE_OWNED.has(f.key)) res.headers.append(f.name, f.value);
    // drachtio-srf lets an app choose the To tag (`res.send(200, {headers: {To: 'tag=x'}})`
    // becomes `to: ...;tag=x`); sofia uses it. Only a request without one can take it.
    const appTag = req.toTag === null && app.status > 100 ? tagOf(app.to) : null;
    if (appTag !== null) res.headers.set('To', formatNameAddr(withTag(res.to, appTag)));
    res.body = app.body;
    if (app.body.length > 0 && !res.headers.has('Content-Type')) res.headers.append('Content-Type', 'application/sdp');
    const isInvite = tx instanceof ServerInviteTransaction;
    if (isInvite && isReliable(res)) this.#reliable.send(tx, res);
    else if (isInvite && app.status >= 200) this.#reliable.stop(tx);
    sofiaOrder(res);
    const final = app.status >= 200;
    let dialogId = pending.dialogId;
    // An INVITE's responses (the dialog may come), and a 2xx to SUBSCRIBE, which makes one.
    const dialogResponse = !req.toTag && (isInvite ? app.status > 100 : req.method === 'SUBSCRIBE' && app.status >= 200 && app.status < 300);
    if (dialogResponse && !dialogId) {
      // The dialog id is the caller's From tag (drachtio's form), first shown on this echo.
      dialogId = dialogIdOf(req.callId, req.fromTag ?? '');
      pending.dialogId = dialogId;
    }
    const sent = this.stack.respond(tx, res);
    if (dialogResponse && app.status < 300) this.#trackUasDialog(session, pending, req);
    if (final) this.#serverTx.delete(frame.transactionId);
    const echoId = !isInvite && !pending.dialogId ? '' : dialogId;
    // drachtio-server leaves the protocol field empty when echoing a response to a non-INVITE
    // (traces 02, 08, 09, 10, 11: BYE, INFO, REGISTER, OPTIONS and NOTIFY responses).
    const meta = (info: SentInfo) => ({ ...this.#sentMeta(info, tx.id, req.method === 'BYE' ? '' : echoId), ...(isInvite ? {} : { protocol: '' as const }) });
    sent.then(
      (info) => session.reply(frame.msgId, responseSentFields(meta(info)), info.raw.toString('utf8')),
      (err: Error) => session.reply(frame.msgId, ['NO', err.message]),
    );
  }

  /** Records the dialog an app's 1xx/2xx to an initial INVITE creates. */
  #trackUasDialog(session: AppSession, pending: PendingServerTx, req: SipRequest): void {
    const tx = pending.tx;
    const stackDialog = this.stack.dialogs.get({ callId: req.callId, localTag: tx.toTag, remoteTag: req.fromTag ?? '' }) ?? null;
    let d = this.#dialogs.get(pending.dialogId);
    if (!d) {
      d = { id: pending.dialogId, session, dialog: null, inviteTxnId: tx.id, inviteCSeq: req.cseq.seq };
      this.#dialogs.set(d.id, d);
    }
    if (stackDialog && !d.dialog) {
      d.dialog = stackDialog;
      this.#byStackDialog.set(stackDialog, d);
    }
  }

  #appInDialogRequest(session: AppSession, frame: AppSipFrame, app: SipRequest): void {
    const d = this.#dialogs.get(frame.dialogId);
    if (!d?.dialog) {
      session.reply(frame.msgId, ['NO', `unable to find dialog for ${frame.dialogId}`]);
      return;
    }
    const local = this.stack.transport.sentBy(d.dialog.protocol);
    const headers = appHeaders(app.headers, local).fields().filter((f) => !DIALOG_OWNED.has(f.key)).map((f) => [f.name, f.value] as const);
    if (app.body.length > 0 && !headers.some(([n]) => n.toLowerCase() === 'content-type')) headers.push(['Content-Type', 'application/sdp']);
    if (app.method === 'ACK') {
      const txnId = randomUUID();
      this.stack.ackInDialog(d.dialog, { headers: headers.filter(([n]) => n.toLowerCase() !== 'contact'), body: app.body }).then(
        (sent) => session.reply(frame.msgId, requestSentFields(this.#sentMeta(sent, txnId, '', 'local')), sent.raw.toString('utf8')),
        (err: Error) => session.reply(frame.msgId, ['NO', err.message]),
      );
      return;
    }
    const { request, target } = d.dialog.createRequest(app.method, { headers, body: app.body });
    sofiaOrder(request);
    this.#trackClientTx(session, frame.msgId, this.stack.sendRequest(request, target), d.id);
  }

  /** An app CANCELs its own INVITE: `sip|<INVITE txnId>|` + CANCEL. */
  #appCancel(session: AppSession, frame: AppSipFrame, app: SipRequest): void {
    const pending = this.#clientTx.get(frame.transactionId);
    if (!pending) {
      session.reply(frame.msgId, ['NO', `unknown transaction ${frame.transactionId}`]);
      return;
    }
    // The app's own headers (a Reason, RFC 3326) ride on the CANCEL; §9.1 fixes the rest.
    const extra = app.headers.fields().filter((f) => !DIALOG_OWNED.has(f.key)).map((f) => [f.name, f.value] as const);
    void this.stack.cancel(pending.tx as Parameters<SipStack['cancel']>[0], extra).then((cancelTx) => {
      if (!cancelTx) return session.reply(frame.msgId, ['NO', 'INVITE already answered']);
      cancelTx.on('sent', (sent) => session.reply(frame.msgId, requestSentFields(this.#sentMeta(sent, cancelTx.id, '', 'local')), sent.raw.toString('utf8')));
    });
  }

  #appNewRequest(session: AppSession, frame: AppSipFrame, app: SipRequest): void {
    const req = new SipRequest(app.method, app.uri, app.headers, app.body);
    if (req.body.length > 0 && !req.headers.has('Content-Type')) req.headers.append('Content-Type', 'application/sdp');
    let target;
    if (frame.destination) {
      const uri = parseUri(frame.destination);
      target = uri.kind === 'sip' ? requestTarget(uri) : null;
      if (!target) throw new Error(`cannot route to ${frame.destination}`);
    } else target = this.stack.targetFor(req);
    req.headers = appHeaders(req.headers, this.stack.transport.sentBy(target.protocol));
    sofiaOrder(this.stack.completeRequest(req, target.protocol));
    const tx = this.stack.sendRequest(req, target);
    let dialogId = '';
    if (req.method === 'INVITE' || req.method === 'SUBSCRIBE') {
      // A UAC dialog is named by our own From tag (drachtio's form), known before any answer.
      dialogId = dialogIdOf(req.callId, req.fromTag ?? '');
      if (!this.#dialogs.has(dialogId)) {
        this.#dialogs.set(dialogId, { id: dialogId, session, dialog: null, inviteTxnId: null, inviteCSeq: req.cseq.seq });
      }
    }
    this.#trackClientTx(session, frame.msgId, tx, dialogId);
  }

  /** Echoes an app request once sent, reports each response (not 100), and times out as 408. */
  #trackClientTx(session: AppSession, msgId: string, clientTx: ClientTransaction, dialogId: string): void {
    this.#clientTx.set(clientTx.id, { tx: clientTx, session, dialogId });
    // One view of the two client transaction kinds: their events are the same.
    const tx = clientTx as ClientTransactionBase<string>;
    tx.on('sent', (sent) => session.reply(msgId, requestSentFields(this.#sentMeta(sent, tx.id, '', 'local')), sent.raw.toString('utf8')));
    tx.on('response', (res, info) => {
      if (res.status === 100) return;
      if (dialogId && res.status > 100 && res.status < 300) this.#attachUacDialog(dialogId, res);
      if (res.status >= 200) this.#clientTx.delete(tx.id);
      if (res.status >= 300 && tx.request.method === 'INVITE' && !tx.request.toTag) this.#dropUnconfirmed(dialogId);
      session.send(networkHeader(this.#meta(info, tx.id, dialogId)), this.#text(res));
    });
    const fail = (status: number, reason: string) => {
      if (!this.#clientTx.delete(tx.id)) return;
      // Like sofia, a local final response stands in for the one that never came.
      const res = SipResponse.to(tx.request, status, reason);
      if (tx.request.method === 'INVITE' && !tx.request.toTag) this.#dropUnconfirmed(dialogId);
      const raw = serialize(res);
      session.send(networkHeader({ bytes: raw.length, protocol: tx.target.protocol, address: tx.target.host, port: tx.target.port, time: stackTime(), transactionId: tx.id, dialogId }), raw.toString('utf8'));
    };
    tx.on('timeout', () => fail(408, 'Request Timeout'));
    tx.on('transportError', () => fail(503, 'Service Unavailable'));
  }

  #attachUacDialog(dialogId: string, res: SipResponse): void {
    const d = this.#dialogs.get(dialogId);
    if (!d || d.dialog) return;
    const stackDialog = this.stack.dialogs.matchResponse(res);
    if (!stackDialog) return;
    d.dialog = stackDialog;
    this.#byStackDialog.set(stackDialog, d);
  }

  #dropUnconfirmed(dialogId: string): void {
    const d = this.#dialogs.get(dialogId);
    if (d && (!d.dialog || d.dialog.state !== 'confirmed')) {
      this.#dialogs.delete(dialogId);
      if (d.dialog) this.#byStackDialog.delete(d.dialog);
    }
  }

  #forgetDialog(dialog: Dialog): void {
    const d = this.#byStackDialog.get(dialog);
    if (!d) return;
    this.#byStackDialog.delete(dialog);
    if (this.#dialogs.get(d.id) === d) this.#dialogs.delete(d.id);
  }

  /** An app went away: its unanswered requests get 503 (as with no app at all). */
  #onSessionClosed(session: AppSession): void {
    for (const [id, p] of this.#serverTx) {
      if (p.session !== session) continue;
      this.#serverTx.delete(id);
      this.#answer(p.tx, 503, 'Service Unavailable');
    }
    for (const [id, p] of this.#clientTx) if (p.session === session) this.#clientTx.delete(id);
  }

  // ---------------------------------------------------------------- helpers

  /** RFC 3262 §3: a reliable provisional response never PRACKed ends the INVITE with 5xx. */
  #unanswerable(tx: ServerInviteTransaction): void {
    this.#serverTx.delete(tx.id);
    this.#answer(tx, 500, 'Provisional Response Not Acknowledged');
  }

  #answer(tx: ServerTransaction, status: number, reason: string, headers: [string, string][] = []): void {
    const res = this.stack.createResponse(tx.request, status, reason);
    for (const [name, value] of headers) res.headers.append(name, value);
    this.stack.respond(tx, res).catch(() => undefined);
  }

  /** A received message as the app sees it: re-serialised (with the stack's received/rport). */
  #text(msg: SipMessage): string {
    return serialize(msg).toString('utf8');
  }

  #meta(info: ReceivedInfo, transactionId: string, dialogId: string): NetworkMeta {
    return {
      bytes: info.bytes,
      protocol: info.source.protocol,
      address: info.source.remote.address,
      port: info.source.remote.port,
      time: stackTime(info.receivedAt),
      transactionId,
      dialogId,
    };
  }

  /**
   * Meta of something we sent. drachtio-server names the destination for responses, and its own
   * SIP address for requests (`side: 'local'`).
   */
  #sentMeta(sent: SentInfo, transactionId: string, dialogId: string, side: 'remote' | 'local' = 'remote'): NetworkMeta {
    const at = side === 'remote' ? sent.remote : sent.local;
    return {
      bytes: sent.bytes,
      protocol: sent.protocol,
      address: at.address,
      port: at.port,
      time: stackTime(sent.sentAt),
      transactionId,
      dialogId,
    };
  }
}
