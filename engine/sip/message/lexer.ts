/**
 * Character classes and splitting helpers shared by the header value parsers (RFC 3261 §25.1).
 * Every function works on an already unfolded value (folding turned into a space by the parser).
 */
import { SipParseError } from './errors.js';

/** token chars: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" (§25.1). */
const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

/** True when `s` is a non-empty RFC 3261 token. */
export function isToken(s: string): boolean {
  return TOKEN.test(s);
}

/** Removes linear white space (SP / HTAB) at both ends. */
export function trimLws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s[a] === ' ' || s[a] === '\t')) a++;
  while (b > a && (s[b - 1] === ' ' || s[b - 1] === '\t')) b--;
  return s.slice(a, b);
}

/**
 * Index just past the quoted-string that starts at `s[start]` (a `"`). quoted-pair (`\` + char)
 * is honoured (§25.1). Throws when the quote never closes (RFC 4475 §3.1.2.6).
 */
export function endOfQuoted(s: string, start: number, header = 'header'): number {
  for (let i = start + 1; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '"') return i + 1;
  }
  throw new SipParseError('bad-header-value', `${header}: unterminated quoted string`, header);
}

/**
 * Splits `s` at every `sep` that is outside a quoted string and outside `<...>`. Used for
 * comma-separated header values (§7.3.1) and `;` parameter lists. Parts are not trimmed.
 */
export function splitTopLevel(s: string, sep: ',' | ';', header = 'header'): string[] {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') {
      i = endOfQuoted(s, i, header) - 1;
    } else if (c === '<') {
      depth++;
    } else if (c === '>') {
      if (depth > 0) depth--;
    } else if (c === sep && depth === 0) {
      parts.push(s.slice(from, i));
      from = i + 1;
    }
  }
  if (depth !== 0) throw new SipParseError('bad-header-value', `${header}: unbalanced "<"`, header);
  parts.push(s.slice(from));
  return parts;
}

/** A decimal number made only of digits, or NaN. Values beyond 2^53 become NaN too. */
export function parseDigits(s: string): number {
  if (!/^[0-9]+$/.test(s) || s.length > 15) return Number.NaN;
  return Number(s);
}
