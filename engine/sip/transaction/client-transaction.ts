/** What the two client transactions share: sending the request, retransmitting it, errors. */
import type { SipRequest, SipResponse } from '../message/message.js';
import type { ReceivedInfo, SentInfo, Target } from '../transport/types.js';
import { Transaction, type BaseTransactionEvents, type TransactionContext } from './transaction.js';

interface ClientTransactionEvents<S extends string> extends BaseTransactionEvents<S> {
  /** The request went on the wire (first transmission only); carries the exact bytes. */
  sent: [info: SentInfo];
  /** A response for the TU (retransmissions the transaction absorbs are not reported). */
  response: [res: SipResponse, info: ReceivedInfo];
  /** Timer B or F fired: no final response (§17.1.1.2, §17.1.2.2). */
  timeout: [];
  /** §17.1.4: the transport could not send the request. */
  transportError: [error: Error];
}

export abstract class ClientTransactionBase<S extends string> extends Transaction<S, ClientTransactionEvents<S>> {
  /** Set once the first transmission went out. */
  sentInfo: SentInfo | undefined;
  /** Number of retransmissions so far. */
  retransmissions = 0;

  protected constructor(
    ctx: TransactionContext,
    request: SipRequest,
    key: string,
    /** Where the request goes. */
    readonly target: Target,
    reliable: boolean,
    initial: S,
    moves: Readonly<Record<S, readonly S[]>>,
  ) {
    super(ctx, request, key, reliable, initial, moves);
  }

  /** Passes the request to the transport and starts the timers. Call once. */
  abstract start(): void;

  /** Handles a response matched to this transaction (§17.1.3). */
  abstract receive(res: SipResponse, info: ReceivedInfo): void;

  /**
   * Passes the request to the transport; `onSent` runs once it is on the wire (retransmission
   * timers count from there, so a slow DNS lookup or TCP connect does not eat into them).
   */
  protected send(onSent: () => void): void {
    this.ctx.transport.sendRequest(this.request, this.target).then(
      (sent) => {
        this.sentInfo = sent;
        if (this.isTerminated) return;
        onSent();
        this.emit('sent', sent);
      },
      (err: Error) => this.transportFailed(err),
    );
  }

  /** Sends the request again, exactly as first sent (skipped while the first send is pending). */
  protected resendRequest(): void {
    if (!this.sentInfo) return;
    this.retransmissions++;
    this.ctx.transport.resend(this.sentInfo).catch((err: Error) => this.transportFailed(err));
  }

  /**
   * §17.1.4: "the client transaction SHOULD inform the TU that a transport failure has
   * occurred, and the client transaction SHOULD transition directly to the "Terminated" state."
   */
  protected transportFailed(err: Error): void {
    if (this.isTerminated) return;
    this.log.info({ transaction: this.id, err: err.message }, 'sip request could not be sent');
    this.emit('transportError', err);
    this.transition('terminated' as S, `transport error: ${err.message}`);
  }
}
