/**
 * The UAC core's part of building a request (RFC 3261 §8.1.1): the headers a request must carry,
 * filled in where the caller left them out. A caller's own headers are kept as they are.
 */
import { newCallId, newTag, initialCSeq } from './ids.js';
import { Headers, type HeaderField } from './message/headers.js';
import type { SipRequest } from './message/message.js';
import { formatNameAddr, parseNameAddr, tagOf, withTag } from './message/name-addr.js';
import type { SipProtocol } from './transport/types.js';

/** Methods whose requests can establish a dialog and so MUST carry a Contact (§8.1.1.8, RFC 6665, RFC 3515). */
const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER']);

/** Our identity on the wire. */
interface LocalAddress {
  /** Host for From and Contact (brackets for IPv6). */
  host: string;
  port: number;
  protocol: SipProtocol;
}

/** `<sip:host:port>`, with `;transport=` for TCP and TLS so the peer comes back the same way. */
export function contactFor(local: LocalAddress): string {
  const transport = local.protocol === 'udp' ? '' : `;transport=${local.protocol}`;
  return `<sip:${local.host}:${local.port}${transport}>`;
}

/**
 * Fills what §8.1.1 requires and the request lacks, in this order at the top: Max-Forwards (70,
 * §8.1.1.6 "SHOULD be 70"), From (our address, with a new tag: §8.1.1.3 "The From field MUST
 * contain a new "tag" parameter"), To (the Request-URI, §8.1.1.2), Call-ID (§8.1.1.4), CSeq
 * (§8.1.1.5), Contact for dialog-creating methods (§8.1.1.8). A From without a tag gets one.
 */
export function completeRequest(req: SipRequest, local: LocalAddress): SipRequest {
  const h = req.headers;
  const add: [string, string][] = [];
  if (!h.has('Max-Forwards')) add.push(['Max-Forwards', '70']);
  if (!h.has('From')) add.push(['From', `<sip:${local.host}:${local.port}>;tag=${newTag()}`]);
  if (!h.has('To')) add.push(['To', `<${req.uri}>`]);
  if (!h.has('Call-ID')) add.push(['Call-ID', newCallId()]);
  if (!h.has('CSeq')) add.push(['CSeq', `${initialCSeq()} ${req.method}`]);
  if (DIALOG_CREATING.has(req.method) && !h.has('Contact')) add.push(['Contact', contactFor(local)]);
  if (add.length > 0) {
    const fields: HeaderField[] = [...Headers.of(add).fields(), ...h.fields()];
    req.headers = new Headers(fields);
  }
  const from = parseNameAddr(req.header('From'), 'From');
  if (tagOf(from) === null) req.headers.set('From', formatNameAddr(withTag(from, newTag())));
  return req;
}
