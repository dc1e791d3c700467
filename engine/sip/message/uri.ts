/**
 * URIs (RFC 3261 §19.1, §25.1): SIP and SIPS URIs are parsed into parts; any other scheme
 * (tel:, http:, urn:...) is kept as opaque text, which RFC 4475 §3.3.2-§3.3.4 requires to parse.
 * Escaped characters (%XX) are kept as written; `unescape` decodes them for comparisons.
 */
import net from 'node:net';
import { SipParseError } from './errors.js';
import { getParam, type Param } from './params.js';

/** A sip: or sips: URI. `host` keeps IPv6 brackets; `port` is null when not written. */
export interface SipUri {
  readonly kind: 'sip';
  scheme: 'sip' | 'sips';
  user: string | null;
  password: string | null;
  host: string;
  port: number | null;
  params: Param[];
  /** The `?h=v&...` part without the `?`, as written. */
  headers: string | null;
}

/** A URI of another scheme, kept as written. */
export interface AbsoluteUri {
  readonly kind: 'absolute';
  scheme: string;
  rest: string;
}

export type Uri = SipUri | AbsoluteUri;

const ESC = '%[0-9A-Fa-f]{2}';
const UNRESERVED = "A-Za-z0-9\\-_.!~*'()";
const USER = new RegExp(`^(?:[${UNRESERVED}&=+$,;?/]|${ESC})+$`);
const PASSWORD = new RegExp(`^(?:[${UNRESERVED}&=+$,]|${ESC})*$`);
const PARAMCHARS = new RegExp(`^(?:[${UNRESERVED}[\\]/:&+$]|${ESC})+$`);
const HEADERS = new RegExp(`^(?:[${UNRESERVED}[\\]/?:+$=&]|${ESC})*$`);
const HOSTNAME = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?$/;
const SCHEME = /^([A-Za-z][A-Za-z0-9+\-.]*):/;
/** Opaque URI text: not empty; no white space, angle brackets, quotes or control characters. */
function isOpaque(s: string): boolean {
  if (s === '') return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c === 0x22 || c === 0x3c || c === 0x3e) return false;
  }
  return true;
}

function bad(text: string, why: string): SipParseError {
  return new SipParseError('bad-uri', `bad URI "${text.slice(0, 80)}": ${why}`);
}

/** Parses any URI. Throws `SipParseError('bad-uri')` with the reason. */
export function parseUri(text: string): Uri {
  const m = SCHEME.exec(text);
  if (!m) throw bad(text, 'no scheme');
  const scheme = m[1]!.toLowerCase();
  const rest = text.slice(m[0].length);
  if (scheme === 'sip' || scheme === 'sips') return parseSipParts(text, scheme, rest);
  if (!isOpaque(rest)) throw bad(text, 'characters not allowed in a URI');
  return { kind: 'absolute', scheme: m[1]!, rest };
}

/** Parses a URI that must be sip: or sips:. */
export function parseSipUri(text: string): SipUri {
  const u = parseUri(text);
  if (u.kind !== 'sip') throw bad(text, 'not a sip or sips URI');
  return u;
}

function parseSipParts(text: string, scheme: 'sip' | 'sips', rest: string): SipUri {
  let user: string | null = null;
  let password: string | null = null;
  // The user part may hold ";" and "?" (user-unreserved), the rest may not hold "@" (§25.1).
  const at = rest.indexOf('@');
  let hostPart = rest;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    hostPart = rest.slice(at + 1);
    const colon = userinfo.indexOf(':');
    user = colon < 0 ? userinfo : userinfo.slice(0, colon);
    password = colon < 0 ? null : userinfo.slice(colon + 1);
    if (!USER.test(user)) throw bad(text, 'bad user part');
    if (password !== null && !PASSWORD.test(password)) throw bad(text, 'bad password');
  }
  let headers: string | null = null;
  const q = hostPart.indexOf('?');
  if (q >= 0) {
    headers = hostPart.slice(q + 1);
    hostPart = hostPart.slice(0, q);
    if (!HEADERS.test(headers)) throw bad(text, 'bad headers part');
  }
  const semi = hostPart.indexOf(';');
  const hostport = semi < 0 ? hostPart : hostPart.slice(0, semi);
  const params = semi < 0 ? [] : parseUriParams(text, hostPart.slice(semi + 1));
  const { host, port } = parseHostPort(text, hostport);
  return { kind: 'sip', scheme, user, password, host, port, params, headers };
}

