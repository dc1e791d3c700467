/**
 * Header parameters: `;name[=value]` lists after a Via, a name-addr and similar values
 * (RFC 3261 §25.1 generic-param). Values are kept as written (a quoted-string keeps its quotes).
 */
import { badValue } from './errors.js';
import { endOfQuoted, isToken, splitTopLevel, trimLws } from './lexer.js';

/** One parameter. `value` is null for a flag such as `;lr` or `;rport`. */
export interface Param {
  name: string;
  value: string | null;
}

/** gen-value = token / host / quoted-string; host may be an IPv6 reference in brackets. */
const GEN_VALUE = /^[A-Za-z0-9\-.!%*_+`'~:[\]]+$/;

/**
 * Parses `;a=1 ; b ;c="x y"`. `text` starts at the first `;` (or is empty). An empty parameter
 * (`;;`) is an error (RFC 4475 §3.1.2.1).
 */
export function parseParams(text: string, header: string): Param[] {
  const t = trimLws(text);
  if (t === '') return [];
  if (t[0] !== ';') throw badValue(header, `unexpected "${t.slice(0, 20)}" before parameters`);
  return splitTopLevel(t.slice(1), ';', header).map((part) => parseParam(part, header));
}

function parseParam(part: string, header: string): Param {
  const eq = part.indexOf('=');
  const name = trimLws(eq < 0 ? part : part.slice(0, eq));
  if (!isToken(name)) throw badValue(header, name === '' ? 'empty parameter' : `bad parameter name "${name}"`);
  if (eq < 0) return { name, value: null };
  const value = trimLws(part.slice(eq + 1));
  if (value.startsWith('"')) {
    if (endOfQuoted(value, 0, header) !== value.length) throw badValue(header, `bad value of parameter "${name}"`);
  } else if (!GEN_VALUE.test(value)) {
    throw badValue(header, `bad value of parameter "${name}"`);
  }
  return { name, value };
}

/** The parameter's value (null for a flag), or undefined when absent. Names compare case-insensitively. */
export function getParam(params: readonly Param[], name: string): string | null | undefined {
  const n = name.toLowerCase();
  return params.find((p) => p.name.toLowerCase() === n)?.value;
}

/** A copy of `params` with `name` set to `value` (added at the end when absent). */
export function withParam(params: readonly Param[], name: string, value: string | null): Param[] {
  const n = name.toLowerCase();
  const i = params.findIndex((p) => p.name.toLowerCase() === n);
  if (i < 0) return [...params, { name, value }];
  return params.map((p, j) => (j === i ? { name: p.name, value } : p));
}

/** A copy of `params` without `name`. */
export function withoutParam(params: readonly Param[], name: string): Param[] {
  const n = name.toLowerCase();
  return params.filter((p) => p.name.toLowerCase() !== n);
}

/** `;a=1;b` */
export function formatParams(params: readonly Param[]): string {
  return params.map((p) => (p.value === null ? `;${p.name}` : `;${p.name}=${p.value}`)).join('');
}
