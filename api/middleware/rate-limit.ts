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
import type { AuthContext } from '../http/route.js';

/** Limits are requests per minute (the reference's unit). */
const WINDOW_MS = 60_000;

/** Callers tracked at once; ~100 bytes each, so ~10 MB at the cap. */
const DEFAULT_MAX_TRACKED = 100_000;

interface Window {
  start: number;
  count: number;
}

interface RateLimiterOptions {
  maxTracked?: number;
  /** Clock, in ms. */
  now?: () => number;
}

/** One request counted against a caller's window (see the file comment). */
interface Verdict {
  allowed: boolean;
  limit: number;
  /** Requests left in the window after this one. */
  remaining: number;
  /** When the window closes, in ms since the epoch. */
  resetMs: number;
  /** Seconds until the window closes (at least 1), for Retry-After. */
  retryAfter: number;
}

/**
 * The windows of every caller, shared by everything a caller does (REST requests and WebSocket
 * frames count against one budget). `tracked` is the number of open windows, for tests of the
 * memory bound.
 */
export class RateLimiter {
  readonly #windows = new Map<string, Window>();
  readonly #maxTracked: number;
  readonly #now: () => number;

  constructor(opts: RateLimiterOptions = {}) {
    this.#maxTracked = opts.maxTracked ?? DEFAULT_MAX_TRACKED;
    this.#now = opts.now ?? Date.now;
  }

  get tracked(): number {
    return this.#windows.size;
  }

  /** Counts one request of `key` against `limit` a minute; a refused one is not counted. */
  take(key: string, limit: number): Verdict {
    const t = this.#now();
    let w = this.#windows.get(key);
    if (!w || t - w.start >= WINDOW_MS) {
      if (w) this.#windows.delete(key);
      w = { start: t, count: 0 };
      this.#windows.set(key, w);
      this.#sweep(t);
    }
    const resetMs = w.start + WINDOW_MS;
    const retryAfter = Math.max(1, Math.ceil((resetMs - t) / 1000));
    if (w.count >= limit) return { allowed: false, limit, remaining: 0, resetMs, retryAfter };
    w.count++;
    return { allowed: true, limit, remaining: limit - w.count, resetMs, retryAfter };
  }

  /** Drops windows that have closed; they sit at the front, oldest first. */
  #sweep(t: number): void {
    for (const [k, w] of this.#windows) {
      if (t - w.start < WINDOW_MS && this.#windows.size <= this.#maxTracked) break;
      this.#windows.delete(k);
    }
  }
}

/** The budget an authenticated caller spends: its API key's, or its user's. */
export function callerKey(auth: AuthContext): string {
  return auth.apiKeyId ? `k:${auth.apiKeyId}` : `u:${auth.userId ?? ''}`;
}

/** The error a refused request answers with (429 over HTTP, an `error` frame over WebSocket). */
export function rateLimitError(v: Verdict, headers?: Record<string, string>): AppError {
  return new AppError('rate_limit_exceeded', `Rate limit of ${v.limit} requests per minute exceeded; retry in ${v.retryAfter} s`, [], headers);
}

interface RateLimitOptions extends RateLimiterOptions {
  /** Requests per minute on `limitByIp` routes, per client address. */
  publicLimit: number;
  /** The windows to count in (shared with the WebSocket); a new one when omitted. */
  limiter?: RateLimiter;
}

/**
 * The rate-limit middleware (see the file comment). `tracked` is the number of callers with an
 * open window, for tests of the memory bound.
 */
export function rateLimit(opts: RateLimitOptions): Middleware & { readonly tracked: number } {
  const limiter = opts.limiter ?? new RateLimiter(opts);
  const mw = ((ctx, next) => {
    let key: string;
    let limit: number;
    if (ctx.auth) {
      key = callerKey(ctx.auth);
      limit = ctx.auth.rateLimit;
    } else if (ctx.route.limitByIp) {
      key = `ip:${ctx.req.ip}`;
      limit = opts.publicLimit;
    } else {
      return next();
    }
    const v = limiter.take(key, limit);
    const h = ctx.responseHeaders;
    h['x-ratelimit-limit'] = String(limit);
    h['x-ratelimit-reset'] = String(Math.ceil(v.resetMs / 1000));
    h['x-ratelimit-remaining'] = String(v.remaining);
    if (!v.allowed) throw rateLimitError(v, { 'retry-after': String(v.retryAfter) });
    return next();
  }) as Middleware & { tracked: number };
  Object.defineProperty(mw, 'tracked', { get: () => limiter.tracked });
  return mw;
}
