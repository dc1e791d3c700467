/**
 * fast-check arbitraries read from the OpenAPI document the engine serves: its operations, and
 * for each a request body valid per its JSON Schema (then mutated, or replaced by hostile JSON and
 * bytes), path parameters and query strings, good and malformed. New operations are covered
 * because the document is read at run time, not listed here.
 */
import fc from 'fast-check';

/** A JSON Schema node of the document (the subset zod emits). */
type Schema = Record<string, unknown>;
export type OpenApiDoc = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Schema> } };

export interface Operation {
  operationId: string;
  responses: Record<string, unknown>;
  parameters?: { name: string; in: string; schema?: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
}

export interface Op {
  method: string;
  path: string;
  id: string;
  /** Documented response statuses. */
  statuses: Set<number>;
  pathParams: string[];
  queryParams: { name: string; schema: Schema }[];
  body: Schema | undefined;
}

export function operations(doc: OpenApiDoc): Op[] {
  const out: Op[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      out.push({
        method: method.toUpperCase(),
        path,
        id: op.operationId,
        statuses: new Set(Object.keys(op.responses).map(Number)),
        pathParams: [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!),
        queryParams: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema ?? {} })),
        body: op.requestBody?.content['application/json']?.schema,
      });
    }
  }
  return out;
}

/** Where generated URLs point: a loopback address nothing listens on (tests send nowhere else). */
const LOOPBACK_URL = 'http://127.0.0.1:9/fuzz';

/**
 * Values valid per `schema` (as far as JSON Schema says: zod refinements the document cannot
 * express, such as cross-field rules, may still refuse them). `depth` bounds recursive schemas.
 */
export function fromSchema(doc: OpenApiDoc, schema: Schema, depth = 0, minimal = false): fc.Arbitrary<unknown> {
  const sub = (s: Schema, d: number) => fromSchema(doc, s, d, minimal);
  if (typeof schema.$ref === 'string') return sub(doc.components.schemas[schema.$ref.split('/').pop()!]!, depth + 1);
  if (Array.isArray(schema.allOf)) return sub(mergeAll(schema), depth);
  const alts = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (alts) return withNull(schema, fc.oneof(...alts.map((a) => sub(a, depth + 1))));
  if (Array.isArray(schema.enum)) return withNull(schema, fc.constantFrom(...(schema.enum as unknown[])));
  if ('const' in schema) return fc.constant(schema.const);
  const type = Array.isArray(schema.type) ? (schema.type as string[])[0] : (schema.type as string | undefined);
  switch (type) {
    case 'string':
      return withNull(schema, stringArb(schema));
    case 'integer':
      return withNull(schema, fc.integer({ min: bound(schema.minimum, -1e6), max: bound(schema.maximum, 1e6) }));
    case 'number':
      return withNull(schema, fc.double({ min: bound(schema.minimum, -1e6), max: bound(schema.maximum, 1e6), noNaN: true }));
    case 'boolean':
      return withNull(schema, fc.boolean());
    case 'null':
      return fc.constant(null);
    case 'array': {
      if (depth > 6) return fc.constant([]);
      const items = sub((schema.items as Schema) ?? {}, depth + 1);
      const minLength = (schema.minItems as number) ?? 0;
      return withNull(schema, fc.array(items, { minLength, maxLength: Math.max(minLength, Math.min((schema.maxItems as number) ?? 3, 3)) }));
    }
    case 'object':
      return withNull(schema, objectArb(doc, schema, depth, minimal));
    default:
      // Any JSON: where hostile JSON gets past zod. The slot is filled in by `bodyBytes`.
      return fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(ANY_SLOT));
  }
}

