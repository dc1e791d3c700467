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
 *
 * The Call-ID and CSeq number are part of the RFC 3261 key too. A retransmission, the ACK of a
 * non-2xx and a CANCEL all carry the request's own (§8.1.1.4, §8.1.1.5, §9.1, §17.1.1.3), so no
 * match the RFC makes is lost; a request that reuses another's branch for another call (a peer's
 * mistake: the branch "MUST be unique across space and time", §8.1.1.7, and RFC 4475's §3.3.12
 * and §3.3.13 messages share one) is then a request of its own, answered on its own, not taken
 * for a retransmission and answered with the other call's response.
 */
export function serverKey(req: SipRequest, asMethod?: string): string {
  const via = req.topVia;
  const method = asMethod ?? (req.method === 'ACK' ? 'INVITE' : req.method);
  const branch = viaBranch(via);
  if (branch !== null && branch.startsWith(MAGIC_COOKIE)) return [branch, sentByKey(via), method, req.callId, req.cseq.seq].join('\n');
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