function parseUriParams(text: string, s: string): Param[] {
  return s.split(';').map((p) => {
    const eq = p.indexOf('=');
    const name = eq < 0 ? p : p.slice(0, eq);
    const value = eq < 0 ? null : p.slice(eq + 1);
    if (!PARAMCHARS.test(name)) throw bad(text, name === '' ? 'empty parameter' : `bad parameter "${name}"`);
    if (value !== null && !PARAMCHARS.test(value)) throw bad(text, `bad value of parameter "${name}"`);
    return { name, value };
  });
}

/** Splits `host[:port]` (host may be `[IPv6]`) and checks both. Used by Via too. */
export function parseHostPort(text: string, hostport: string): { host: string; port: number | null } {
  let host: string;
  let portText: string | null = null;
  if (hostport.startsWith('[')) {
    const end = hostport.indexOf(']');
    if (end < 0 || !net.isIPv6(hostport.slice(1, end))) throw bad(text, 'bad IPv6 reference');
    host = hostport.slice(0, end + 1);
    const after = hostport.slice(end + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw bad(text, 'junk after IPv6 reference');
      portText = after.slice(1);
    }
  } else {
    const colon = hostport.indexOf(':');
    host = colon < 0 ? hostport : hostport.slice(0, colon);
    portText = colon < 0 ? null : hostport.slice(colon + 1);
    if (!HOSTNAME.test(host)) throw bad(text, host === '' ? 'no host' : `bad host "${host.slice(0, 40)}"`);
  }
  let port: number | null = null;
  if (portText !== null) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) throw bad(text, 'bad port');
    port = Number(portText);
  }
  return { host, port };
}

/** The URI as text. */
export function formatUri(u: Uri): string {
  if (u.kind === 'absolute') return `${u.scheme}:${u.rest}`;
  let s = `${u.scheme}:`;
  if (u.user !== null) s += u.password !== null ? `${u.user}:${u.password}@` : `${u.user}@`;
  s += u.host;
  if (u.port !== null) s += `:${u.port}`;
  for (const p of u.params) s += p.value === null ? `;${p.name}` : `;${p.name}=${p.value}`;
  if (u.headers !== null) s += `?${u.headers}`;
  return s;
}

/** Decodes %XX escapes (for comparisons, §19.1.4). Invalid escapes stay as they are. */
export function unescape(s: string): string {
  return s.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** The host without IPv6 brackets, as sockets want it. */
export function hostAddress(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** The value of a URI parameter (null for a flag, undefined when absent). */
export function uriParam(u: SipUri, name: string): string | null | undefined {
  return getParam(u.params, name);
}

/** Parameters that must match when present in either URI (§19.1.4). */
const MUST_MATCH = ['user', 'ttl', 'method', 'maddr', 'transport'];

/** URI equality per §19.1.4 (sip/sips); other schemes compare case-insensitively as text. */
export function uriEquals(a: Uri, b: Uri): boolean {
  if (a.kind !== 'sip' || b.kind !== 'sip') {
    return a.kind === b.kind && formatUri(a).toLowerCase() === formatUri(b).toLowerCase();
  }
  if (a.scheme !== b.scheme || a.port !== b.port) return false;
  if (a.host.toLowerCase() !== b.host.toLowerCase()) return false;
  if (unescape(a.user ?? '') !== unescape(b.user ?? '') || unescape(a.password ?? '') !== unescape(b.password ?? '')) return false;
  const norm = (v: string | null | undefined) => (v == null ? v : unescape(v).toLowerCase());
  for (const p of a.params) {
    const other = uriParam(b, p.name);
    const must = MUST_MATCH.includes(p.name.toLowerCase());
    if (other === undefined ? must : norm(other) !== norm(p.value)) return false;
  }
  for (const p of b.params) {
    if (MUST_MATCH.includes(p.name.toLowerCase()) && uriParam(a, p.name) === undefined) return false;
  }
  return (a.headers ?? '') === (b.headers ?? '');
}
