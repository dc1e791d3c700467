/**
 * Tool parameters are JSON Schema. `jsonSchemaSchema` accepts a plausible JSON Schema (the
 * keywords below, well-typed, `required` naming declared properties, bounds in order);
 * `validateJson` checks a value against one. Supported keywords: type (including integer),
 * enum, const, properties, required, additionalProperties, items, minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern, minItems, maxItems.
 * Other keywords (format, $ref, oneOf…) are kept but not enforced.
 */
import { z } from 'zod';

const jsonType = z.enum(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);
type JsonType = z.infer<typeof jsonType>;

export interface JsonSchema {
  type?: JsonType | JsonType[];
  description?: string;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  [keyword: string]: unknown;
}

const count = z.number().int().min(0);

const validPattern = (p: string) => {
  try {
    new RegExp(p, 'u');
    return true;
  } catch {
    return false;
  }
};

/**
 * True when a repeated group contains a repetition (`(a+)+`, `(\w*\s?)*`, `(a+){2,}`): the
 * classic shape of catastrophic backtracking, where V8's backtracking engine takes time
 * exponential in the input's length (26 characters against `^(a+)+$`: over a second, each more
 * doubling it) and blocks the event loop that carries every call. A repetition is `*`, `+`,
 * `{n,}` or `{n,m}` with m > 1; `?`, `{0,1}` and `{1}` are not. Overlapping alternatives under a
 * repetition (`(a|a)*`) are not detected.
 */
function nestedRepetition(pattern: string): boolean {
  const open: boolean[] = []; // per open group: does it contain a repetition?
  let closedGroupRepeats = false; // the token just read is a group that contains a repetition
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      i++;
      closedGroupRepeats = false;
    } else if (c === '[') {
      // A character class: skip to its end (escapes included).
      for (i++; i < pattern.length && pattern[i] !== ']'; i++) if (pattern[i] === '\\') i++;
      closedGroupRepeats = false;
    } else if (c === '(') {
      open.push(false);
      // Group syntax, not quantifiers: (?: (?= (?! (?<= (?<! (?<name>
      const m = /^\?(?::|=|!|<=|<!|<[A-Za-z_$][\w$]*>)/.exec(pattern.slice(i + 1));
      if (m) i += m[0].length;
      closedGroupRepeats = false;
    } else if (c === ')') {
      closedGroupRepeats = open.pop() ?? false;
      if (closedGroupRepeats && open.length) open[open.length - 1] = true;
    } else {
      const q = /^(?:[*+]|\{(\d+)(?:(,)(\d*))?\})/.exec(pattern.slice(i));
      const repeats = q !== null && (q[1] === undefined || (q[2] !== undefined && (q[3] === '' || Number(q[3]) > 1)));
      if (repeats) {
        if (closedGroupRepeats) return true;
        if (open.length) open[open.length - 1] = true;
        i += q[0].length - 1;
      }
      closedGroupRepeats = false;
    }
  }
  return false;
}

export const jsonSchemaSchema: z.ZodType<JsonSchema> = z
  .looseObject({
    type: z
      .union([jsonType, z.array(jsonType).min(1)], {
        error: 'Must be string, number, integer, boolean, object, array or null, or a list of them',
      })
      .optional(),
    description: z.string().max(4000).optional(),
    enum: z.array(z.unknown()).min(1).optional(),
    const: z.unknown().optional(),
    get properties() {
      return z.record(z.string(), jsonSchemaSchema).optional();
    },
    required: z.array(z.string()).optional(),
    get additionalProperties() {
      return z.union([z.boolean(), jsonSchemaSchema]).optional();
    },
    get items() {
      return jsonSchemaSchema.optional();
    },
    minimum: z.number().optional(),
    maximum: z.number().optional(),
    exclusiveMinimum: z.number().optional(),
    exclusiveMaximum: z.number().optional(),
    minLength: count.optional(),
    maxLength: count.optional(),
    pattern: z
      .string()
      .max(1000)
      .refine(validPattern, 'Must be a valid regular expression')
      .refine((p) => !nestedRepetition(p), 'Must not repeat a group that itself repeats (e.g. (a+)+): it can take exponential time')
      .optional(),
    minItems: count.optional(),
    maxItems: count.optional(),
  })
  // Written to tolerate a half-parsed schema, so these problems are reported with the others.
  .superRefine((s, ctx) => {
    const props = s.properties && typeof s.properties === 'object' ? s.properties : {};
    if (Array.isArray(s.required)) {
      s.required.forEach((name, i) => {
        if (typeof name === 'string' && !(name in props)) {
          ctx.addIssue({ code: 'custom', path: ['required', i], message: `"${name}" is not declared in properties` });
        }
      });
    }
    for (const [lo, hi] of [['minimum', 'maximum'], ['minLength', 'maxLength'], ['minItems', 'maxItems']] as const) {
      const a = s[lo];
      const b = s[hi];
      if (typeof a === 'number' && typeof b === 'number' && a > b) ctx.addIssue({ code: 'custom', path: [lo], message: `Greater than ${hi}` });
    }
  })
  .meta({ id: 'JsonSchema', description: 'A JSON Schema (the common keywords are enforced)' });

