/**
 * Rate limits, per caller: per API key, per user for JWTs, and per client address on the few
 * public routes that ask for it (`limitByIp`: login, refresh). The limit is the key's own
 * `rate_limit` or the default (100 a minute, the reference's).
 *
 * Algorithm: a fixed one-minute window per caller, opened by the caller's first request (not
 * aligned to the clock minute). Within a window the caller has `limit` requests; request
 * `limit + 1` gets 429 with `Retry-After` until the window closes. Why this one:
 * - the headers mean exactly what they say: `X-RateLimit-Remaining` counts down by one per
 *   request and `X-RateLimit-Reset` is the moment the full allowance comes back;
 * - O(1) time and two numbers of memory per caller (a sliding log needs `limit` timestamps);
 * - windows opened by the caller, not the clock, so clients cannot all burst at :00.
 * The cost is the fixed window's edge: a caller can fit up to 2 x limit requests into a minute that
 * straddles two windows. A sliding-window counter would smooth that, but its Remaining is an
 * estimate that can go up and down; for an API budget the exact countdown is worth more.
 *
 * Memory is bounded: callers are kept in a Map in window-start order (a new window re-inserts),
 * expired windows are dropped from the front as requests arrive, and past `maxTracked` callers
 * the oldest window is evicted (that caller just starts a fresh window). In memory, for one
 * process; several processes would each count separately.
 */
import type { Middleware } from '../http/adapter.js';
import { AppError } from '../http/errors.js';

/** Limits are requests per minute (the reference's unit). */
const WINDOW_MS = 60_000;

/** Callers tracked at once; ~100 bytes each, so ~10 MB at the cap. */
const DEFAULT_MAX_TRACKED = 100_000;

interface Window {
  start: number;
  count: number;
}

export interface RateLimitOptions {
  /** Requests per minute on `limitByIp` routes, per client address. */
  publicLimit: number;
  maxTracked?: number;
  /** Clock, in ms. */
  now?: () => number;
}

/**
 * The rate-limit middleware (see the file comment). `tracked` is the number of callers with an
 * open window, for tests of the memory bound.
 */
export function rateLimit(opts: RateLimitOptions): Middleware & { readonly tracked: number } {
  const windows = new Map<string, Window>();
  const maxTracked = opts.maxTracked ?? DEFAULT_MAX_TRACKED;
  const now = opts.now ?? Date.now;

  /** Drops windows that have closed; they sit at the front, oldest first. */
  const sweep = (t: number) => {
    for (const [k, w] of windows) {
      if (t - w.start < WINDOW_MS && windows.size <= maxTracked) break;
      windows.delete(k);
    }
  };

  const mw = ((ctx, next) => {
    let key: string;
    let limit: number;
    if (ctx.auth) {
      key = ctx.auth.apiKeyId ? `k:${ctx.auth.apiKeyId}` : `u:${ctx.auth.userId ?? ''}`;
      limit = ctx.auth.rateLimit;
    } else if (ctx.route.limitByIp) {
      key = `ip:${ctx.req.ip}`;
      limit = opts.publicLimit;
    } else {
      return next();
    }
    const t = now();
    let w = windows.get(key);
    if (!w || t - w.start >= WINDOW_MS) {
      if (w) windows.delete(key);
      w = { start: t, count: 0 };
      windows.set(key, w);
      sweep(t);
    }
    const resetMs = w.start + WINDOW_MS;
    const h = ctx.responseHeaders;
    h['x-ratelimit-limit'] = String(limit);
    h['x-ratelimit-reset'] = String(Math.ceil(resetMs / 1000));
    if (w.count >= limit) {
      h['x-ratelimit-remaining'] = '0';
      const retryAfter = Math.max(1, Math.ceil((resetMs - t) / 1000));
      throw new AppError('rate_limit_exceeded', `Rate limit of ${limit} requests per minute exceeded; retry in ${retryAfter} s`, [], {
        'retry-after': String(retryAfter),
      });
    }
    w.count++;
    h['x-ratelimit-remaining'] = String(limit - w.count);
    return next();
  }) as Middleware & { tracked: number };
  Object.defineProperty(mw, 'tracked', { get: () => windows.size });
  return mw;
}
