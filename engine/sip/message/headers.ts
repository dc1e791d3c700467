/**
 * The header section of a message: an ordered list of fields, kept as text. Unknown headers and
 * untouched known ones keep their received line (`raw`), so a message passed on is re-emitted
 * faithfully; a field set through this API is written `Canonical-Name: value`.
 */
import { canonicalName, headerKey, isListHeader } from './header-names.js';
import { splitTopLevel, trimLws } from './lexer.js';

/** One header line. `value` is unfolded and trimmed; `raw` is the line as received, if any. */
export interface HeaderField {
  readonly name: string;
  readonly key: string;
  readonly value: string;
  /** The received line without its final CRLF (folding kept). Absent once the field is changed. */
  readonly raw?: string;
}

function field(name: string, value: string, raw?: string): HeaderField {
  return raw === undefined ? { name, key: headerKey(name), value } : { name, key: headerKey(name), value, raw };
}

export class Headers {
  #fields: HeaderField[];
  #version = 0;

  constructor(fields: readonly HeaderField[] = []) {
    this.#fields = [...fields];
  }

  /** Headers from `[name, value]` pairs, in order. */
  static of(pairs: readonly (readonly [string, string])[]): Headers {
    return new Headers(pairs.map(([n, v]) => field(n, v)));
  }

  /** A received field: `raw` is kept so the line can be re-emitted unchanged. */
  static received(name: string, value: string, raw: string): HeaderField {
    return field(name, value, raw);
  }

  /** Changes with every edit: what a message's parsed headers are remembered against. */
  get version(): number {
    return this.#version;
  }

  get size(): number {
    return this.#fields.length;
  }

  /** Every field in order. */
  fields(): readonly HeaderField[] {
    return this.#fields;
  }

  // has, get, getAll and count run for nearly every header read of every message: plain loops,
  // no closure or intermediate array per call.
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** The value of the first field called `name` (any spelling, compact or long). */
  get(name: string): string | undefined {
    const key = headerKey(name);
    for (const f of this.#fields) if (f.key === key) return f.value;
    return undefined;
  }

  /** The values of every field called `name`, one per line, not split. */
  getAll(name: string): string[] {
    const key = headerKey(name);
    const values: string[] = [];
    for (const f of this.#fields) if (f.key === key) values.push(f.value);
    return values;
  }

  /**
   * Every value of a list header across all its lines, split at top-level commas (§7.3.1:
   * "Via: a, b" equals two Via lines). Non-list headers are returned one value per line.
   */
  getList(name: string): string[] {
    const values = this.getAll(name);
    if (!isListHeader(name)) return values;
    return values.flatMap((v) => splitTopLevel(v, ',', canonicalName(name)).map(trimLws));
  }

  /** Number of lines called `name`. */
  count(name: string): number {
    const key = headerKey(name);
    let n = 0;
    for (const f of this.#fields) if (f.key === key) n++;
    return n;
  }

  /** Replaces every `name` line with one line holding `value`, at the first one's place. */
  set(name: string, value: string): this {
    this.#version++;
    const key = headerKey(name);
    const at = this.#fields.findIndex((f) => f.key === key);
    if (at < 0) return this.append(name, value);
    this.#fields = this.#fields.filter((f, i) => i === at || f.key !== key);
    this.#fields[at] = field(canonicalName(name), value);
    return this;
  }

  /** Adds a line at the end. */
  append(name: string, value: string): this {
    this.#version++;
    this.#fields.push(field(canonicalName(name), value));
    return this;
  }

  /** Adds a line before every other line of the same header, or at the top if there is none. */
  prepend(name: string, value: string): this {
    this.#version++;
    const key = headerKey(name);
    const at = this.#fields.findIndex((f) => f.key === key);
    this.#fields.splice(at < 0 ? 0 : at, 0, field(canonicalName(name), value));
    return this;
  }

  /** Adds a line right after the last line of `after` (or at the end when there is none). */
  insertAfter(after: string, name: string, value: string): this {
    this.#version++;
    const key = headerKey(after);
    let at = -1;
    this.#fields.forEach((f, i) => (f.key === key ? (at = i) : undefined));
    this.#fields.splice(at < 0 ? this.#fields.length : at + 1, 0, field(canonicalName(name), value));
    return this;
  }

  /** Removes every line called `name`. */
  delete(name: string): this {
    this.#version++;
    const key = headerKey(name);
    this.#fields = this.#fields.filter((f) => f.key !== key);
    return this;
  }

  /**
   * Replaces the first value of a list header (the top Via, say) with `value`. Only that line is
   * rewritten; the other values on it stay, joined by ", ".
   */
  replaceFirstListValue(name: string, value: string): this {
    this.#version++;
    const key = headerKey(name);
    const at = this.#fields.findIndex((f) => f.key === key);
    if (at < 0) return this.append(name, value);
    const values = splitTopLevel(this.#fields[at]!.value, ',', canonicalName(name)).map(trimLws);
    values[0] = value;
    this.#fields[at] = field(canonicalName(name), values.join(', '));
    return this;
  }

  /** Removes the first value of a list header (popping the top Route, say). */
  removeFirstListValue(name: string): this {
    this.#version++;
    const key = headerKey(name);
    const at = this.#fields.findIndex((f) => f.key === key);
    if (at < 0) return this;
    const values = splitTopLevel(this.#fields[at]!.value, ',', canonicalName(name)).map(trimLws).slice(1);
    if (values.length === 0) this.#fields.splice(at, 1);
    else this.#fields[at] = field(canonicalName(name), values.join(', '));
    return this;
  }

  clone(): Headers {
    return new Headers(this.#fields);
  }
}