/** An error found by `validateJson`, at a path inside the value. */
interface JsonIssue {
  path: (string | number)[];
  message: string;
}

const typeOf = (v: unknown): JsonType =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : (typeof v as JsonType);

const typeMatches = (actual: JsonType, wanted: JsonType) => actual === wanted || (wanted === 'number' && actual === 'integer');

/**
 * Levels of a value `validateJson` and `sameJson` descend into. They recurse, a few stack frames
 * a level, and would overflow the stack (`RangeError`) in the thousands; API input is already
 * bounded at 64 levels (`MAX_JSON_DEPTH` in `api/http/json-input.ts`), so this bound is only met
 * by a value built in code, and reported as an issue rather than thrown.
 */
const MAX_VALIDATION_DEPTH = 256;

const own = (o: object | undefined, k: string): boolean => o !== undefined && Object.hasOwn(o, k);

/** Checks `value` against `schema`; [] when it conforms. */
export function validateJson(schema: JsonSchema, value: unknown, path: (string | number)[] = []): JsonIssue[] {
  const issues: JsonIssue[] = [];
  const fail = (message: string) => issues.push({ path, message });
  if (path.length > MAX_VALIDATION_DEPTH) {
    fail(`Nested more than ${MAX_VALIDATION_DEPTH} levels`);
    return issues;
  }
  const actual = typeOf(value);
  if (schema.type !== undefined) {
    const wanted = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!wanted.some((w) => typeMatches(actual, w))) {
      fail(`Expected ${wanted.join(' or ')}, received ${actual === 'integer' ? 'number' : actual}`);
      return issues;
    }
  }
  if (schema.enum && !schema.enum.some((e) => sameJson(e, value))) fail(`Must be one of ${JSON.stringify(schema.enum)}`);
  if ('const' in schema && !sameJson(schema.const, value)) fail(`Must be ${JSON.stringify(schema.const)}`);
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) fail(`Must be at least ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) fail(`Must be at most ${schema.maximum}`);
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) fail(`Must be greater than ${schema.exclusiveMinimum}`);
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) fail(`Must be less than ${schema.exclusiveMaximum}`);
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (schema.minLength !== undefined && length < schema.minLength) fail(`Must be at least ${schema.minLength} characters`);
    if (schema.maxLength !== undefined && length > schema.maxLength) fail(`Must be at most ${schema.maxLength} characters`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) fail(`Must match ${schema.pattern}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) fail(`Must have at least ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) fail(`Must have at most ${schema.maxItems} items`);
    if (schema.items) value.forEach((v, i) => issues.push(...validateJson(schema.items!, v, [...path, i])));
  }
  if (actual === 'object') {
    const obj = value as Record<string, unknown>;
    for (const name of schema.required ?? []) {
      if (!own(obj, name)) issues.push({ path: [...path, name], message: 'Field is required' });
    }
    for (const [k, v] of Object.entries(obj)) {
      // Own keys only: a property named `constructor` or `toString` is not Object.prototype's.
      const prop = own(schema.properties, k) ? schema.properties![k] : undefined;
      if (prop) issues.push(...validateJson(prop, v, [...path, k]));
      else if (schema.additionalProperties === false) issues.push({ path: [...path, k], message: 'Not a declared property' });
      else if (typeof schema.additionalProperties === 'object') issues.push(...validateJson(schema.additionalProperties, v, [...path, k]));
    }
  }
  return issues;
}

/** Deep equality of JSON values (for enum and const). */
function sameJson(a: unknown, b: unknown, depth = 0): boolean {
  if (a === b) return true;
  if (depth > MAX_VALIDATION_DEPTH) return false;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], depth + 1));
}
