/**
 * Authorization: may this caller use this route? The adapter runs it for every authenticated
 * route, after the middlewares (so a refused request still counts against the caller's rate
 * limit and carries its headers) and before validation and the handler.
 */
import { AppError } from './errors.js';
import type { AuthContext, AuthRequirement } from './route.js';

/** Checks the route's requirement against the caller; returns the caller or throws `authorization_error`. */
export function authorize(ctx: AuthContext, req: Exclude<AuthRequirement, false>): AuthContext {
  if (req.superAdmin && !ctx.superAdmin) throw new AppError('authorization_error', 'Super-admin only');
  if (req.roles && !req.roles.includes(ctx.role)) {
    throw new AppError('authorization_error', `Role ${ctx.role} may not do this (needs ${req.roles.join(' or ')})`);
  }
  if (req.scope && ctx.scopes && !hasScope(ctx.scopes, req.scope)) {
    throw new AppError('authorization_error', `API key lacks scope ${req.scope}`);
  }
  if (req.liveOnly && ctx.mode !== 'live') {
    throw new AppError('authorization_error', 'Test-mode keys may not do this');
  }
  return ctx;
}

/** `agents:write` is granted by `agents:write`, `agents:*` or `*`. */
export function hasScope(granted: readonly string[], needed: string): boolean {
  const [resource] = needed.split(':');
  return granted.some((g) => g === '*' || g === needed || g === `${resource}:*`);
}
