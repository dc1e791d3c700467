/** The INVITE server transaction (RFC 3261 §17.2.1, figure 7). */
import { SipResponse, type SipRequest } from '../message/message.js';
import type { ReceivedInfo, SentInfo } from '../transport/types.js';
import { ServerTransactionBase } from './server-transaction.js';
import type { TransactionContext } from './transaction.js';

type ServerInviteState = 'proceeding' | 'completed' | 'confirmed' | 'terminated';

const MOVES: Readonly<Record<ServerInviteState, readonly ServerInviteState[]>> = {
  proceeding: ['completed', 'terminated'],
  completed: ['confirmed', 'terminated'],
  confirmed: ['terminated'],
  terminated: [],
};

export class ServerInviteTransaction extends ServerTransactionBase<ServerInviteState> {
  readonly kind = 'server-invite';
  /** Set when a CANCEL matched this transaction (§9.2). */
  cancelled = false;

  /**
   * `tryingMs`: §17.2.1 "the server transaction MUST generate a 100 (Trying) response unless it
   * knows that the TU will generate a provisional or final response within 200 ms". null: the
   * TU sends it (drachtio-server sends it at once, before telling the application).
   */
  constructor(ctx: TransactionContext, request: SipRequest, key: string, info: ReceivedInfo, reliable: boolean, tryingMs: number | null) {
    super(ctx, request, key, info, reliable, 'proceeding', MOVES);
    if (tryingMs !== null) {
      this.timers.start('Trying', tryingMs, () => {
        if (this.state === 'proceeding' && this.lastResponse === null) this.sendTrying().catch(() => undefined);
      });
    }
  }

  /** Sends 100 Trying (no To tag) now. */
  sendTrying(): Promise<SentInfo> {
    return this.respond(SipResponse.to(this.request, 100));
  }

  respond(res: SipResponse): Promise<SentInfo> {
    if (this.state !== 'proceeding') return this.refuse(res);
    this.tagResponse(res);
    this.timers.stop('Trying');
    const p = this.sendResponse(res);
    if (res.status >= 200 && res.status < 300) {
      // "If, while in the "Proceeding" state, the TU passes a 2xx response to the server
      // transaction, the server transaction MUST pass this response to the transport layer for
      // transmission. ... The server transaction MUST then transition to the "Terminated"
      // state." Retransmitting the 2xx until ACK is the UAS core's job (§13.3.1.4).
      this.transition('terminated', `${res.status} sent`);
    } else if (res.status >= 300) {
      // "While in the "Proceeding" state, if the TU passes a response with status code from 300
      // to 699 to the server transaction, the response MUST be passed to the transport layer for
      // transmission, and the state machine MUST enter the "Completed" state. For unreliable
      // transports, timer G is set to fire in T1 seconds ... timer H MUST be set to fire in 64*T1
      // seconds for all transports."
      this.transition('completed', `${res.status} sent`);
      if (this.t.G !== null) {
        const t2 = this.ctx.timers.t2;
        this.retransmit('G', this.t.G, (interval) => {
          if (this.state !== 'completed') return null;
          // "the response is passed to the transport layer once more for retransmission, and
          // timer G is set to fire in MIN(2*T1, T2) seconds."
          this.resendLast();
          return Math.min(interval * 2, t2);
        });
      }
      this.timers.start('H', this.t.H, () => {
        // "If timer H fires while in the "Completed" state, it implies that the ACK was never
        // received. In this case, the server transaction MUST transition to the "Terminated"
        // state, and MUST indicate to the TU that a transaction failure has occurred."
        this.emit('timeout');
        this.transition('terminated', 'Timer H: no ACK');
      });
    }
    return p;
  }

  receiveRequest(_req: SipRequest): void {
    this.absorbed++;
    // "If a request retransmission is received while in the "Proceeding" state, the most recent
    // provisional response that was received from the TU MUST be passed to the transport layer
    // for retransmission." "while in the "Completed" state, if a request retransmission is
    // received, the server SHOULD pass the response to the transport for retransmission."
    if (this.state === 'proceeding' || this.state === 'completed') this.resendLast();
  }

  /** True when `ack` acknowledges this transaction's non-2xx final response. */
  acceptsAck(ack: SipRequest): boolean {
    if (this.state !== 'completed' && this.state !== 'confirmed') return false;
    // RFC 2543 matching (§17.2.3): "the To tag of the ACK matches the To tag of the response".
    const sentTag = this.lastResponse?.toTag ?? null;
    return sentTag === null || ack.toTag === sentTag;
  }

  receiveAck(_ack: SipRequest): void {
    if (this.state === 'confirmed') {
      this.absorbed++;
      return;
    }
    if (this.state !== 'completed') return;
    // "If an ACK is received while the server transaction is in the "Completed" state, the
    // server transaction MUST transition to the "Confirmed" state. As Timer G is ignored in
    // this state, any retransmissions of the response will cease."
    this.timers.stop('G');
    this.timers.stop('H');
    this.transition('confirmed', 'ACK received');
    // "When this state is entered, timer I is set to fire in T4 seconds for unreliable
    // transports, and zero seconds for reliable transports."
    this.waitThenTerminate('I', this.t.I, 'Timer I');
  }
}
