/** Requests a transaction or a UA builds from an earlier one: ACK for non-2xx, and CANCEL. */
import { Headers } from '../message/headers.js';
import { SipRequest, type SipResponse } from '../message/message.js';

/**
 * §17.1.1.3: "The ACK request constructed by the client transaction MUST contain values for the
 * Call-ID, From, and Request-URI that are equal to the values of those header fields in the
 * request passed to the transport by the client transaction ... The To header field in the ACK
 * MUST equal the To header field in the response being acknowledged ... The ACK MUST contain a
 * single Via header field, and this MUST be equal to the top Via header field of the original
 * request. The CSeq header field in the ACK MUST contain the same value for the sequence number
 * ... but the method parameter MUST be equal to "ACK". If the INVITE request whose response is
 * being acknowledged had Route header fields, those header fields MUST appear in the ACK."
 */
export function ackForNon2xx(invite: SipRequest, res: SipResponse): SipRequest {
  return derived(invite, 'ACK', res.header('To'));
}

/**
 * §9.1: "The Request-URI, Call-ID, To, the numeric part of CSeq, and From header fields in the
 * CANCEL request MUST be identical to those in the request being cancelled, including tags. A
 * CANCEL constructed by a client MUST have only a single Via header field value matching the top
 * Via value in the request being cancelled. ... If the request being cancelled contains a Route
 * header field, the CANCEL request MUST include that Route header field's values."
 * `extra` headers (a Reason, say) are appended.
 */
export function cancelFor(invite: SipRequest, extra: readonly (readonly [string, string])[] = []): SipRequest {
  return derived(invite, 'CANCEL', invite.header('To'), extra);
}

/**
 * What ACK for a non-2xx and CANCEL share: the INVITE's Request-URI, top Via, From, Call-ID, CSeq
 * number and Routes, with their own method and To.
 */
function derived(invite: SipRequest, method: 'ACK' | 'CANCEL', to: string, extra: readonly (readonly [string, string])[] = []): SipRequest {
  const h = new Headers();
  h.append('Via', invite.headers.getList('Via')[0]!);
  h.append('Max-Forwards', '70');
  h.append('From', invite.header('From'));
  h.append('To', to);
  h.append('Call-ID', invite.callId);
  h.append('CSeq', `${invite.cseq.seq} ${method}`);
  for (const r of invite.headers.getAll('Route')) h.append('Route', r);
  for (const [n, v] of extra) h.append(n, v);
  return new SipRequest(method, invite.uri, h);
}
