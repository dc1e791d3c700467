/**
 * What drachtio-server does to the headers an app writes before they go on the wire. It hands
 * them to sofia-sip, which parses and writes them back: known names come out canonical
 * (`subject` -> `Subject`), others with a capital after each dash (`x-color` -> `X-Color`), and
 * name-addr headers with their URI in angle brackets (trace 06: the app gave no To, the server
 * wrote the Request-URI `sip:service@127.0.0.1:5092` as `To: <sip:service@...>`). In From, To,
 * Contact and P-Asserted-Identity, a URI `user@localhost` (drachtio-srf writes
 * `sip:<callingNumber>@localhost`) gets the server's own SIP address instead of `localhost`.
 */
import { Headers } from '../message/headers.js';
import { splitTopLevel, trimLws } from '../message/lexer.js';
import { formatNameAddr, parseNameAddr } from '../message/name-addr.js';

/** Credentials and challenges (§20.7, §20.27, §20.28, §20.44): sofia writes their parameters joined by `, `. */
const AUTH = new Set(['authorization', 'proxy-authorization', 'www-authenticate', 'proxy-authenticate']);
/** Single-valued name-addr headers sofia re-encodes (§20.10, §20.20, §20.39). */
const NAME_ADDR = new Set(['from', 'to', 'contact']);
/** Headers whose `@localhost` drachtio-server replaces by its own address. */
const LOCALHOST = new Set(['from', 'to', 'contact', 'p-asserted-identity']);

/** The server's address for the transport the message goes out on. */
interface LocalAddress {
  host: string;
  port: number;
}

/**
 * An app's header lines as drachtio-server writes them. A value that does not parse as one
 * name-addr (`Contact: *`, a list) keeps its form.
 */
export function appHeaders(headers: Headers, local: LocalAddress): Headers {
  const out = new Headers();
  for (const f of headers.fields()) {
    let value = LOCALHOST.has(f.key) ? withLocalHost(f.value, local) : f.value;
    if (NAME_ADDR.has(f.key)) value = asNameAddr(value);
    if (AUTH.has(f.key)) value = authParams(value);
    // `append` writes known headers with their canonical name.
    out.append(capitalizeAfterDash(f.name), value);
  }
  return out;
}

function withLocalHost(value: string, local: LocalAddress): string {
  return value.replace(/@localhost(?::\d+)?(?=[;>?,\s]|$)/i, `@${local.host}:${local.port}`);
}

function asNameAddr(value: string): string {
  try {
    return formatNameAddr(parseNameAddr(value));
  } catch {
    return value;
  }
}

/** `Digest a="1",b=2` -> `Digest a="1", b=2` (trace 07: the app's digest retry as sent). */
function authParams(value: string): string {
  const m = /^(\S+)\s+([\s\S]*)$/.exec(value.trim());
  if (!m) return value;
  try {
    return `${m[1]} ${splitTopLevel(m[2]!, ',', 'Authorization').map(trimLws).join(', ')}`;
  } catch {
    return value;
  }
}

/** `x-color` -> `X-Color`. */
function capitalizeAfterDash(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}
