/**
 * What drachtio-server does to the headers an app writes before they go on the wire. It parses
 * them with sofia-sip and writes them back, so names come out canonical (`subject` -> `Subject`)
 * and name-addr headers come out with their URI in angle brackets (trace 06: the app gave no To,
 * the server wrote the Request-URI `sip:service@127.0.0.1:5092` as `To: <sip:service@...>`). A
 * From whose host is `localhost` (drachtio-srf writes `sip:<callingNumber>@localhost`) gets the
 * server's own address instead.
 */
import { Headers } from '../message/headers.js';
import type { SipMessage } from '../message/message.js';
import { formatNameAddr, parseNameAddr } from '../message/name-addr.js';

/** Single-valued name-addr headers sofia re-encodes (§20.10, §20.20, §20.39). */
const NAME_ADDR = new Set(['from', 'to', 'contact']);

/**
 * An app's header lines as sofia writes them: canonical names, and From/To/Contact in name-addr
 * form. A value that does not parse as one name-addr (`Contact: *`, a list) is kept as written.
 */
export function appHeaders(headers: Headers): Headers {
  const out = new Headers();
  for (const f of headers.fields()) out.append(f.name, NAME_ADDR.has(f.key) ? asNameAddr(f.value) : f.value);
  return out;
}

/** Replaces `localhost` in the From of an app's out-of-dialog request by `hostport`. */
export function localFrom(msg: SipMessage, host: string, port: number): void {
  const from = msg.headers.get('From');
  if (from === undefined) return;
  const na = parseNameAddr(from, 'From');
  if (na.uri.kind !== 'sip' || na.uri.host.toLowerCase() !== 'localhost') return;
  msg.headers.set('From', formatNameAddr({ ...na, uri: { ...na.uri, host, port } }));
}

function asNameAddr(value: string): string {
  try {
    return formatNameAddr(parseNameAddr(value));
  } catch {
    return value;
  }
}
