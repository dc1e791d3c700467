/**
 * Via header values (RFC 3261 §20.42, §25.1):
 *
 *     via-parm = sent-protocol LWS sent-by *( SEMI via-params )
 *     sent-protocol = protocol-name SLASH protocol-version SLASH transport
 *
 * SLASH and SEMI allow white space around them, which RFC 4475 §3.1.1.1 exercises.
 */
import { badValue } from './errors.js';
import { isToken, splitTopLevel, trimLws } from './lexer.js';
import { formatParams, getParam, parseParams, type Param } from './params.js';
import { parseHostPort } from './uri.js';

/** The RFC 3261 magic cookie: a branch starting with it was made by an RFC 3261 element (§8.1.1.7). */
export const MAGIC_COOKIE = 'z9hG4bK';

export interface Via {
  /** `SIP/2.0` */
  protocol: string;
  /** Upper case: UDP, TCP, TLS, SCTP, WS, WSS or any token (RFC 4475 §3.1.1.10). */
  transport: string;
  host: string;
  port: number | null;
  params: Param[];
}

const SENT_PROTOCOL = /^([^\s/]+)[ \t]*\/[ \t]*([^\s/]+)[ \t]*\/[ \t]*([^\s/;]+)[ \t]+/;

/** Parses one via-parm. */
export function parseVia(text: string): Via {
  const s = trimLws(text);
  const m = SENT_PROTOCOL.exec(s);
  if (!m) throw badValue('Via', `bad sent-protocol in "${s.slice(0, 40)}"`);
  const [, name, version, transport] = m as unknown as [string, string, string, string];
  if (!isToken(name) || !isToken(version) || !isToken(transport)) throw badValue('Via', 'bad sent-protocol');
  const rest = s.slice(m[0].length);
  const semi = rest.indexOf(';');
  // sent-by = host [ COLON port ]; COLON allows white space around it.
  const sentBy = (semi < 0 ? rest : rest.slice(0, semi)).replace(/[ \t]*:[ \t]*/, ':').trim();
  let hp;
  try {
    hp = parseHostPort(sentBy, sentBy);
  } catch (e) {
    throw badValue('Via', (e as Error).message);
  }
  const params = parseParams(semi < 0 ? '' : rest.slice(semi), 'Via');
  const branch = getParam(params, 'branch');
  if (branch === null || (branch !== undefined && !isToken(branch))) throw badValue('Via', 'bad branch');
  return { protocol: `${name.toUpperCase()}/${version}`, transport: transport.toUpperCase(), host: hp.host, port: hp.port, params };
}

/** Parses a header value that may hold several via-parms separated by commas. */
export function parseViaList(text: string): Via[] {
  return splitTopLevel(text, ',', 'Via').map(parseVia);
}

/** `SIP/2.0/UDP host:port;params` */
export function formatVia(v: Via): string {
  return `${v.protocol}/${v.transport} ${v.host}${v.port === null ? '' : `:${v.port}`}${formatParams(v.params)}`;
}

/** The branch parameter, or null. */
export function viaBranch(v: Via): string | null {
  return getParam(v.params, 'branch') ?? null;
}

/** Default port of a Via transport: 5061 for TLS (and WSS), 5060 otherwise (§18.2.2, §19.1.2). */
/** True when the Via's branch carries RFC 3261's magic cookie (§8.1.1.7); false for an RFC 2543 peer. */
export function hasRfc3261Branch(v: Via): boolean {
  return viaBranch(v)?.startsWith(MAGIC_COOKIE) ?? false;
}

export function defaultPort(transport: string): number {
  const t = transport.toUpperCase();
  return t === 'TLS' || t === 'WSS' ? 5061 : 5060;
}

/** sent-by as `host:port` (lower-case host, default port filled) for transaction matching (§17.2.3). */
export function sentByKey(v: Via): string {
  return `${v.host.toLowerCase()}:${v.port ?? defaultPort(v.transport)}`;
}
