/**
 * The SIP stack: transports, transactions and dialogs composed into the small API the drachtio
 * wire-protocol server (and tests) build on. The stack plays the UA core's part the RFC leaves
 * to "the TU" where every UA must behave the same: To tags, 100 Trying, CANCEL (§9.2), 2xx
 * retransmission until ACK (§13.3.1.4), re-ACK of retransmitted 2xx (§13.2.2.4), dialog
 * tracking (§12) with CSeq ordering (500) and unknown dialogs (481). Everything else is the
 * application's: it receives each request with its transaction and answers through `respond`.
 *
 * ```ts
 * const stack = await SipStack.start(options, log);
 * stack.on('request', (req, tx, info, dialog) => { if (tx) stack.respond(tx, stack.createResponse(req, 200)); });
 * const tx = stack.sendRequest(new SipRequest('OPTIONS', 'sip:peer@127.0.0.1:5070'));
 * tx.on('response', (res) => ...);
 * await stack.close();
 * ```
 */
import type { Logger } from '../../config/logger.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import type { ComponentHealth } from '../health/health.js';
import { Dialog } from './dialog/dialog.js';
import { DialogTable } from './dialog/dialog-table.js';
import { Uas2xxRetransmitter } from './dialog/uas-2xx-retransmitter.js';
import { newBranch } from './ids.js';
import { SipResponse, type SipRequest } from './message/message.js';
import { parseUri } from './message/uri.js';
import { formatVia } from './message/via.js';
import { completeRequest, contactFor } from './request-defaults.js';
import type { SipStackOptions } from './stack-options.js';
import { ClientInviteTransaction } from './transaction/client-invite-transaction.js';
import { cancelFor } from './transaction/derived-requests.js';
import { ServerInviteTransaction } from './transaction/server-invite-transaction.js';
import { TransactionLayer, type ClientTransaction, type ServerTransaction } from './transaction/transaction-layer.js';
import { requestTarget, viaTransport } from './transport/routing.js';
import { StreamTransport } from './transport/stream-transport.js';
import { TransportLayer, type ListeningPoint } from './transport/transport-layer.js';
import { TransportError, type MessageSource, type ReceivedInfo, type SentInfo, type SipProtocol, type Target, type Transport } from './transport/types.js';
import { UdpTransport } from './transport/udp-transport.js';

/** Requests that can establish a dialog (RFC 3261 INVITE, RFC 6665 SUBSCRIBE, RFC 3515 REFER). */
const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER']);

export interface SipStackEvents extends Record<string, unknown[]> {
  /**
   * A request for the application. `tx` is its server transaction (answer with `respond`), or
   * null for an ACK of a 2xx (§13.3.1.4: it arrives as a request of its own). `dialog` is the
   * dialog an in-dialog request belongs to.
   */
  request: [req: SipRequest, tx: ServerTransaction | null, info: ReceivedInfo, dialog: Dialog | null];
  /**
   * A CANCEL matched a pending INVITE (§9.2). The stack has answered the CANCEL with 200 and,
   * with `answerCancelledInvite`, the INVITE with 487. `info` describes the CANCEL.
   */
  cancel: [cancel: SipRequest, invite: ServerInviteTransaction, info: ReceivedInfo];
  /** §13.3.1.4: no ACK for our 2xx within 64*T1; "the session SHOULD be terminated" (send BYE). */
  ackTimeout: [response: SipResponse, dialog: Dialog | null];
  /** A response that matched no transaction and that the stack did not absorb. */
  strayResponse: [res: SipResponse, info: ReceivedInfo];
}

/** Counts of live objects, for health, logs and leak tests. */
export interface SipStackStats {
  serverTransactions: number;
  clientTransactions: number;
  timers: number;
  connections: number;
  dialogs: number;
  pending2xx: number;
}

