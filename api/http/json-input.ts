/**
 * JSON read from a client (an HTTP body, a WebSocket text frame), before any schema sees it:
 * UTF-8 only, bounded in depth and in number of values, and with no key that could reach an
 * object's prototype. Every refusal is a `validation_error` whose detail names the rule.
 */
import { isUtf8 } from 'node:buffer';
import { AppError } from './errors.js';

/**
 * Nesting levels allowed (the document itself is level 0). The deepest legitimate input is a
 * tool's JSON Schema `parameters` inside a tool body (each schema level costs two: `properties`,
 * then the property's name), and 64 leaves room for ~30 schema levels. What it guards: every
 * recursive consumer (zod's recursive schemas, the JSON-Schema checker, `JSON.stringify` when a
 * repository stores the value) uses a few stack frames per level and overflows the stack
 * (`RangeError`) in the low thousands, so a bound two orders of magnitude below is safe.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Values allowed in one document (objects, arrays and scalars, each counted once). The largest
 * legitimate body, a workflow graph at its caps, holds a few thousand; a 1 MiB body of `[0,0,…]`
 * holds ~524,000. Past 100,000 nothing legitimate is lost, and the schema pass after this one,
 * whose cost is per value, stays in the low milliseconds.
 */
export const MAX_JSON_NODES = 100_000;

/**
 * Keys refused anywhere in the document: `__proto__` (an own key after `JSON.parse`, but a
 * prototype setter as soon as code copies it with `obj[key] = value`), as fastify's
 * secure-json-parse refuses it by default; and `constructor` holding an object with `prototype`.
 */
const PROTO_KEY = '__proto__';

/**
 * Parses `raw` as JSON from a client: invalid UTF-8 (RFC 8259 §8.1: JSON exchanged between
 * systems MUST be UTF-8), malformed JSON, and documents past the bounds above are
 * `validation_error` with `field` as the detail's field. Never throws anything else.
 */
export function parseClientJson(raw: Buffer, field: string): unknown {
  if (!isUtf8(raw)) throw refuse(field, 'Invalid UTF-8', 'not valid UTF-8 (RFC 8259 requires UTF-8)');
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw refuse(field, 'Malformed JSON', (e as Error).message);
  }
  checkJsonBounds(value, field);
  return value;
}

/**
 * Walks a parsed document without recursion (so it cannot be what overflows) and throws
 * `validation_error` past `MAX_JSON_DEPTH` or `MAX_JSON_NODES`, or on a prototype key.
 */
function checkJsonBounds(value: unknown, field: string): void {
  if (value === null || typeof value !== 'object') return;
  // Containers still to visit, and their depths, side by side (no per-node allocation).
  const stack: object[] = [value];
  const depths: number[] = [0];
  let nodes = 1;
  while (stack.length) {
    const v = stack.pop()!;
    const depth = depths.pop()! + 1;
    if (Array.isArray(v)) {
      nodes += v.length;
      for (let i = 0; i < v.length; i++) visit(v[i], depth);
    } else {
      for (const k in v) {
        const c = (v as Record<string, unknown>)[k];
        if (k === PROTO_KEY || (k === 'constructor' && c !== null && typeof c === 'object' && 'prototype' in c)) {
          throw refuse(field, 'Forbidden key', `the key "${k}" is not accepted`);
        }
        nodes++;
        visit(c, depth);
      }
    }
    if (nodes > MAX_JSON_NODES) {
      throw refuse(field, 'JSON document too large', `more than ${MAX_JSON_NODES} values (limit MAX_JSON_NODES)`);
    }
  }

  function visit(c: unknown, depth: number): void {
    if (c === null || typeof c !== 'object') return;
    if (depth > MAX_JSON_DEPTH) {
      throw refuse(field, 'JSON nested too deeply', `nested more than ${MAX_JSON_DEPTH} levels (limit MAX_JSON_DEPTH)`);
    }
    stack.push(c);
    depths.push(depth);
  }
}

const refuse = (field: string, message: string, detail: string) => new AppError('validation_error', message, [{ field, message: detail }]);
