/**
 * The transaction layer (RFC 3261 §17): the table of client and server transactions, matching of
 * every received message, and the entry points for the TU. Requests that start no transaction
 * (an ACK for a 2xx) and responses that match none (2xx retransmissions after the INVITE client
 * transaction ended) go to the TU as they are (§17.1.1.2, §17.2.3).
 */
import type { Logger } from '../../../config/logger.js';
import { TypedEmitter } from '../../../lib/typed-emitter.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import { formatVia } from '../message/via.js';
import { newBranch } from '../ids.js';
import { viaTransport } from '../transport/routing.js';
import type { TransportLayer } from '../transport/transport-layer.js';
import type { ReceivedInfo, Target } from '../transport/types.js';
import { ClientInviteTransaction } from './client-invite-transaction.js';
import { ClientNonInviteTransaction } from './client-non-invite-transaction.js';
import { clientKeyOfRequest, clientKeyOfResponse, serverKey } from './matching.js';
import { ServerInviteTransaction } from './server-invite-transaction.js';
import { ServerNonInviteTransaction } from './server-non-invite-transaction.js';
import { TimerCounter, type TimerConfig } from './timers.js';
import type { TransactionContext } from './transaction.js';

export type ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction;
export type ClientTransaction = ClientInviteTransaction | ClientNonInviteTransaction;

interface TransactionLayerOptions {
  timers: TimerConfig;
  /** Automatic 100 Trying delay for INVITE server transactions; null: the TU sends it. */
  tryingMs: number | null;
}

interface TransactionLayerEvents extends Record<string, unknown[]> {
  /** A new request: with its new server transaction, or `null` for an ACK that matched none. */
  request: [req: SipRequest, tx: ServerTransaction | null, info: ReceivedInfo];
  /** A new CANCEL, its own server transaction, and the INVITE transaction it matches (§9.2). */
  cancel: [req: SipRequest, tx: ServerNonInviteTransaction, invite: ServerInviteTransaction | null, info: ReceivedInfo];
  /** A response that matched no client transaction. */
  strayResponse: [res: SipResponse, info: ReceivedInfo];
}

export class TransactionLayer extends TypedEmitter<TransactionLayerEvents> {
  readonly #server = new Map<string, ServerTransaction>();
  readonly #client = new Map<string, ClientTransaction>();
  readonly #ctx: TransactionContext;
  readonly counter = new TimerCounter();

  constructor(
    private readonly transport: TransportLayer,
    private readonly opts: TransactionLayerOptions,
    private readonly log: Logger,
  ) {
    super((event, error) => log.error({ err: error, event }, 'sip transaction layer listener failed'));
    this.#ctx = { transport, timers: opts.timers, counter: this.counter, log };
    transport.on('request', (req, info) => this.#onRequest(req, info));
    transport.on('response', (res, info) => this.#onResponse(res, info));
  }

  #onRequest(req: SipRequest, info: ReceivedInfo): void {
    const key = serverKey(req);
    const existing = this.#server.get(key);
    if (req.method === 'ACK') {
      if (existing instanceof ServerInviteTransaction && existing.acceptsAck(req)) existing.receiveAck(req);
      else this.emit('request', req, null, info);
      return;
    }
    if (existing) {
      existing.receiveRequest(req);
      return;
    }
    const reliable = this.transport.isReliable(info.source.protocol);
    if (req.method === 'INVITE') {
      const tx = this.#addServer(new ServerInviteTransaction(this.#ctx, req, key, info, reliable, this.opts.tryingMs));
      this.emit('request', req, tx, info);
    } else if (req.method === 'CANCEL') {
      const tx = this.#addServer(new ServerNonInviteTransaction(this.#ctx, req, key, info, reliable));
      const invite = this.#server.get(serverKey(req, 'INVITE'));
      this.emit('cancel', req, tx, invite instanceof ServerInviteTransaction ? invite : null, info);
    } else {
      const tx = this.#addServer(new ServerNonInviteTransaction(this.#ctx, req, key, info, reliable));
      this.emit('request', req, tx, info);
    }
  }

  #addServer<T extends ServerTransaction>(tx: T): T {
    this.#server.set(tx.key, tx);
    tx.on('terminated', () => {
      if (this.#server.get(tx.key) === tx) this.#server.delete(tx.key);
    });
    return tx;
  }

  #onResponse(res: SipResponse, info: ReceivedInfo): void {
    const tx = this.#client.get(clientKeyOfResponse(res));
    if (tx) tx.receive(res, info);
    else this.emit('strayResponse', res, info);
  }

  /**
   * Starts a client transaction for `req` to `target`. Our Via goes on top with a new branch
   * (§8.1.1.7: "the UAC MUST insert a Via header field value ... MUST contain a branch
   * parameter"), unless `keepVia` (a CANCEL reuses its INVITE's Via, §9.1). An `rport` flag asks
   * for RFC 3581 symmetric responses. ACK is never sent through a transaction.
   */
  sendRequest(req: SipRequest, target: Target, opts: { keepVia?: boolean } = {}): ClientTransaction {
    if (req.method === 'ACK') throw new Error('ACK is not sent through a client transaction');
    if (!opts.keepVia) {
      const sentBy = this.transport.sentBy(target.protocol);
      req.headers.prepend(
        'Via',
        formatVia({
          protocol: 'SIP/2.0',
          transport: viaTransport(target.protocol),
          host: sentBy.host,
          port: sentBy.port,
          params: [{ name: 'rport', value: null }, { name: 'branch', value: newBranch() }],
        }),
      );
    }
    const reliable = this.transport.isReliable(target.protocol);
    const key = clientKeyOfRequest(req);
    const tx =
      req.method === 'INVITE'
        ? new ClientInviteTransaction(this.#ctx, req, key, target, reliable)
        : new ClientNonInviteTransaction(this.#ctx, req, key, target, reliable);
    this.#client.set(key, tx);
    tx.on('terminated', () => {
      if (this.#client.get(key) === tx) this.#client.delete(key);
    });
    tx.start();
    return tx;
  }

  /** Counts, for health, stats and leak tests. */
  stats(): { server: number; client: number; timers: number } {
    return { server: this.#server.size, client: this.#client.size, timers: this.counter.active };
  }

  /** Ends every transaction and clears every timer. */
  close(): void {
    for (const tx of [...this.#server.values(), ...this.#client.values()]) tx.abort('stack closing');
    this.#server.clear();
    this.#client.clear();
    this.removeAllListeners();
  }
}
