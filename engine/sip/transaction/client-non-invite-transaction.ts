/** The non-INVITE client transaction (RFC 3261 §17.1.2, figure 6). */
import type { SipRequest, SipResponse } from '../message/message.js';
import type { ReceivedInfo, Target } from '../transport/types.js';
import { ClientTransactionBase } from './client-transaction.js';
import type { TransactionContext } from './transaction.js';

type ClientNonInviteState = 'trying' | 'proceeding' | 'completed' | 'terminated';

const MOVES: Readonly<Record<ClientNonInviteState, readonly ClientNonInviteState[]>> = {
  trying: ['proceeding', 'completed', 'terminated'],
  proceeding: ['completed', 'terminated'],
  completed: ['terminated'],
  terminated: [],
};

export class ClientNonInviteTransaction extends ClientTransactionBase<ClientNonInviteState> {
  readonly kind = 'client-non-invite';

  constructor(ctx: TransactionContext, request: SipRequest, key: string, target: Target, reliable: boolean) {
    super(ctx, request, key, target, reliable, 'trying', MOVES);
  }

  /**
   * §17.1.2.2: "The "Trying" state is entered when the TU initiates a new client transaction
   * with a request. When entering this state, the client transaction SHOULD set timer F to fire
   * in 64*T1 seconds. The request MUST be passed to the transport layer for transmission. If an
   * unreliable transport is in use, the client transaction MUST set timer E to fire in T1 seconds."
   */
  start(): void {
    this.send(() => {
      if (this.t.E === null || (this.state !== 'trying' && this.state !== 'proceeding')) return;
      const t2 = this.ctx.timers.t2;
      this.retransmit('E', this.t.E, (interval) => {
        if (this.state !== 'trying' && this.state !== 'proceeding') return null;
        this.resendRequest();
        // "reset the timer with a value of MIN(2*T1, T2)" in Trying; "with a value of T2" in Proceeding.
        return this.state === 'proceeding' ? t2 : Math.min(interval * 2, t2);
      });
    });
    this.timers.start('F', this.t.F, () => {
      // "If Timer F fires while the client transaction is still in the "Trying" state, the client
      // transaction SHOULD inform the TU about the timeout" (likewise in "Proceeding").
      this.emit('timeout');
      this.transition('terminated', 'Timer F: no final response');
    });
  }

  receive(res: SipResponse, info: ReceivedInfo): void {
    const s = this.state;
    if (s !== 'trying' && s !== 'proceeding') return; // "Completed": retransmissions are absorbed.
    this.emit('response', res, info);
    if (res.status < 200) {
      if (s === 'trying') this.transition('proceeding', `${res.status} received`);
      return;
    }
    // "If a final response (status codes 200-699) is received while in the "Trying" [or
    // "Proceeding"] state, the response MUST be passed to the TU, and the client transaction MUST
    // transition to the "Completed" state." Timer K: T4 for unreliable, zero for reliable.
    this.timers.stop('E');
    this.timers.stop('F');
    this.transition('completed', `${res.status} received`);
    this.waitThenTerminate('K', this.t.K, 'Timer K');
  }
}
