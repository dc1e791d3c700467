/**
 * Who is calling: `X-API-Key: as_live_…|as_test_…` (servers) or `Authorization: Bearer <JWT>`
 * (people). Returns the caller's AuthContext, or throws `authentication_error` (who are you?) or
 * `authorization_error` (you may not do this).
 */
import type { Store } from '../../engine/store/store.js';
import { nowIso } from '../../engine/store/ids.js';
import type { Maybe } from '../../lib/maybe.js';
import type { Authenticator } from '../http/adapter.js';
import { AppError } from '../http/errors.js';
import type { AuthContext, AuthRequirement } from '../http/route.js';
import { hashApiKey, keyPattern } from './api-key-secret.js';
import type { AccessClaims, TokenService } from './tokens.js';

/** last_used_at is written at most this often per key: a write per request would cost more than the request. */
const TOUCH_EVERY_MS = 60_000;
/** Verified tokens kept so a token's signature is checked once, not per request. */
const TOKEN_CACHE_MAX = 10_000;

export interface AuthenticatorDeps {
  store: Store;
  tokens: TokenService;
  /** Requests per minute for callers without their own limit. */
  defaultRateLimit: number;
}

export function createAuthenticator(deps: AuthenticatorDeps): Authenticator & { forget(token?: string): void } {
  const touched = new Map<string, number>();
  const tokenCache = new Map<string, { claims: AccessClaims; expMs: number }>();

  const fromApiKey = (key: string): AuthContext => {
    if (!keyPattern.test(key)) throw new AppError('authentication_error', 'Malformed API key');
    const k = deps.store.apiKeys.byHash(hashApiKey(key));
    if (!k) throw new AppError('authentication_error', 'Invalid API key');
    if (k.revokedAt) throw new AppError('authentication_error', 'API key revoked');
    if (deps.store.tenants.get(k.tenantId)?.status !== 'active') {
      throw new AppError('authentication_error', 'Tenant suspended');
    }
    const now = Date.now();
    if (now - (touched.get(k.id) ?? 0) >= TOUCH_EVERY_MS) {
      touched.set(k.id, now);
      deps.store.apiKeys.touch(k.id, nowIso());
    }
    return {
      kind: 'api_key',
      tenantId: k.tenantId,
      role: k.role,
      mode: k.mode,
      superAdmin: false,
      userId: null,
      apiKeyId: k.id,
      scopes: k.scopes,
      rateLimit: k.rateLimit ?? deps.defaultRateLimit,
    };
  };

  const fromClaims = (claims: AccessClaims): AuthContext => {
    // The user row, not the token, is the truth for role and status: a demoted or disabled
    // user loses access at once, not when the token expires.
    const u = deps.store.users.get(claims.sub);
    if (!u || u.status !== 'active' || u.tenantId !== claims.tid) {
      throw new AppError('authentication_error', 'Invalid token');
    }
    if (deps.store.tenants.get(u.tenantId)?.status !== 'active') {
      throw new AppError('authentication_error', 'Tenant suspended');
    }
    return {
      kind: 'user',
      tenantId: u.tenantId,
      role: u.role,
      mode: 'live',
      superAdmin: u.superAdmin,
      userId: u.id,
      apiKeyId: null,
      scopes: null,
      rateLimit: deps.defaultRateLimit,
    };
  };

  const fromToken = (token: string): Maybe<AuthContext> => {
    const hit = tokenCache.get(token);
    if (hit && hit.expMs > Date.now()) return fromClaims(hit.claims);
    return deps.tokens.verifyAccess(token).then(
      (claims) => {
        if (tokenCache.size >= TOKEN_CACHE_MAX) tokenCache.delete(tokenCache.keys().next().value!);
        const expMs = Date.now() + 60_000;
        tokenCache.set(token, { claims, expMs: Math.min(expMs, expiryMs(token)) });
        return fromClaims(claims);
      },
      () => {
        throw new AppError('authentication_error', 'Invalid or expired token');
      },
    );
  };

  const authenticate = (
    headers: Record<string, string>,
  ): Maybe<AuthContext> => {
    const key = headers['x-api-key'];
    const authz = headers['authorization'];
    if (key !== undefined && authz !== undefined) {
      throw new AppError('authentication_error', 'Send either X-API-Key or Authorization, not both');
    }
    if (key !== undefined) return fromApiKey(key.trim());
    if (authz !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(authz.trim());
      if (!m) throw new AppError('authentication_error', 'Authorization must be "Bearer <token>"');
      return fromToken(m[1]!);
    }
    throw new AppError('authentication_error', 'Missing credentials: send X-API-Key or Authorization: Bearer');
  };

  const fn = ((req, requirement) => {
    const ctx = authenticate(req.headers);
    return ctx instanceof Promise ? ctx.then((c) => authorize(c, requirement)) : authorize(ctx, requirement);
  }) as Authenticator & { forget(token?: string): void };
  /** Drops cached token verdicts (after logout or a key change). */
  fn.forget = (token?: string) => (token ? tokenCache.delete(token) : tokenCache.clear());
  return fn;
}

/** Checks the route's requirement against the caller. */
export function authorize(ctx: AuthContext, req: Exclude<AuthRequirement, false>): AuthContext {
  if (req.superAdmin && !ctx.superAdmin) throw new AppError('authorization_error', 'Super-admin only');
  if (req.roles && !req.roles.includes(ctx.role)) {
    throw new AppError('authorization_error', `Role ${ctx.role} may not do this (needs ${req.roles.join(' or ')})`);
  }
  if (req.scope && ctx.scopes && !hasScope(ctx.scopes, req.scope)) {
    throw new AppError('authorization_error', `API key lacks scope ${req.scope}`);
  }
  return ctx;
}

/** `agents:write` is granted by `agents:write`, `agents:*` or `*`. */
export function hasScope(granted: readonly string[], needed: string): boolean {
  const [resource] = needed.split(':');
  return granted.some((g) => g === '*' || g === needed || g === `${resource}:*`);
}

function expiryMs(token: string): number {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { exp?: number };
    return (payload.exp ?? 0) * 1000;
  } catch {
    return 0;
  }
}
