/** The non-INVITE server transaction (RFC 3261 §17.2.2, figure 8). */
import type { SipRequest, SipResponse } from '../message/message.js';
import type { ReceivedInfo, SentInfo } from '../transport/types.js';
import { ServerTransactionBase } from './server-transaction.js';
import type { TransactionContext } from './transaction.js';

export type ServerNonInviteState = 'trying' | 'proceeding' | 'completed' | 'terminated';

const MOVES: Readonly<Record<ServerNonInviteState, readonly ServerNonInviteState[]>> = {
  trying: ['proceeding', 'completed', 'terminated'],
  proceeding: ['completed', 'terminated'],
  completed: ['terminated'],
  terminated: [],
};

export class ServerNonInviteTransaction extends ServerTransactionBase<ServerNonInviteState> {
  readonly kind = 'server-non-invite';

  constructor(ctx: TransactionContext, request: SipRequest, key: string, info: ReceivedInfo, reliable: boolean) {
    super(ctx, request, key, info, reliable, 'trying', MOVES);
  }

  respond(res: SipResponse): Promise<SentInfo> {
    const s = this.state;
    if (s !== 'trying' && s !== 'proceeding') return this.refuse(res);
    this.tagResponse(res);
    const p = this.sendResponse(res);
    if (res.status < 200) {
      // "While in the "Trying" state, if the TU passes a provisional response to the server
      // transaction, the server transaction MUST enter the "Proceeding" state."
      if (s === 'trying') this.transition('proceeding', `${res.status} sent`);
    } else {
      // "If the TU passes a final response (status codes 200-699) to the server while in the
      // "Proceeding" [or "Trying"] state, the transaction MUST enter the "Completed" state".
      // "When the server transaction enters the "Completed" state, it MUST set Timer J to fire
      // in 64*T1 seconds for unreliable transports, and zero seconds for reliable transports."
      this.transition('completed', `${res.status} sent`);
      this.waitThenTerminate('J', this.t.J, 'Timer J');
    }
    return p;
  }

  receiveRequest(_req: SipRequest): void {
    this.absorbed++;
    // Trying: "any further request retransmissions are discarded". Proceeding: "the most
    // recently sent provisional response MUST be passed to the transport layer for
    // retransmission". Completed: "the server transaction MUST pass the final response to the
    // transport layer for retransmission".
    if (this.state === 'proceeding' || this.state === 'completed') this.resendLast();
  }
}