function objectArb(doc: OpenApiDoc, schema: Schema, depth: number, minimal: boolean): fc.Arbitrary<unknown> {
  const props = (schema.properties ?? {}) as Record<string, Schema>;
  const required = (schema.required ?? []) as string[];
  // Deep in a recursive schema, only what is required.
  const names = depth > 6 || minimal ? required : Object.keys(props);
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const n of names) model[n] = fromSchema(doc, props[n] ?? {}, depth + 1, minimal);
  const rec = fc.record(model, { requiredKeys: required.filter((n) => n in model) });
  const extra = schema.additionalProperties;
  if (!Object.keys(props).length && extra && typeof extra === 'object' && depth <= 6) {
    return fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), fromSchema(doc, extra as Schema, depth + 1, minimal), { maxKeys: 3 });
  }
  return rec;
}

function stringArb(s: Schema): fc.Arbitrary<string> {
  if (s.format === 'uri') return fc.constant(LOOPBACK_URL);
  if (s.format === 'email') return fc.nat(1e9).map((n) => `fuzz${n}@example.test`);
  if (s.format === 'date-time') return fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString());
  if (s.format === 'uuid') return fc.uuid();
  if (typeof s.pattern === 'string') {
    try {
      const re = new RegExp(s.pattern);
      return fc.stringMatching(re).filter((v) => v.length <= ((s.maxLength as number) ?? 1e4));
    } catch {
      // A pattern fast-check cannot read: plain strings (they may not match).
    }
  }
  const minLength = (s.minLength as number) ?? 0;
  return fc.string({ minLength, maxLength: Math.max(minLength, Math.min((s.maxLength as number) ?? 24, 24)) });
}

const bound = (v: unknown, fallback: number) => (typeof v === 'number' ? Math.max(Math.min(v, 1e9), -1e9) : fallback);

const withNull = <T>(s: Schema, a: fc.Arbitrary<T>): fc.Arbitrary<T | null> => (s.nullable ? fc.option(a, { nil: null, freq: 5 }) : a);

/** `allOf` as zod emits it: one schema wrapped with a description, or objects to merge. */
function mergeAll(s: Schema): Schema {
  const { allOf, ...rest } = s;
  const parts = allOf as Schema[];
  if (parts.length === 1) return { ...parts[0], ...rest, allOf: undefined } as Schema;
  const merged: Schema = { type: 'object', properties: {}, required: [] };
  for (const p of parts) {
    Object.assign(merged.properties as Schema, p.properties ?? {});
    (merged.required as string[]).push(...((p.required as string[]) ?? []));
  }
  return merged;
}

/** A change that makes a valid value (probably) invalid: a key removed, added or given a wrong value. */
export const mutated = (valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.tuple(valid, fc.nat(), fc.constantFrom('drop', 'add', 'retype', 'proto'), fc.jsonValue({ maxDepth: 2 })).map(([v, pick, how, junk]) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return junk;
    const o = { ...(v as Record<string, unknown>) };
    const keys = Object.keys(o);
    const key = keys.length ? keys[pick % keys.length]! : 'x';
    if (how === 'drop') delete o[key];
    else if (how === 'add') o[`unknown_${pick % 100}`] = junk;
    else if (how === 'retype') o[key] = junk;
    else return JSON.parse(`{"__proto__":{"polluted":true},${JSON.stringify(o).slice(1)}`.replace(',}', '}')) as unknown;
    return o;
  });

/** Marks a place that takes any JSON (see `fromSchema`); a hostile part goes there first. */
export const ANY_SLOT = '\u0000ANY\u0000';
const ANY_SLOT_JSON = JSON.stringify(ANY_SLOT);
const fillSlots = (text: string, first: string) => {
  const i = text.indexOf(ANY_SLOT_JSON);
  return (i < 0 ? text : text.slice(0, i) + first + text.slice(i + ANY_SLOT_JSON.length)).replaceAll(ANY_SLOT_JSON, '{}');
};

/**
 * A body as bytes, from valid to hostile. `examples` are bodies known to be valid (the schema
 * cannot say what a workflow graph must hold), used with the generated ones.
 */
export function bodyBytes(doc: OpenApiDoc, schema: Schema, examples: unknown[] = []): fc.Arbitrary<Body> {
  return bodyKinds(doc, schema, examples).map(printable);
}

