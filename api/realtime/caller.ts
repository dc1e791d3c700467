/**
 * A long-lived connection outlives the request that authenticated it. These checks ask the store
 * again whether its caller may still be served: when an SSE ticket is redeemed (the ticket names
 * the caller; the store says what the caller may do now), and on every heartbeat of an open
 * WebSocket or SSE stream, so a revoked key, a disabled user or a suspended tenant is cut off
 * within one heartbeat, not when the client happens to reconnect.
 */
import type { Store } from '../../engine/store/store.js';
import { AppError } from '../http/errors.js';
import type { AuthContext } from '../http/route.js';

/** Who a ticket or connection stands for: enough to find the caller in the store again. */
export interface CallerRef {
  kind: AuthContext['kind'];
  tenantId: string;
  /** The API key id, or the user id. */
  id: string;
  /** The mode the caller authenticated in (users are always live). */
  mode: 'live' | 'test';
}

export const callerRef = (auth: AuthContext): CallerRef => ({
  kind: auth.kind,
  tenantId: auth.tenantId,
  id: (auth.kind === 'api_key' ? auth.apiKeyId : auth.userId) ?? '',
  mode: auth.mode,
});

/**
 * The caller as the store knows it now, or `authentication_error` when it may no longer act.
 * `defaultRateLimit` is the limit of callers without their own.
 */
export function currentCaller(store: Store, ref: CallerRef, defaultRateLimit: number): AuthContext {
  if (store.tenants.get(ref.tenantId)?.status !== 'active') throw new AppError('authentication_error', 'Tenant suspended');
  if (ref.kind === 'api_key') {
    const k = store.apiKeys.get(ref.tenantId, ref.id);
    if (!k) throw new AppError('authentication_error', 'Invalid API key');
    if (k.revokedAt) throw new AppError('authentication_error', 'API key revoked');
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
  const u = store.users.get(ref.id);
  if (!u || u.status !== 'active' || u.tenantId !== ref.tenantId) throw new AppError('authentication_error', 'Invalid user');
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
