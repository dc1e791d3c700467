/**
 * Reading a JSON column through its zod schema without paying for the schema on every read.
 *
 * A row's JSON is parsed with its schema (database rows are an edge), but a list reads the same
 * unchanged text again and again: 20 agents a page, each `agentConfigSchema.parse` costing more
 * than its SQL. So the texts whose schema parse gives back exactly the value the text holds
 * (`JSON.stringify(parsed) === text`: nothing defaulted, transformed, reordered or stripped) are
 * remembered, and for those `JSON.parse` alone yields the same value, key order included. Any
 * other text (changed, hand-written, or one the schema rewrites or refuses) goes through the
 * schema every time, as before.
 */
import type { z } from 'zod';

/**
 * Characters of remembered text before the memory starts over (~8 MB of UTF-16 at most): several
 * thousand typical configs, or a few dozen at the 100,000-character prompt limit.
 */
const MAX_REMEMBERED_CHARS = 4_000_000;

/** A reader of one JSON column: `text -> schema.parse(JSON.parse(text))`, remembered as above. */
export function jsonColumn<S extends z.ZodType>(schema: S): (text: string) => z.infer<S> {
  const verified = new Set<string>();
  let chars = 0;
  return (text) => {
    if (verified.has(text)) return JSON.parse(text) as z.infer<S>;
    const value = schema.parse(JSON.parse(text));
    if (text.length <= MAX_REMEMBERED_CHARS && JSON.stringify(value) === text) {
      if (chars + text.length > MAX_REMEMBERED_CHARS) {
        verified.clear();
        chars = 0;
      }
      verified.add(text);
      chars += text.length;
    }
    return value;
  };
}
