/**
 * Reading a JSON column through its zod schema without paying for the schema, or for JSON.parse,
 * on every read.
 *
 * A row's JSON is parsed with its schema (database rows are an edge), but a list reads the same
 * unchanged text again and again: 20 agents a page, each `agentConfigSchema.parse` costing more
 * than its SQL. So the values of texts the schema gives back unchanged
 * (`JSON.stringify(parsed) === text`: nothing defaulted, transformed, reordered or stripped) are
 * remembered by their text, and the same text yields the same value without parsing. Any other
 * text (one the schema rewrites or refuses) goes through the schema on every read, as before.
 *
 * Values are deeply frozen, remembered or not, since a remembered one is shared by every reader:
 * change a copy (`{ ...agent.config, ...patch }`).
 */
import type { z } from 'zod';

/**
 * Characters of remembered text before the memory starts over: several thousand typical configs,
 * or a few dozen at the 100,000-character prompt limit (a few MB with their values).
 */
const MAX_REMEMBERED_CHARS = 2_000_000;

/** A reader of one JSON column: `text -> schema.parse(JSON.parse(text))`, frozen and remembered as above. */
export function jsonColumn<S extends z.ZodType>(schema: S): (text: string) => z.infer<S> {
  const known = new Map<string, z.infer<S>>();
  let chars = 0;
  return (text) => {
    const hit = known.get(text);
    if (hit !== undefined) return hit;
    const value = deepFreeze(schema.parse(JSON.parse(text)));
    if (text.length <= MAX_REMEMBERED_CHARS && JSON.stringify(value) === text) {
      if (chars + text.length > MAX_REMEMBERED_CHARS) {
        known.clear();
        chars = 0;
      }
      known.set(text, value);
      chars += text.length;
    }
    return value;
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
