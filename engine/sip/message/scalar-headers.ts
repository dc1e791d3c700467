/**
 * Headers whose value is a number, or a number and a token: CSeq (§20.16), Max-Forwards
 * (§20.22), Content-Length (§20.14), Expires (§20.19).
 */
import { badValue } from './errors.js';
import { isToken, parseDigits, trimLws } from './lexer.js';

export interface CSeq {
  seq: number;
  method: string;
}

/** §8.1.1.5: "The sequence number value MUST be expressible as a 32-bit unsigned integer and MUST be less than 2**31." */
const MAX_CSEQ = 2 ** 31 - 1;

/** Parses `1 INVITE` (white space may be folded; leading zeros are allowed, RFC 4475 §3.1.1.1). */
export function parseCSeq(text: string): CSeq {
  const m = /^([0-9]+)[ \t]+([^ \t]+)$/.exec(trimLws(text));
  if (!m) throw badValue('CSeq', `bad value "${text.slice(0, 40)}"`);
  const seq = parseDigits(m[1]!);
  // RFC 4475 §3.1.2.4: a CSeq beyond the range is an error worth a 400.
  if (!(seq <= MAX_CSEQ)) throw badValue('CSeq', 'sequence number out of range (must be < 2^31)');
  if (!isToken(m[2]!)) throw badValue('CSeq', 'bad method');
  return { seq, method: m[2]! };
}

/** Max-Forwards: 0-255 (§20.22, the range RFC 4475 §3.1.2.4 expects to be enforced). */
export function parseMaxForwards(text: string): number {
  const n = parseDigits(trimLws(text));
  if (!(n <= 255)) throw badValue('Max-Forwards', `bad value "${text.slice(0, 20)}" (0-255)`);
  return n;
}

/** Content-Length: digits only, so a negative value is an error (RFC 4475 §3.1.2.3). */
export function parseContentLength(text: string): number {
  const n = parseDigits(trimLws(text));
  if (Number.isNaN(n)) throw badValue('Content-Length', `bad value "${text.slice(0, 20)}"`);
  return n;
}