function bodyKinds(doc: OpenApiDoc, schema: Schema, examples: unknown[]): fc.Arbitrary<Body> {
  const valid = fc.oneof(fromSchema(doc, schema), fromSchema(doc, schema, 0, true), ...examples.map((e) => fc.constant(e)));
  const json = (kind: string, a: fc.Arbitrary<unknown>) => a.map((v) => ({ kind, bytes: Buffer.from(fillSlots(JSON.stringify(v) ?? 'null', '{}')) }));
  const raw = (kind: string, a: fc.Arbitrary<string | Uint8Array>) => a.map((v) => ({ kind, bytes: Buffer.from(v) }));
  return fc.oneof(
    { arbitrary: json('valid', valid), weight: 4 },
    { arbitrary: json('mutated', mutated(valid)), weight: 4 },
    { arbitrary: json('random-json', fc.jsonValue({ maxDepth: 4 })), weight: 1 },
    { arbitrary: raw('deep', fc.tuple(fc.integer({ min: 65, max: 6000 }), nestOpen).map(([n, open]) => nest(n, open))), weight: 1 },
    { arbitrary: embedded('deep-inside', valid, fc.tuple(fc.integer({ min: 65, max: 6000 }), nestOpen).map(([n, open]) => nest(n, open))), weight: 2 },
    { arbitrary: embedded('wide-inside', valid, fc.integer({ min: 100_001, max: 120_000 }).map((n) => `[${'0,'.repeat(n)}0]`)), weight: 1 },
    { arbitrary: embedded('proto-inside', valid, fc.constantFrom('{"__proto__":{"isAdmin":true}}', '{"constructor":{"prototype":{"isAdmin":true}}}')), weight: 1 },
    { arbitrary: raw('wide', fc.integer({ min: 1000, max: 120_000 }).map((n) => `[${'0,'.repeat(n)}0]`)), weight: 1 },
    { arbitrary: json('valid', valid).chain(({ bytes }) => fc.nat(bytes.length).map((at) => ({ kind: 'bad-utf8', bytes: badUtf8(bytes, at) }))), weight: 1 },
    { arbitrary: json('valid', valid).chain(({ bytes }) => fc.nat(bytes.length).map((at) => ({ kind: 'truncated', bytes: bytes.subarray(0, at) }))), weight: 1 },
    { arbitrary: raw('bytes', fc.uint8Array({ maxLength: 2048 })), weight: 1 },
    { arbitrary: raw('scalar', fc.constantFrom('null', '0', '-1e999', '"x"', '[]', 'true', '{}', '')), weight: 1 },
  );
}

/** Openers of nested JSON: plain arrays and objects, and the shapes recursive schemas descend (JSON Schema). */
const nestOpen = fc.constantFrom('[', '{"a":', '{"type":"object","properties":{"a":', '{"items":', '{"additionalProperties":');
const nest = (n: number, open: string) => open.repeat(n) + '{}' + [...open].filter((c) => c === '{' || c === '[').map((c) => (c === '[' ? ']' : '}')).reverse().join('').repeat(n);

/**
 * A valid body with `inner` (JSON text) put under one of its objects, at any depth: where a
 * field takes any JSON (`z.unknown()`, a JSON Schema), the hostile part reaches the code past zod.
 */
function embedded(kind: string, valid: fc.Arbitrary<unknown>, inner: fc.Arbitrary<string>): fc.Arbitrary<{ kind: string; bytes: Buffer }> {
  return fc.tuple(valid, inner, fc.nat(), fc.boolean()).map(([v, text, pick, replace]) => {
    const objects: Record<string, unknown>[] = [];
    const walk = (x: unknown) => {
      if (x === null || typeof x !== 'object') return;
      if (!Array.isArray(x)) objects.push(x as Record<string, unknown>);
      for (const c of Object.values(x)) walk(c);
    };
    const whole = JSON.stringify(v ?? {});
    if (whole.includes(ANY_SLOT_JSON)) return { kind, bytes: Buffer.from(fillSlots(whole, text)) };
    const copy = JSON.parse(whole) as unknown;
    walk(copy);
    const target = objects.length ? objects[pick % objects.length]! : null;
    if (!target) return { kind, bytes: Buffer.from(text) };
    const keys = Object.keys(target);
    const key = replace && keys.length ? keys[pick % keys.length]! : 'fuzz';
    target[key] = '\u0000HOSTILE\u0000';
    return { kind, bytes: Buffer.from(JSON.stringify(copy).replace('"\\u0000HOSTILE\\u0000"', () => text)) };
  });
}

