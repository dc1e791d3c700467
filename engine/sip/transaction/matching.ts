/**
 * Transaction matching keys (RFC 3261 §17.1.3, §17.2.3). Two messages belong to the same
 * transaction exactly when their keys are equal.
 */
import type { SipRequest, SipResponse } from '../message/message.js';
import { withoutParam } from '../message/params.js';
import { MAGIC_COOKIE, formatVia, sentByKey, viaBranch } from '../message/via.js';

/**
 * §17.2.3, server side. With an RFC 3261 branch: "1. the branch parameter in the request is
 * equal to the one in the top Via header field of the request that created the transaction,
 * and 2. the sent-by value in the top Via of the request is equal to the one in the request that
 * created the transaction, and 3. the method of the request matches the one that created the
 * transaction, except for ACK, where the method of the request that created the transaction is
 * INVITE."
 *
 * Without the magic cookie (RFC 2543 peers): "the INVITE request matches a transaction if the
 * Request-URI, To tag, From tag, Call-ID, CSeq, and top Via header field match those of the INVITE
 * request which created the transaction." The To tag is left out of the key so that the ACK
 * (which has the response's To tag) finds the INVITE; `ServerInviteTransaction.acceptsAck`
 * checks that tag. The `received`/`rport` we stamp are left out of the Via compared.
 *
 * `asMethod` looks up the transaction of another method with the same identity (a CANCEL looks
 * for its INVITE, §9.2).
 */
export function serverKey(req: SipRequest, asMethod?: string): string {
  const via = req.topVia;
  const method = asMethod ?? (req.method === 'ACK' ? 'INVITE' : req.method);
  const branch = viaBranch(via);
  if (branch !== null && branch.startsWith(MAGIC_COOKIE)) return `${branch}\n${sentByKey(via)}\n${method}`;
  const bare = formatVia({ ...via, params: withoutParam(withoutParam(via.params, 'received'), 'rport') });
  return ['2543', req.uri, req.fromTag ?? '', req.callId, req.cseq.seq, bare.toLowerCase(), method].join('\n');
}

/**
 * §17.1.3, client side: "1. If the response has the same value of the branch parameter in the
 * top Via header field as the branch parameter in the top Via header field of the request that
 * created the transaction. 2. If the method parameter in the CSeq header field matches the method
 * of the request that created the transaction."
 */
export function clientKeyOfResponse(res: SipResponse): string {
  return `${viaBranch(res.topVia) ?? ''}\n${res.cseq.method}`;
}

/** The client key of a request we send (its top Via carries our branch). */
export function clientKeyOfRequest(req: SipRequest): string {
  return `${viaBranch(req.topVia) ?? ''}\n${req.method}`;
}