export class SipStack extends TypedEmitter<SipStackEvents> {
  /** The dialogs the stack tracks (events: created, confirmed, terminated). */
  readonly dialogs: DialogTable;
  readonly #transactions: TransactionLayer;
  readonly #retransmitter: Uas2xxRetransmitter;
  #closing: Promise<void> | undefined;

  private constructor(
    readonly options: SipStackOptions,
    readonly transport: TransportLayer,
    private readonly log: Logger,
  ) {
    super((event, error) => log.error({ err: error, event }, 'sip stack listener failed'));
    this.dialogs = new DialogTable(log);
    this.#transactions = new TransactionLayer(transport, { timers: options.timers, tryingMs: options.tryingMs }, log);
    this.#retransmitter = new Uas2xxRetransmitter(transport, options.timers, this.#transactions.counter, (res) => this.#onAckTimeout(res), log);
    this.dialogs.on('terminated', (d) => this.#retransmitter.stopForDialog(d.id.callId, d.id.localTag, d.id.remoteTag));
    this.#transactions.on('request', (req, tx, info) => this.#onRequest(req, tx, info));
    this.#transactions.on('cancel', (req, tx, invite, info) => this.#onCancel(req, tx, invite, info));
    this.#transactions.on('strayResponse', (res, info) => this.#onStrayResponse(res, info));
  }

  /**
   * Opens every configured transport and returns the running stack. UDP and TCP share one port
   * number; with port 0, a free one is picked for both (retried if the other protocol has it).
   */
  static async start(options: SipStackOptions, log: Logger): Promise<SipStack> {
    const transports = await openTransports(options, log);
    const stack = new SipStack(options, new TransportLayer(transports, { publicHost: options.publicHost, rport: options.rport, limits: options.limits }, log), log);
    log.info({ listening: stack.listening() }, 'sip listening');
    return stack;
  }

  /** Where the stack listens, per transport. */
  listening(): ListeningPoint[] {
    return this.transport.listening();
  }

  /** The `sip` health component: up while every configured transport listens. */
  health(): ComponentHealth {
    const listening = this.listening();
    const missing = this.options.transports.filter((p) => !this.transport.transport(p)?.listening);
    const up = !this.#closing && missing.length === 0;
    return {
      status: up ? 'up' : 'down',
      ...(up ? {} : { error: this.#closing ? 'sip stack closed' : `not listening: ${missing.join(', ')}` }),
      transports: listening,
      dialogs: this.dialogs.size,
    };
  }

  stats(): SipStackStats {
    const t = this.#transactions.stats();
    return {
      serverTransactions: t.server,
      clientTransactions: t.client,
      timers: t.timers,
      connections: this.transport.connectionCount(),
      dialogs: this.dialogs.size,
      pending2xx: this.#retransmitter.size,
    };
  }

  /** Our Contact header value for a transport (`<sip:host:port;transport=tcp>`). */
  contact(protocol: SipProtocol = 'udp'): string {
    const sentBy = this.transport.sentBy(protocol);
    return contactFor({ host: sentBy.host, port: sentBy.port, protocol });
  }

  // ------------------------------------------------------------------ UAS side

  /** A response to `req` with Via, From, To, Call-ID and CSeq copied (§8.2.6). */
  createResponse(req: SipRequest, status: number, reason?: string): SipResponse {
    return SipResponse.to(req, status, reason);
  }

  /**
   * Sends a response through its server transaction. The transaction adds its To tag (§8.2.6.2).
   * For INVITE: a 2xx gets our Contact if it has none (§12.1.1 "the UAS MUST add a Contact header
   * field to the response"), creates or confirms the dialog and is retransmitted until ACK
   * (§13.3.1.4); a 1xx with a tag creates an early dialog; a final non-2xx ends early dialogs.
   * A 2xx to BYE ends the dialog. Resolves with what went on the wire.
   */
  respond(tx: ServerTransaction, res: SipResponse): Promise<SentInfo> {
    const req = tx.request;
    const dialog = req.toTag !== null ? this.dialogs.matchRequest(req) : undefined;
    const protocol = tx.source.protocol;
    if (tx instanceof ServerInviteTransaction && res.status >= 200 && res.status < 300 && !res.headers.has('Contact')) {
      res.headers.insertAfter('CSeq', 'Contact', dialog?.localContact || this.contact(protocol));
    }
    if (DIALOG_CREATING.has(req.method) && req.toTag === null && res.status > 100 && res.status < 300 && !res.headers.has('Record-Route')) {
      // §12.1.1: "the UAS MUST copy all Record-Route header field values from the request into
      // the response ... and MUST maintain the order of those values."
      for (const rr of req.headers.getAll('Record-Route')) res.headers.insertAfter('CSeq', 'Record-Route', rr);
    }
    const sent = tx.respond(res);
    if (tx.lastResponse !== res) return sent; // refused by the state machine
    if (tx instanceof ServerInviteTransaction) this.#afterInviteResponse(tx, res, sent, dialog, protocol);
    else if (req.method === 'BYE' && res.status >= 200 && res.status < 300 && dialog) this.dialogs.remove(dialog, 'BYE answered');
    return sent;
  }

  #afterInviteResponse(tx: ServerInviteTransaction, res: SipResponse, sent: Promise<SentInfo>, dialog: Dialog | undefined, protocol: SipProtocol): void {
    const req = tx.request;
    const ok = res.status >= 200 && res.status < 300;
    if (dialog) {
      // A re-INVITE: §12.2.2 target refresh when accepted.
      if (ok) dialog.refreshTarget(req);
    } else if (res.status > 100) {
      const id = { callId: req.callId, localTag: tx.toTag, remoteTag: req.fromTag ?? '' };
      const existing = this.dialogs.get(id);
      const contact = res.headers.get('Contact') ?? this.contact(protocol);
      if (ok && existing) existing.confirm(res);
      else if (ok || (res.status < 200 && res.toTag !== null)) {
        if (!existing) {
          const d = Dialog.asUas(req, res, contact, protocol, this.log);
          if (d) this.dialogs.add(d);
        }
      } else if (res.status >= 300) this.dialogs.removeEarly(req.callId, tx.toTag, `${res.status} sent`);
    }
    if (ok) this.#retransmitter.start(res, sent, this.transport.isReliable(protocol));
  }

  /** Sends a response without a transaction (§8.2.7 stateless UAS), routed by §18.2.2. */
  sendStateless(res: SipResponse, source: MessageSource): Promise<SentInfo> {
    return this.transport.sendResponse(res, source);
  }

  #onRequest(req: SipRequest, tx: ServerTransaction | null, info: ReceivedInfo): void {
    const dialog = req.toTag !== null ? this.dialogs.matchRequest(req) ?? null : null;
    if (!tx) {
      // An ACK that matched no transaction: the ACK of a 2xx (§13.3.1.4). One that acknowledges
      // nothing pending (a duplicate, or one after the 64*T1 wait) is dropped.
      if (this.#retransmitter.ack(req)) this.emit('request', req, null, info, dialog);
      else this.log.debug({ callId: req.callId }, 'ACK matching nothing pending dropped');
      return;
    }
    if (req.method === 'INVITE' && req.toTag === null && this.#isAnsweredInvite(req)) {
      // RFC 3261 ends the INVITE server transaction on 2xx (§17.2.1), so a late retransmission
      // of the INVITE reaches the core as a new request (the gap RFC 6026 describes). It is the
      // same call: absorb it (the 2xx was re-sent if still pending).
      tx.abort('retransmission of an answered INVITE');
      return;
    }
    if (req.method === 'INVITE' && req.toTag === null && !req.headers.has('Contact')) {
      // §8.1.1.8: "The Contact header field MUST be present and contain exactly one SIP or SIPS
      // URI in any request that can result in the establishment of a dialog." No dialog can be
      // built without it (drachtio-server answers such an INVITE with 400 too).
      this.respond(tx, this.createResponse(req, 400, 'Missing Contact header')).catch(() => undefined);
      return;
    }
    if (req.toTag !== null && !dialog && this.options.rejectUnknownDialog) {
      // §12.2.2: "If the UAS receives a request with a To tag that does not match any existing
      // dialog ... the UAS core SHOULD reject the request with a 481".
      this.respond(tx, this.createResponse(req, 481)).catch(() => undefined);
      return;
    }
    if (dialog && !dialog.acceptRemoteSeq(req)) {
      this.respond(tx, this.createResponse(req, 500, 'Out of Order CSeq')).catch(() => undefined);
      return;
    }
    if (this.listenerCount('request') === 0) {
      this.respond(tx, this.createResponse(req, 503)).catch(() => undefined);
      return;
    }
    this.emit('request', req, tx, info, dialog);
  }

  /** True for a retransmission of an INVITE we already answered with 2xx. */
  #isAnsweredInvite(req: SipRequest): boolean {
    if (this.#retransmitter.retransmittedInvite(req)) return true;
    const seq = req.cseq.seq;
    return this.dialogs
      .byCallId(req.callId)
      .some((d) => d.role === 'uas' && d.state === 'confirmed' && d.id.remoteTag === (req.fromTag ?? '') && d.initialCSeq === seq);
  }

  /**
   * §9.2: "If the UAS did not find a matching transaction for the CANCEL ... it SHOULD respond to
   * the CANCEL with a 481". Otherwise it answers the CANCEL with 200 and, if the INVITE has no
   * final response yet, "the UAS SHOULD immediately respond to the INVITE with a 487".
   */
  #onCancel(req: SipRequest, tx: ServerTransaction, invite: ServerInviteTransaction | null, info: ReceivedInfo): void {
    if (!invite) {
      this.respond(tx, this.createResponse(req, 481)).catch(() => undefined);
      return;
    }
    const cancelOk = this.createResponse(req, 200);
    const pending = invite.state === 'proceeding';
    // The 200 carries the same To tag as the INVITE's responses.
    if (req.toTag === null && pending) cancelOk.headers.set('To', `${req.header('To')};tag=${invite.toTag}`);
    this.respond(tx, cancelOk).catch(() => undefined);
    if (!pending) return;
    invite.cancelled = true;
    if (this.options.answerCancelledInvite) this.respond(invite, this.createResponse(invite.request, 487)).catch(() => undefined);
    this.emit('cancel', req, invite, info);
  }

  #onAckTimeout(res: SipResponse): void {
    const dialog = this.dialogs.get({ callId: res.callId, localTag: res.toTag ?? '', remoteTag: res.fromTag ?? '' }) ?? null;
    this.emit('ackTimeout', res, dialog);
  }

