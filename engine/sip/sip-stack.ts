/**
 * The SIP stack: transports, transactions and dialogs composed into the small API the drachtio
 * wire-protocol server (and tests) build on. The stack plays the UA core's part the RFC leaves
 * to "the TU" where every UA must behave the same (see `uas-core.ts`, `uac-core.ts`): To tags,
 * 100 Trying, CANCEL (§9.2), 2xx retransmission until ACK (§13.3.1.4), re-ACK of retransmitted
 * 2xx (§13.2.2.4), dialog tracking (§12) with CSeq ordering (500) and unknown dialogs (481).
 * Everything else is the application's: it receives each request with its transaction and
 * answers through `respond`.
 *
 * ```ts
 * const stack = await SipStack.start(options, log);
 * stack.on('request', (req, tx) => { if (tx) void stack.respond(tx, stack.createResponse(req, 200)); });
 * const tx = stack.sendRequest(new SipRequest('OPTIONS', 'sip:peer@127.0.0.1:5070'));
 * tx.on('response', (res, info) => ...);
 * await stack.close();
 * ```
 */
import type { Logger } from '../../config/logger.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import type { ComponentHealth } from '../health/health.js';
import type { Dialog, InDialogRequestOptions } from './dialog/dialog.js';
import { SourceGuard, type AbuseStats } from './abuse/source-guard.js';
import { DialogTable } from './dialog/dialog-table.js';
import { Uas2xxRetransmitter } from './dialog/uas-2xx-retransmitter.js';
import { SipResponse, type SipRequest } from './message/message.js';
import { hostAddress, type Uri } from './message/uri.js';
import { openTransports } from './open-transports.js';
import { contactFor } from './request-defaults.js';
import type { RoutedRequests, SipStackEvents, SipStackStats } from './stack-events.js';
import type { SipStackOptions } from './stack-options.js';
import type { ClientInviteTransaction } from './transaction/client-invite-transaction.js';
import { TransactionLayer, type ClientTransaction, type ServerTransaction } from './transaction/transaction-layer.js';
import { TransportLayer, type ListeningPoint } from './transport/transport-layer.js';
import type { SipMessageCounts } from './transport/message-counts.js';
import type { MessageSource, SentInfo, SipProtocol, Target } from './transport/types.js';
import { UacCore } from './uac-core.js';
import { UasCore } from './uas-core.js';

export type { RoutedRequests };

/** The stack's counters for the metrics endpoint (see `metrics()`). */
export interface SipStackMetrics {
  messages: SipMessageCounts;
  abuse: AbuseStats | null;
  live: SipStackStats;
  /** The SIP thread's own event-loop delay since the previous scrape, seconds (thread mode only). */
  threadLoopDelay?: { p50: number; p99: number; max: number };
}

export class SipStack extends TypedEmitter<SipStackEvents> {
  /** The dialogs the stack tracks (events: created, confirmed, terminated). */
  readonly dialogs: DialogTable;
  readonly #transactions: TransactionLayer;
  readonly #retransmitter: Uas2xxRetransmitter;
  readonly #uas: UasCore;
  readonly #uac: UacCore;
  readonly #guard: SourceGuard | undefined;
  #proxy: RoutedRequests | null = null;
  #closing: Promise<void> | undefined;

