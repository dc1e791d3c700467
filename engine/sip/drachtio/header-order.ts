/**
 * The order drachtio-server writes the headers of messages it builds for an app (the app's
 * responses and requests). drachtio-server is built on sofia-sip, which lays a message out in the
 * order of its `sip_t` structure, whatever order the app wrote: known headers first in that
 * order, then Content-Length, then headers sofia does not know (`X-...`) in the app's order.
 * Recorded in shared/reference/drachtio-traces: 06 (`X-Test` after Content-Length), 07
 * (Proxy-Authorization after Contact, before Content-Type), 09 (Contact, Expires), 10 (the app
 * wrote `allow`, `accept`; the wire has Accept, Allow), 11 (Refer-To, Referred-By after Contact).
 */
import { Headers } from '../message/headers.js';
import type { SipMessage } from '../message/message.js';

/** sofia-sip's `sip_t` header order (lower-case long names). */
const SOFIA_ORDER = [
  'via', 'route', 'record-route', 'max-forwards', 'proxy-require',
  'from', 'to', 'call-id', 'cseq', 'contact', 'rseq', 'rack',
  'request-disposition', 'accept-contact', 'reject-contact',
  'expires', 'date', 'retry-after', 'timestamp', 'min-expires',
  'subject', 'priority', 'call-info', 'organization', 'server', 'user-agent', 'in-reply-to',
  'accept', 'accept-encoding', 'accept-language',
  'allow', 'require', 'supported', 'unsupported',
  'event', 'allow-events', 'subscription-state',
  'proxy-authenticate', 'proxy-authentication-info', 'proxy-authorization',
  'authorization', 'www-authenticate', 'authentication-info',
  'error-info', 'warning',
  'refer-to', 'referred-by', 'replaces',
  'session-expires', 'min-se',
  'path', 'service-route', 'reason',
  'security-client', 'security-server', 'security-verify', 'privacy',
  'sip-etag', 'sip-if-match',
  'mime-version', 'content-type', 'content-encoding', 'content-language', 'content-disposition',
  'content-length',
];
const RANK = new Map(SOFIA_ORDER.map((k, i) => [k, i]));

/**
 * Re-orders `msg`'s headers as sofia-sip writes them. The sort is stable: lines of one header
 * keep their order (Via, Route), and so do unknown headers among themselves. A message without a
 * Content-Length line gets one here, so that unknown headers land after it as on the wire.
 */
export function sofiaOrder(msg: SipMessage): void {
  const fields = [...msg.headers.fields()];
  if (!fields.some((f) => f.key === 'content-length')) fields.push(...Headers.of([['Content-Length', String(msg.body.length)]]).fields());
  const rank = (key: string) => RANK.get(key) ?? SOFIA_ORDER.length;
  const sorted = fields.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f.key) - rank(b.f.key) || a.i - b.i);
  msg.headers = new Headers(sorted.map((x) => x.f));
}