  // ------------------------------------------------------------------ UAC side

  /**
   * Fills the headers §8.1.1 requires and the request lacks (see `completeRequest`), for the
   * transport the request will use.
   */
  completeRequest(req: SipRequest, protocol: SipProtocol = this.targetFor(req).protocol): SipRequest {
    const sentBy = this.transport.sentBy(protocol);
    return completeRequest(req, { host: sentBy.host, port: sentBy.port, protocol });
  }

  /**
   * The next hop of an out-of-dialog request (§8.1.2): the first Route's URI when it is a loose
   * router, otherwise the Request-URI; resolved by RFC 3263 rules (see `requestTarget`).
   */
  targetFor(req: SipRequest): Target {
    const route = req.routes[0];
    const uri = route ? route.uri : parseUri(req.uri);
    if (uri.kind !== 'sip') throw new TransportError('no-transport', `cannot route to a ${uri.scheme}: URI`);
    const t = requestTarget(uri);
    if (!t) throw new TransportError('no-transport', `unsupported transport in ${req.uri}`);
    return t;
  }

  /**
   * Sends a request in a new client transaction: completes it (§8.1.1), adds our Via, and sends
   * it to `target` (default: `targetFor(req)`). Throws a TransportError when no transport serves
   * the target's protocol. Dialogs are tracked from the responses of an INVITE (§12.1.2, §13.2.2.4)
   * and ended by the final response of a BYE.
   */
  sendRequest(req: SipRequest, target: Target = this.targetFor(req)): ClientTransaction {
    this.completeRequest(req, target.protocol);
    const tx = this.#transactions.sendRequest(req, target);
    if (req.method === 'INVITE') this.#trackInvite(tx as ClientInviteTransaction, target.protocol);
    if (req.method === 'BYE') {
      const end = (why: string) => {
        const d = this.dialogs.get({ callId: req.callId, localTag: req.fromTag ?? '', remoteTag: req.toTag ?? '' });
        if (d) this.dialogs.remove(d, why);
      };
      tx.on('response', (res) => res.status >= 200 && end(`BYE ${res.status}`));
      tx.on('timeout', () => end('BYE timed out'));
      tx.on('transportError', () => end('BYE not sent'));
    }
    return tx;
  }

