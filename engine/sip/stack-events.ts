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
  /**
   * A request whose top Route names this stack, received while a proxy listens for this event
   * (RFC 3261 §16.4: "If the first value in the Route header field indicates this proxy"). The
   * UAS core leaves it alone: `tx` is its server transaction, or null for an ACK.
   */
  routed: [req: SipRequest, tx: ServerTransaction | null, info: ReceivedInfo];
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
