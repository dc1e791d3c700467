/**
 * A value or a promise of it. Hot paths (a health check, a small request) stay synchronous when
 * every step is, and pay for promises only when a step really waits.
 */
export type Maybe<T> = T | Promise<T>;

/** Applies `fn` now when `v` is a value, after it resolves when it is a promise. */
export function then<T, U>(v: Maybe<T>, fn: (x: T) => Maybe<U>): Maybe<U> {
  return v instanceof Promise ? v.then(fn) : fn(v);
}
