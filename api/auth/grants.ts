/**
 * A caller cannot hand out more than it has. Creating an API key or a user, or changing a user's
 * role, password or status back to active, grants powers; every one of them must be within the
 * caller's own, compared one by one:
 *
 * | power      | "within the caller's own" means                                                 |
 * |------------|---------------------------------------------------------------------------------|
 * | role       | not stronger (owner > admin > member > viewer): equal is allowed                |
 * | scopes     | every scope granted is granted by the caller's (`hasScope`: `x:y` by `x:y`,     |
 * |            | `x:*` or `*`; `x:*` only by `x:*` or `*`; `*` only by `*`). No scopes (null,    |
 * |            | unrestricted) is the same as `*`: only an unrestricted or `*` caller grants it. |
 * |            | Users have no scopes: they are unrestricted, so only such callers create them   |
 * | rate limit | the effective limit (its own, or the default when null) is not higher           |
 * | mode       | a test caller grants only test; live grants either                              |
 *
 * The refusal is `authorization_error` naming each power that exceeds, with the caller's own.
 */
import { hasScope } from '../http/authorize.js';
import { AppError } from '../http/errors.js';
import { roles, type AuthContext, type Role } from '../http/route.js';
import type { Mode } from '../../engine/store/mode.js';

/** What a new key or user (or a changed user) will be able to do. */
interface Grant {
  role: Role;
  /** null: unrestricted. */
  scopes: readonly string[] | null;
  /** Requests per minute it will get (already resolved: a null limit is the default). */
  rateLimit: number;
  mode: Mode;
}

/** true when `a` is a stronger role than `b` (owner > admin > member > viewer). */
export const stronger = (a: Role, b: Role) => roles.indexOf(a) < roles.indexOf(b);

const UNRESTRICTED = ['*'] as const;

/** The scopes of `wanted` that `granted` does not give (null on either side is `*`). */
export function scopesBeyond(granted: readonly string[] | null, wanted: readonly string[] | null): string[] {
  const have = granted ?? UNRESTRICTED;
  if (wanted === null) return hasScope(have, '*') ? [] : ['unrestricted'];
  return wanted.filter((s) => !hasScope(have, s));
}

const scopeList = (s: readonly string[] | null) => (s === null ? 'unrestricted' : s.length ? s.join(', ') : 'none');

/** What in `grant` exceeds the caller's own, in words; empty when it is all within. */
function excess(caller: AuthContext, grant: Grant): string[] {
  const out: string[] = [];
  if (stronger(grant.role, caller.role)) out.push(`role ${grant.role} (the caller's: ${caller.role})`);
  const scopes = scopesBeyond(caller.scopes, grant.scopes);
  if (scopes.length) out.push(`scopes ${scopes.join(', ')} (the caller's: ${scopeList(caller.scopes)})`);
  if (grant.rateLimit > caller.rateLimit) out.push(`rate limit ${grant.rateLimit}/min (the caller's: ${caller.rateLimit}/min)`);
  if (caller.mode === 'test' && grant.mode !== 'test') out.push(`mode ${grant.mode} (the caller's: test)`);
  return out;
}

/** Throws `authorization_error` when `grant` exceeds the caller's own; `what` is "key" or "user". */
export function assertWithinCaller(caller: AuthContext, grant: Grant, what: 'key' | 'user'): void {
  const over = excess(caller, grant);
  if (over.length) throw new AppError('authorization_error', `The ${what} would exceed the caller's own: ${over.join('; ')}`);
}
