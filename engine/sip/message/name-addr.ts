/**
 * name-addr / addr-spec values with header parameters (RFC 3261 §20.10, §25.1): From, To,
 * Contact, Route, Record-Route, Reply-To, Refer-To and friends.
 *
 *     ["display name"] <uri> *(;param)      or      uri *(;param)
 *
 * §20.10: "if the URI is not enclosed in angle brackets, any semicolon-delimited parameters are
 * header-parameters, not URI parameters", and "the name-addr form MUST be used if the addr-spec
 * contains a comma, semicolon, or question mark".
 */
import { badValue } from './errors.js';
import { endOfQuoted, isToken, trimLws } from './lexer.js';
import { formatParams, getParam, parseParams, withParam, type Param } from './params.js';
import { formatUri, parseUri, type Uri } from './uri.js';

export interface NameAddr {
  /** The display name as written (a quoted-string keeps its quotes), or null. */
  displayName: string | null;
  uri: Uri;
  params: Param[];
}

/** Parses one name-addr or addr-spec with its parameters. `header` names the field in errors. */
export function parseNameAddr(text: string, header = 'header'): NameAddr {
  const s = trimLws(text);
  if (s === '') throw badValue(header, 'empty value');
  let displayName: string | null = null;
  let i = 0;
  if (s[0] === '"') {
    i = endOfQuoted(s, 0, header);
    displayName = s.slice(0, i);
    while (s[i] === ' ' || s[i] === '\t') i++;
    if (s[i] !== '<') throw badValue(header, 'quoted display name not followed by <uri>');
  } else {
    const lt = s.indexOf('<');
    if (lt < 0) return parseAddrSpec(s, header);
    const name = trimLws(s.slice(0, lt));
    // display-name = *(token LWS) / quoted-string (§25.1): a comma here is not allowed (RFC 4475 §3.1.2.15).
    if (name !== '' && !name.split(/[ \t]+/).every(isToken)) throw badValue(header, `bad display name "${name}"`);
    displayName = name === '' ? null : name;
    i = lt;
  }
  const gt = s.indexOf('>', i);
  if (gt < 0) throw badValue(header, 'missing ">"');
  const inner = s.slice(i + 1, gt);
  // LAQUOT addr-spec RAQUOT: no white space around the URI (RFC 4475 §3.1.2.14).
  if (/[ \t]/.test(inner)) throw badValue(header, 'white space inside <>');
  const uri = parseUriIn(inner, header);
  return { displayName, uri, params: parseParams(s.slice(gt + 1), header) };
}

function parseAddrSpec(s: string, header: string): NameAddr {
  const semi = s.indexOf(';');
  const uriText = trimLws(semi < 0 ? s : s.slice(0, semi));
  if (/[ \t,?]/.test(uriText)) throw badValue(header, 'a URI with white space, "," or "?" must be enclosed in <>');
  return { displayName: null, uri: parseUriIn(uriText, header), params: parseParams(semi < 0 ? '' : s.slice(semi), header) };
}

function parseUriIn(text: string, header: string): Uri {
  try {
    return parseUri(text);
  } catch (e) {
    throw badValue(header, (e as Error).message);
  }
}

/** `"Name" <uri>;p=v`. The URI is always written in <> so URI parameters stay URI parameters. */
export function formatNameAddr(na: NameAddr): string {
  const name = na.displayName === null ? '' : `${na.displayName} `;
  return `${name}<${formatUri(na.uri)}>${formatParams(na.params)}`;
}

/** The `tag` parameter (§19.3), or null. */
export function tagOf(na: NameAddr): string | null {
  return getParam(na.params, 'tag') ?? null;
}

/** A copy of `na` with `tag` set. */
export function withTag(na: NameAddr, tag: string): NameAddr {
  return { ...na, params: withParam(na.params, 'tag', tag) };
}
