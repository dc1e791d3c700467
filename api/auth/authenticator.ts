/**
 * Who is calling: `X-API-Key: as_live_…|as_test_…` (servers) or `Authorization: Bearer <JWT>`
 * (people). Returns the caller's AuthContext, or throws `authentication_error`. Whether the caller
 * may use a route is decided afterwards by `authorize` (`../http/authorize.ts`).
 */
import type { ApiKey } from '../../engine/store/repositories/api-keys.js';
import type { User } from '../../engine/store/repositories/users.js';
import type { Store } from '../../engine/store/store.js';
import { nowIso } from '../../engine/store/ids.js';
import type { Maybe } from '../../lib/maybe.js';
import type { Authenticator } from '../http/adapter.js';
import { AppError } from '../http/errors.js';
import type { AuthContext } from '../http/route.js';
import { hashApiKey, keyPattern } from './api-key-secret.js';
import type { AccessClaims, TokenService } from './tokens.js';

/** last_used_at is written at most this often per key: a write per request would cost more than the request. */
const TOUCH_EVERY_MS = 60_000;
/** Keys whose last write time is remembered; past this the map starts over (one extra write per key). */
const TOUCHED_MAX = 10_000;
/** Verified tokens kept so a token's signature is checked once, not per request. */
const TOKEN_CACHE_MAX = 10_000;
/**
 * How long a verified token is trusted without checking its session again. Sign-out and refresh
 * reuse drop their session's verdicts at once; this bounds everything else (a session revoked by
 * another process, e.g. the admin command).
 */
const TOKEN_CACHE_MS = 60_000;

interface AuthenticatorDeps {
  store: Store;
  tokens: TokenService;
  /** Requests per minute for callers without their own limit. */
  defaultRateLimit: number;
}

/** The authenticator, plus ways to drop cached token verdicts. */
export type TokenAuthenticator = Authenticator & {
  /** Drops one token's cached verdict, or all of them. */
  forget(token?: string): void;
  /** Drops the cached verdicts of every access token of a session (after sign-out or reuse). */
  forgetSession(sessionId: string): void;
};

export function createAuthenticator(deps: AuthenticatorDeps): TokenAuthenticator {
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
      if (touched.size >= TOUCHED_MAX) touched.clear();
      touched.set(k.id, now);
      deps.store.apiKeys.touch(k.id, nowIso());
    }
    return apiKeyContext(k, deps.defaultRateLimit);
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
    return userContext(u, deps.defaultRateLimit);
  };

  const fromToken = (token: string): Maybe<AuthContext> => {
    const hit = tokenCache.get(token);
    if (hit && hit.expMs > Date.now()) return fromClaims(hit.claims);
    if (hit) tokenCache.delete(token);
    return deps.tokens.verifyAccess(token).then(
      (claims) => {
        // A signed-out session's access tokens die with it, before they expire.
        if (!deps.store.refreshTokens.familyLive(claims.sid)) {
          throw new AppError('authentication_error', 'Session ended');
        }
        if (tokenCache.size >= TOKEN_CACHE_MAX) tokenCache.delete(tokenCache.keys().next().value!);
        tokenCache.set(token, { claims, expMs: Math.min(Date.now() + TOKEN_CACHE_MS, expiryMs(token)) });
        return fromClaims(claims);
      },
      (e: unknown) => {
        if (e instanceof AppError) throw e;
        throw new AppError('authentication_error', 'Invalid or expired token');
      },
    );
  };

  const authenticate = ((req) => {
    const key = req.headers['x-api-key'];
    const authz = req.headers['authorization'];
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
  }) as TokenAuthenticator;
  authenticate.forget = (token?: string) => (token ? tokenCache.delete(token) : tokenCache.clear());
  authenticate.forgetSession = (sessionId: string) => {
    for (const [token, v] of tokenCache) if (v.claims.sid === sessionId) tokenCache.delete(token);
  };
  return authenticate;
}

/** The caller an API key makes: its tenant, role, mode, scopes and rate limit. */
export function apiKeyContext(k: ApiKey, defaultRateLimit: number): AuthContext {
  return {
    kind: 'api_key',
    tenantId: k.tenantId,
    role: k.role,
    mode: k.mode,
    superAdmin: false,
    userId: null,
    apiKeyId: k.id,
    scopes: k.scopes,
    rateLimit: k.rateLimit ?? defaultRateLimit,
  };
}

/** The caller a signed-in user makes (users act on live data). */
export function userContext(u: User, defaultRateLimit: number): AuthContext {
  return {
    kind: 'user',
    tenantId: u.tenantId,
    role: u.role,
    mode: 'live',
    superAdmin: u.superAdmin,
    userId: u.id,
    apiKeyId: null,
    scopes: null,
    rateLimit: defaultRateLimit,
  };
}

function expiryMs(token: string): number {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { exp?: number };
    return (payload.exp ?? 0) * 1000;
  } catch {
    return 0;
  }
}