  private constructor(
    readonly options: SipStackOptions,
    readonly transport: TransportLayer,
    private readonly log: Logger,
    guard?: SourceGuard,
  ) {
    super((event, error) => log.error({ err: error, event }, 'sip stack listener failed'));
    this.#guard = guard;
    this.dialogs = new DialogTable(log);
    this.#transactions = new TransactionLayer(transport, { timers: options.timers, tryingMs: options.tryingMs }, log);
    this.#retransmitter = new Uas2xxRetransmitter(transport, options.timers, this.#transactions.counter, (res) => this.#uas.onAckTimeout(res), log);
    const common = { transport, dialogs: this.dialogs, events: this as TypedEmitter<SipStackEvents>, log };
    this.#uas = new UasCore({
      ...common,
      options,
      retransmitter: this.#retransmitter,
      contact: (p) => this.contact(p),
      isLocal: (u) => this.isLocalUri(u),
      proxy: () => this.#proxy,
    });
    this.#uac = new UacCore({ ...common, transactions: this.#transactions });
    this.dialogs.on('terminated', (d) => this.#retransmitter.stopForDialog(d.id.callId, d.id.localTag, d.id.remoteTag));
    this.#transactions.on('request', (req, tx, info) => this.#uas.onRequest(req, tx, info));
    this.#transactions.on('cancel', (req, tx, invite, info) => this.#uas.onCancel(req, tx, invite, info));
    this.#transactions.on('strayResponse', (res, info) => this.#uac.onStrayResponse(res, info));
  }

  /**
   * Opens every configured transport and returns the running stack. UDP and TCP share one port
   * number; with port 0, a free one is picked for both (retried if the other protocol has it).
   */
  static async start(options: SipStackOptions, log: Logger): Promise<SipStack> {
    const guard = options.abuse ? new SourceGuard(options.abuse) : undefined;
    const transports = await openTransports(options, log, guard);
    const layer = new TransportLayer(transports, { publicHost: options.publicHost, rport: options.rport, limits: options.limits, ...(guard ? { guard } : {}) }, log);
    const stack = new SipStack(options, layer, log, guard);
    log.info({ listening: stack.listening() }, 'sip listening');
    return stack;
  }

  /** Where the stack listens, per transport. */
  listening(): ListeningPoint[] {
    return this.transport.listening();
  }

  /** The `sip` health component: up while every configured transport listens. */
  health(): ComponentHealth {
    const missing = this.options.transports.filter((p) => !this.transport.transport(p)?.listening);
    const up = !this.#closing && missing.length === 0;
    const h: ComponentHealth = { status: up ? 'up' : 'down', transports: this.listening(), dialogs: this.dialogs.size };
    if (this.#guard) h.abuse = this.#guard.stats();
    if (!up) h.error = this.#closing ? 'sip stack closed' : `not listening: ${missing.join(', ')}`;
    return h;
  }

  /** Live transactions, timers, connections, dialogs and unacknowledged 2xx. */
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

  /**
   * What the metrics endpoint reads, in one plain object (posted across the thread in `thread`
   * mode): messages by method and response class, the abuse counters, live object counts.
   */
  metrics(): SipStackMetrics {
    return { messages: this.transport.counts.snapshot(), abuse: this.abuseStats(), live: this.stats() };
  }

  /** The abuse counters (rate limits, failed authentications, bans), or null without protection. */
  abuseStats(): AbuseStats | null {
    return this.#guard?.stats() ?? null;
  }

  /** Our Contact header value for a transport (`<sip:host:port;transport=tcp>`). */
  contact(protocol: SipProtocol = 'udp'): string {
    const sentBy = this.transport.sentBy(protocol);
    return contactFor({ host: sentBy.host, port: sentBy.port, protocol });
  }

  /**
   * True when `uri` names this stack: a sip/sips URI whose host is our public host or a listening
   * address, and whose port (5060/5061 when absent) is one we listen on.
   */
  isLocalUri(uri: Uri): boolean {
    if (uri.kind !== 'sip') return false;
    const host = hostAddress(uri.host).toLowerCase();
    const points = this.listening();
    const port = uri.port ?? (uri.scheme === 'sips' ? 5061 : 5060);
    const hostIsOurs = host === hostAddress(this.options.publicHost).toLowerCase() || points.some((l) => l.address.toLowerCase() === host);
    return hostIsOurs && points.some((l) => l.port === port);
  }

  // ------------------------------------------------------------------ UAS side

  /** A response to `req` with Via, From, To, Call-ID and CSeq copied (§8.2.6). */
  createResponse(req: SipRequest, status: number, reason?: string): SipResponse {
    return SipResponse.to(req, status, reason);
  }

  /**
   * Sends a response through its server transaction; the transaction adds its To tag (§8.2.6.2).
   * For INVITE: a 2xx gets our Contact if it has none (§12.1.1 "the UAS MUST add a Contact header
   * field to the response"), creates or confirms the dialog and is retransmitted until ACK
   * (§13.3.1.4); a tagged 1xx creates an early dialog; a final non-2xx ends early dialogs.
   * Dialog-creating responses get the request's Record-Route (§12.1.1). A 2xx to BYE ends the
   * dialog. Resolves with what went on the wire; rejects with TransactionStateError when the
   * transaction cannot send it (already answered), or with a TransportError.
   */
  respond(tx: ServerTransaction, res: SipResponse): Promise<SentInfo> {
    return this.#uas.respond(tx, res);
  }

  /** Sends a response without a transaction (§8.2.7 stateless UAS), routed by §18.2.2. */
  sendStateless(res: SipResponse, source: MessageSource): Promise<SentInfo> {
    return this.transport.sendResponse(res, source);
  }

  // ------------------------------------------------------------------ UAC side

  /**
   * Fills the headers §8.1.1 requires and the request lacks (Max-Forwards, From with a tag, To,
   * Call-ID, CSeq, and Contact for INVITE/SUBSCRIBE/REFER), for the transport it will use.
   */
  completeRequest(req: SipRequest, protocol: SipProtocol = this.targetFor(req).protocol): SipRequest {
    return this.#uac.completeRequest(req, protocol);
  }

  /**
   * The next hop of an out-of-dialog request (§8.1.2): the first Route's URI when there is one,
   * otherwise the Request-URI, resolved by RFC 3263 rules without NAPTR/SRV (`requestTarget`).
   */
  targetFor(req: SipRequest): Target {
    return this.#uac.targetFor(req);
  }

  /**
   * Sends a request in a new client transaction: completes it (§8.1.1), adds our Via with a new
   * branch, and sends it to `target` (default `targetFor(req)`). Throws a TransportError when no
   * transport serves the target's protocol. Listen on the transaction for `sent` (the bytes),
   * `response`, `timeout` and `transportError`. Dialogs are tracked from an INVITE's responses
   * (§12.1.2, §13.2.2.4) and ended by a BYE's final response.
   */
  sendRequest(req: SipRequest, target: Target = this.targetFor(req)): ClientTransaction {
    return this.#uac.sendRequest(req, target);
  }

  /**
   * Cancels a pending INVITE (§9.1). "If no provisional response has been received, the CANCEL
   * request MUST NOT be sent; rather, the client MUST wait for the arrival of a provisional
   * response": the CANCEL waits for one. Resolves with the CANCEL's transaction, or null when a
   * final response came first.
   */
  cancel(tx: ClientInviteTransaction, headers: readonly (readonly [string, string])[] = []): Promise<ClientTransaction | null> {
    return this.#uac.cancel(tx, headers);
  }

  /**
   * Sends an ACK for a 2xx (§13.2.2.4) straight to the transport, with our Via and a new branch.
   * If it belongs to a dialog, the dialog keeps it to answer retransmissions of that 2xx.
   */
  sendAck(ack: SipRequest, target: Target = this.targetFor(ack)): Promise<SentInfo> {
    return this.#uac.sendAck(ack, target);
  }

  /** Attaches the proxy that may claim requests routed through this stack (see `RoutedRequests`). */
  attachProxy(proxy: RoutedRequests | null): void {
    this.#proxy = proxy;
  }

  /**
   * Forwards a request as a stateful proxy does (§16.6): a new client transaction with our Via on
   * top ("the proxy MUST insert a Via header field value into the copy before the existing Via
   * header field values"). The request goes as the caller built it: no §8.1.1 completion, and
   * no dialog is tracked from its responses (the dialog belongs to the two ends).
   */
  forward(req: SipRequest, target: Target): ClientTransaction {
    return this.#transactions.sendRequest(req, target);
  }

  /** Forwards an ACK (for a 2xx) statelessly: our Via with a new branch, no transaction (§16.11, §17). */
  forwardAck(ack: SipRequest, target: Target): Promise<SentInfo> {
    return this.#uac.forwardAck(ack, target);
  }

  /** Sends a request within a dialog (§12.2.1.1): BYE, re-INVITE, INFO, REFER, UPDATE... */
  requestInDialog(dialog: Dialog, method: string, opts: InDialogRequestOptions = {}): ClientTransaction {
    const { request, target } = dialog.createRequest(method, opts);
    return this.sendRequest(request, target);
  }

  /** Sends the ACK for the 2xx of the dialog's last INVITE (or of `opts.cseq`). */
  ackInDialog(dialog: Dialog, opts: Omit<InDialogRequestOptions, 'cseq'> & { cseq?: number } = {}): Promise<SentInfo> {
    const { request, target } = dialog.createAck(opts.cseq ?? dialog.inviteCSeq, opts);
    return this.sendAck(request, target);
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