/** Puts an invalid UTF-8 sequence inside the text at `at`, in a string when there is one. */
function badUtf8(bytes: Buffer, at: number): Buffer {
  const quote = bytes.indexOf('"', at);
  const i = quote >= 0 ? quote + 1 : at;
  return Buffer.concat([bytes.subarray(0, i), Buffer.from([0xc3, 0x28, 0xff, 0xed, 0xa0, 0x80]), bytes.subarray(i)]);
}

/** A body as fast-check prints it in a counterexample: its kind, size and first bytes (not every byte). */
interface Body {
  kind: string;
  bytes: Buffer;
}
const printable = (b: Body): Body =>
  Object.assign(b, { [fc.toStringMethod]: () => `${b.kind}(${b.bytes.length} B): ${JSON.stringify(b.bytes.subarray(0, 160).toString('latin1'))}` });

/** Body kinds no operation may accept (2xx): past the JSON bounds, not UTF-8, or with a prototype key. */
export const hostileKinds = new Set(['bad-utf8', 'deep', 'deep-inside', 'wide-inside', 'proto-inside']);

/** Percent-escapes that are malformed, overlong or not UTF-8. */
export const badEscapes = ['%', '%Z', '%ZZ', '%E0%A4%A', '%C0%AF', '%FF', '%ED%A0%80', '%%', '%0'];

/** A path segment: good, random (escaped or raw), or a malformed escape. */
export function segment(pool: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: pool.length ? fc.constantFrom(...pool) : fc.uuid(), weight: 3 },
    { arbitrary: fc.uuid(), weight: 1 },
    { arbitrary: fc.string({ minLength: 1, maxLength: 40, unit: 'binary' }).map(encodeURIComponent), weight: 2 },
    { arbitrary: fc.constantFrom(...badEscapes).chain((e) => fc.string({ maxLength: 4 }).map((s) => encodeURIComponent(s) + e)), weight: 2 },
    { arbitrary: fc.integer({ min: -5, max: 1e12 }).map(String), weight: 1 },
    { arbitrary: fc.constant('x'.repeat(5000)), weight: 1 },
    // `.` and `..` are resolved by the URL parser before the request leaves: not this operation any more.
  ).filter((s) => s !== '.' && s !== '..' && s !== '%2E' && s !== '%2e' && !/^(%2e|\.){1,2}$/i.test(s));
}

/** A query string from the operation's parameters and others, with values good and malformed. */
export function queryString(doc: OpenApiDoc, params: { name: string; schema: Schema }[]): fc.Arbitrary<string> {
  const names = [...params.map((p) => p.name), 'unknown', '__proto__', 'constructor'];
  const value = (name: string) => {
    const p = params.find((q) => q.name === name);
    return fc.oneof(
      p ? fromSchema(doc, p.schema).map((v) => encodeURIComponent(String(v))) : fc.constant('1'),
      fc.string({ maxLength: 20, unit: 'binary' }).map(encodeURIComponent),
      fc.constantFrom(...badEscapes),
      fc.constantFrom('-1', '0', '1e3', '101', '9'.repeat(30), '', 'null', '2026-13-45T99:00:00Z'),
    );
  };
  const pair = fc.constantFrom(...names).chain((n) => value(n).map((v) => `${n}=${v}`));
  return fc.array(pair, { maxLength: 5 }).map((pairs) => (pairs.length ? `?${pairs.join('&')}` : ''));
}
