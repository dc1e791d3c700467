/** The events and counters the SIP stack exposes to the layer above. */
import type { Dialog } from './dialog/dialog.js';
import type { SipRequest, SipResponse } from './message/message.js';
import type { ServerInviteTransaction } from './transaction/server-invite-transaction.js';
import type { ServerTransaction } from './transaction/transaction-layer.js';
import type { ReceivedInfo } from './transport/types.js';

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

/**
 * A proxy on this stack (`SipStack.attachProxy`). A request whose top Route names this stack and
 * that goes on from here (RFC 3261 §16.4: "If the first value in the Route header field indicates
 * this proxy") is offered to it; when it `claims` the request (one of the dialogs it
 * record-routed), the UAS core leaves the request to `handle`: `tx` is its server transaction, or
 * null for an ACK. Nothing else is ever forwarded: the stack is no open relay.
 */
export interface RoutedRequests {
  claims(req: SipRequest): boolean;
  handle(req: SipRequest, tx: ServerTransaction | null, info: ReceivedInfo): void;
}
