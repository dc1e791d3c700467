/**
 * A long-lived connection outlives the request that authenticated it. These checks ask the store
 * again whether its caller may still be served: when an SSE ticket is redeemed (the ticket names
 * the caller; the store says what the caller may do now), and on every heartbeat of an open
 * WebSocket or SSE stream, so a revoked key, a disabled user, a suspended tenant, a signed-out
 * session or an expired access token is cut off within one heartbeat, not when the client
 * happens to reconnect.
 */
import type { Store } from '../../engine/store/store.js';
import { apiKeyContext, userContext } from '../auth/authenticator.js';
import { AppError } from '../http/errors.js';
import type { AuthContext } from '../http/route.js';
import type { Mode } from '../../engine/store/mode.js';

/** Who a ticket or connection stands for: enough to find the caller in the store again. */
export interface CallerRef {
  kind: AuthContext['kind'];
  tenantId: string;
  /** The API key id, or the user id. */
  id: string;
  /** The mode the caller authenticated in (users are always live). */
  mode: Mode;
  /** For a user: the access token's session and expiry (ms since the epoch). */
  session?: { sid: string; expMs: number };
}

/**
 * Who `auth` is. `authorization` is the request's `Authorization` header (or `Bearer <token>` from
 * a WebSocket auth frame): for a user, its token was verified by the authenticator, so its
 * session and expiry are read from it here.
 */
export function callerRef(auth: AuthContext, authorization?: string): CallerRef {
  const ref: CallerRef = { kind: auth.kind, tenantId: auth.tenantId, id: (auth.kind === 'api_key' ? auth.apiKeyId : auth.userId) ?? '', mode: auth.mode };
  const token = auth.kind === 'user' ? /^Bearer\s+(\S+)$/i.exec(authorization?.trim() ?? '')?.[1] : undefined;
  if (token) {
    try {
      const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { sid?: unknown; exp?: unknown };
      if (typeof claims.sid === 'string' && typeof claims.exp === 'number') ref.session = { sid: claims.sid, expMs: claims.exp * 1000 };
    } catch {
      // verified before, so well-formed; nothing to add otherwise
    }
  }
  return ref;
}

/**
 * The caller as the store knows it now, or `authentication_error` when it may no longer act.
 * `defaultRateLimit` is the limit of callers without their own.
 */
export function currentCaller(store: Store, ref: CallerRef, defaultRateLimit: number): AuthContext {
  if (store.tenants.get(ref.tenantId)?.status !== 'active') throw new AppError('authentication_error', 'Tenant suspended');
  if (ref.session) {
    if (Date.now() >= ref.session.expMs) throw new AppError('authentication_error', 'Access token expired');
    if (!store.refreshTokens.familyLive(ref.session.sid)) throw new AppError('authentication_error', 'Session ended');
  }
  if (ref.kind === 'api_key') {
    const k = store.apiKeys.get(ref.tenantId, ref.id);
    if (!k) throw new AppError('authentication_error', 'Invalid API key');
    if (k.revokedAt) throw new AppError('authentication_error', 'API key revoked');
    return apiKeyContext(k, defaultRateLimit);
  }
  const u = store.users.get(ref.id);
  if (!u || u.status !== 'active' || u.tenantId !== ref.tenantId) throw new AppError('authentication_error', 'Invalid user');
  return userContext(u, defaultRateLimit);
}
