/** The INVITE client transaction (RFC 3261 §17.1.1, figure 5). */
import type { SipRequest, SipResponse } from '../message/message.js';
import { serialize } from '../message/serializer.js';
import type { ReceivedInfo, SentInfo, Target } from '../transport/types.js';
import { ClientTransactionBase } from './client-transaction.js';
import { ackForNon2xx } from './derived-requests.js';
import type { TransactionContext } from './transaction.js';

type ClientInviteState = 'calling' | 'proceeding' | 'completed' | 'terminated';

const MOVES: Readonly<Record<ClientInviteState, readonly ClientInviteState[]>> = {
  calling: ['proceeding', 'completed', 'terminated'],
  proceeding: ['completed', 'terminated'],
  completed: ['terminated'],
  terminated: [],
};

export class ClientInviteTransaction extends ClientTransactionBase<ClientInviteState> {
  readonly kind = 'client-invite';
  /** The ACK this transaction generated for a non-2xx final response, once sent. */
  ack: SipRequest | undefined;
  #ackSent: SentInfo | undefined;

  constructor(ctx: TransactionContext, request: SipRequest, key: string, target: Target, reliable: boolean) {
    super(ctx, request, key, target, reliable, 'calling', MOVES);
  }

  /**
   * §17.1.1.2: "the client transaction MUST pass the request to the transport layer for
   * transmission ... If an unreliable transport is being used, the client transaction MUST start
   * timer A with a value of T1. ... For any transport, the client transaction MUST start timer B
   * with a value of 64*T1 seconds".
   */
  start(): void {
    this.send(() => {
      if (this.t.A === null || this.state !== 'calling') return;
      // "When timer A fires, the client transaction MUST retransmit the request ... and MUST
      // reset the timer with a value of 2*T1" (no cap for INVITE).
      this.retransmit('A', this.t.A, (interval) => {
        if (this.state !== 'calling') return null;
        this.resendRequest();
        return interval * 2;
      });
    });
    this.timers.start('B', this.t.B, () => {
      // "If the client transaction is still in the "Calling" state when timer B fires, the
      // client transaction SHOULD inform the TU that a timeout has occurred."
      if (this.state !== 'calling') return;
      this.emit('timeout');
      this.transition('terminated', 'Timer B: no response');
    });
  }

  receive(res: SipResponse, info: ReceivedInfo): void {
    const s = this.state;
    if (s === 'calling' || s === 'proceeding') {
      if (res.status < 200) {
        // "If the client transaction receives a provisional response while in the "Calling"
        // state, it transitions to the "Proceeding" state. In the "Proceeding" state, the client
        // transaction SHOULD NOT retransmit the request any longer." Timer B only acts in Calling.
        this.timers.stop('A');
        this.timers.stop('B');
        this.emit('response', res, info);
        if (s === 'calling') this.transition('proceeding', `${res.status} received`);
      } else if (res.status < 300) {
        // "When in either the "Calling" or "Proceeding" states, reception of a 2xx response MUST
        // cause the client transaction to enter the "Terminated" state, and the response MUST be
        // passed up to the TU."
        this.emit('response', res, info);
        this.transition('terminated', `${res.status} received`);
      } else {
        // "reception of a response with status code from 300-699 MUST cause the client
        // transaction to transition to "Completed". The client transaction MUST pass the received
        // response up to the TU, and the client transaction MUST generate an ACK request".
        this.#sendAck(res);
        this.emit('response', res, info);
        this.timers.stop('A');
        this.timers.stop('B');
        this.transition('completed', `${res.status} received`);
        // "The client transaction SHOULD start timer D ... with a value of at least 32 seconds for
        // unreliable transports, and a value of zero seconds for reliable transports."
        this.waitThenTerminate('D', this.t.D, 'Timer D');
      }
    } else if (s === 'completed' && res.status >= 300) {
      // "Any retransmissions of the final response that are received while in the "Completed"
      // state MUST cause the ACK to be re-passed to the transport layer for retransmission, but
      // the newly received response MUST NOT be passed up to the TU."
      if (this.#ackSent) this.ctx.transport.resend(this.#ackSent).catch(() => undefined);
    }
  }

  #sendAck(res: SipResponse): void {
    const ack = ackForNon2xx(this.request, res);
    this.ack = ack;
    // §17.1.1.3: the ACK goes "to the same address, port, and transport to which the original request was sent".
    const sent = this.sentInfo;
    const target: Target = sent
      ? { protocol: sent.protocol, host: sent.remote.address, port: sent.remote.port, connectionId: sent.connectionId }
      : this.target;
    this.ctx.transport.counts.request('ACK', true);
    this.ctx.transport.sendTo(serialize(ack), target, ack.startLine).then(
      (s) => (this.#ackSent = s),
      (err: Error) => this.log.info({ transaction: this.id, err: err.message }, 'ACK could not be sent'),
    );
  }
}
