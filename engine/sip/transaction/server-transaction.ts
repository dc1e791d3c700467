/** What the two server transactions share: where to answer, the To tag, sending responses. */
import { newTag } from '../ids.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import { tagOf, withTag, formatNameAddr } from '../message/name-addr.js';
import type { MessageSource, ReceivedInfo, SentInfo } from '../transport/types.js';
import { Transaction, TransactionStateError, type BaseTransactionEvents, type TransactionContext } from './transaction.js';

interface ServerTransactionEvents<S extends string> extends BaseTransactionEvents<S> {
  /** Timer H fired: no ACK for a non-2xx final response (§17.2.1). */
  timeout: [];
  /** §17.2.4: a response could not be sent. */
  transportError: [error: Error];
}

export abstract class ServerTransactionBase<S extends string> extends Transaction<S, ServerTransactionEvents<S>> {
  /** The last response the TU passed down, if any. */
  lastResponse: SipResponse | null = null;
  /** Retransmissions of the request absorbed so far. */
  absorbed = 0;
  #toTag: string | null;
  #lastSent: SentInfo | undefined;

  protected constructor(
    ctx: TransactionContext,
    request: SipRequest,
    key: string,
    /** Where the request came from (responses go back by §18.2.2). */
    readonly info: ReceivedInfo,
    reliable: boolean,
    initial: S,
    moves: Readonly<Record<S, readonly S[]>>,
  ) {
    super(ctx, request, key, reliable, initial, moves);
    this.#toTag = request.toTag;
  }

  get source(): MessageSource {
    return this.info.source;
  }

  get method(): string {
    return this.request.method;
  }

  /**
   * The To tag of this transaction's responses: the request's own (in-dialog requests), or one
   * generated once so that every response to the request carries the same tag (§8.2.6.2).
   */
  get toTag(): string {
    this.#toTag ??= newTag();
    return this.#toTag;
  }

  /** Handles a retransmission of the request (§17.2.1, §17.2.2). */
  abstract receiveRequest(req: SipRequest): void;

  /** Passes a response down; the state machine decides what follows. */
  abstract respond(res: SipResponse): Promise<SentInfo>;

  /**
   * Adds this transaction's To tag when the response has none and is not a 100 (§8.2.6.2: "the
   * UAS MUST add a tag to the To header field in the response (with the exception of the 100
   * (Trying) response, in which a tag MAY be present)"). A tag the caller set is adopted.
   */
  protected tagResponse(res: SipResponse): void {
    const to = res.to;
    const tag = tagOf(to);
    if (tag !== null) {
      this.#toTag ??= tag;
    } else if (res.status > 100) {
      res.headers.set('To', formatNameAddr(withTag(to, this.toTag)));
    }
  }

  protected refuse(res: SipResponse): Promise<SentInfo> {
    return Promise.reject(new TransactionStateError(`cannot send ${res.status} in state ${this.state} of ${this.method} transaction`));
  }

  /** Sends a response and remembers it for retransmissions. */
  protected sendResponse(res: SipResponse): Promise<SentInfo> {
    this.lastResponse = res;
    const p = this.ctx.transport.sendResponse(res, this.source);
    p.then(
      (sent) => {
        if (this.lastResponse === res) this.#lastSent = sent;
      },
      (err: Error) => this.transportFailed(err),
    );
    return p;
  }

  /** Sends the last response again (request retransmission, Timer G). */
  protected resendLast(): void {
    if (this.#lastSent) this.ctx.transport.resend(this.#lastSent).catch((err: Error) => this.transportFailed(err));
  }

  /** §17.2.4: "the server transaction SHOULD inform the TU ... and SHOULD transition to the terminated state". */
  protected transportFailed(err: Error): void {
    if (this.isTerminated) return;
    this.log.info({ transaction: this.id, err: err.message }, 'sip response could not be sent');
    this.emit('transportError', err);
    this.transition('terminated' as S, `transport error: ${err.message}`);
  }
}