  #trackInvite(tx: ClientInviteTransaction, protocol: SipProtocol): void {
    const req = tx.request;
    tx.on('response', (res) => {
      if (req.toTag !== null) {
        // re-INVITE: §12.2.1.2 "When a UAC receives a 2xx response to a target refresh request,
        // it MUST replace the dialog's remote target URI with the URI from the Contact".
        if (res.status >= 200 && res.status < 300) this.dialogs.matchResponse(res)?.refreshTarget(res);
        return;
      }
      const existing = this.dialogs.matchResponse(res);
      if (res.status >= 300) {
        this.dialogs.removeEarly(req.callId, req.fromTag ?? '', `${res.status} received`);
      } else if (res.status >= 200) {
        if (existing) existing.confirm(res);
        else {
          const d = Dialog.asUac(req, res, protocol, this.log);
          if (d) this.dialogs.add(d);
        }
      } else if (res.status > 100 && res.toTag !== null && !existing) {
        const d = Dialog.asUac(req, res, protocol, this.log);
        if (d) this.dialogs.add(d);
      }
    });
    const fail = (why: string) => this.dialogs.removeEarly(req.callId, req.fromTag ?? '', why);
    tx.on('timeout', () => fail('INVITE timed out'));
    tx.on('transportError', () => fail('INVITE not sent'));
  }

  /**
   * Cancels a pending INVITE (§9.1). "If no provisional response has been received, the CANCEL
   * request MUST NOT be sent; rather, the client MUST wait for the arrival of a provisional
   * response": the CANCEL waits for one. Resolves with the CANCEL's transaction, or null when a
   * final response came first.
   */
  cancel(tx: ClientInviteTransaction, headers: readonly (readonly [string, string])[] = []): Promise<ClientTransaction | null> {
    const send = (): ClientTransaction => {
      const sent = tx.sentInfo;
      const target: Target = sent
        ? { protocol: sent.protocol, host: sent.remote.address, port: sent.remote.port, connectionId: sent.connectionId }
        : tx.target;
      return this.#transactions.sendRequest(cancelFor(tx.request, headers), target, { keepVia: true });
    };
    if (tx.state === 'proceeding') return Promise.resolve(send());
    if (tx.state !== 'calling') return Promise.resolve(null);
    return new Promise((resolve) => {
      tx.on('statechange', (to) => resolve(to === 'proceeding' ? send() : null));
    });
  }

  /**
   * Sends an ACK for a 2xx (§13.2.2.4): directly to the transport, with a new branch. If it
   * belongs to a dialog, the dialog keeps it to answer retransmissions of that 2xx.
   */
  async sendAck(ack: SipRequest, target: Target = this.targetFor(ack)): Promise<SentInfo> {
    const sentBy = this.transport.sentBy(target.protocol);
    ack.headers.prepend(
      'Via',
      formatVia({ protocol: 'SIP/2.0', transport: viaTransport(target.protocol), host: sentBy.host, port: sentBy.port, params: [{ name: 'rport', value: null }, { name: 'branch', value: newBranch() }] }),
    );
    if (!ack.headers.has('Max-Forwards')) ack.headers.insertAfter('Via', 'Max-Forwards', '70');
    const sent = await this.transport.sendRequest(ack, target);
    const dialog = this.dialogs.get({ callId: ack.callId, localTag: ack.fromTag ?? '', remoteTag: ack.toTag ?? '' });
    if (dialog) dialog.lastAck = { cseq: ack.cseq.seq, raw: sent.raw, target: { protocol: sent.protocol, host: sent.remote.address, port: sent.remote.port, connectionId: sent.connectionId } };
    return sent;
  }

  /** Sends a request within a dialog (§12.2.1.1): BYE, re-INVITE, INFO, REFER, UPDATE... */
  requestInDialog(dialog: Dialog, method: string, opts: Parameters<Dialog['createRequest']>[1] = {}): ClientTransaction {
    const { request, target } = dialog.createRequest(method, opts);
    return this.sendRequest(request, target);
  }

  /** Sends the ACK for the 2xx of the dialog's last INVITE (or of `cseq`). */
  ackInDialog(dialog: Dialog, opts: { cseq?: number; headers?: readonly (readonly [string, string])[]; body?: Buffer } = {}): Promise<SentInfo> {
    const { request, target } = dialog.createAck(opts.cseq ?? dialog.inviteCSeq, opts);
    return this.sendAck(request, target);
  }

  /** §13.2.2.4: each 2xx retransmission is answered with the same ACK again. */
  #onStrayResponse(res: SipResponse, info: ReceivedInfo): void {
    if (res.cseq.method === 'INVITE' && res.status >= 200 && res.status < 300) {
      const dialog = this.dialogs.matchResponse(res);
      const ack = dialog?.lastAck;
      if (ack && ack.cseq === res.cseq.seq) {
        this.transport.sendTo(ack.raw, ack.target, 'ACK (again)').catch(() => undefined);
        return;
      }
    }
    this.emit('strayResponse', res, info);
  }

  /** Closes every transport, ends every transaction and dialog, clears every timer. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#transactions.close();
      this.#retransmitter.close();
      this.dialogs.close();
      this.removeAllListeners();
      await this.transport.close();
      this.log.info('sip closed');
    })();
    return this.#closing;
  }
}

/** Binds UDP and TCP on one port number (retrying a free pair for port 0), then TLS. */
async function openTransports(o: SipStackOptions, log: Logger): Promise<Transport[]> {
  const streamOpts = (port: number) => ({
    host: o.host,
    port,
    limits: o.limits,
    idleMs: o.connectionIdleMs,
    partialMessageMs: o.partialMessageMs,
    connectTimeoutMs: o.connectTimeoutMs,
    maxConnections: o.maxConnections,
    maxWriteBuffer: o.maxWriteBuffer,
    ...(o.tls ? { tls: { cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, rejectUnauthorized: o.tls.rejectUnauthorized ?? true } } : {}),
  });
  const plain = o.transports.filter((p): p is 'udp' | 'tcp' => p !== 'tls');
  const opened: Transport[] = [];
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        let port = o.port;
        for (const p of plain) {
          const t = p === 'udp' ? await UdpTransport.listen(o.host, port, log) : await StreamTransport.listen('tcp', streamOpts(port), log);
          opened.push(t);
          port = t.local.port;
        }
        break;
      } catch (e) {
        await Promise.all(opened.splice(0).map((t) => t.close()));
        if (o.port !== 0 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 10) throw e;
      }
    }
    if (o.transports.includes('tls')) {
      if (!o.tls) throw new Error('sip: tls transport needs a certificate and key');
      opened.push(await StreamTransport.listen('tls', streamOpts(o.tlsPort), log));
    }
    return opened;
  } catch (e) {
    await Promise.all(opened.map((t) => t.close()));
    throw e;
  }
}

