/** Benchmark arguments. */

/** `key=value` arguments; anything else is an error naming it. */
export function keyValues(args: string[]): Record<string, string | undefined> {
  const o: Record<string, string> = {};
  for (const a of args) {
    const i = a.indexOf('=');
    if (i < 1) throw new Error(`expected key=value, got "${a}"`);
    o[a.slice(0, i)] = a.slice(i + 1);
  }
  return o;
}
