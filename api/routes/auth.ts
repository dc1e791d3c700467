/** Auth endpoints: who am I. (Login, refresh, logout and API keys build on the same services.) */
import { z } from 'zod';
import type { Store } from '../../engine/store/store.js';
import { publicUser } from '../../engine/store/repositories/users.js';
import { AppError } from '../http/errors.js';
import { route, roles, type RouteDef } from '../http/route.js';
import { modes } from '../../engine/store/mode.js';

const meSchema = z
  .object({
    kind: z.enum(['user', 'api_key']),
    tenantId: z.string(),
    role: z.enum(roles),
    mode: z.enum(modes),
    superAdmin: z.boolean(),
    scopes: z.array(z.string()).nullable(),
    rateLimit: z.number().int().meta({ description: "Requests per minute; keys and users this caller creates get at most this" }),
    user: z
      .object({
        id: z.string(),
        email: z.string(),
        name: z.string().nullable(),
        role: z.enum(roles),
        superAdmin: z.boolean(),
        lastLoginAt: z.string().nullable(),
        createdAt: z.string(),
      })
      .nullable(),
    apiKey: z.object({ id: z.string(), name: z.string(), prefix: z.string() }).nullable(),
  })
  .meta({ id: 'Me' });

export function authRoutes(store: Store): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/auth/me',
      auth: {},
      summary: 'The caller: user or API key, tenant, role, mode, scopes and rate limit',
      tags: ['Authentication'],
      operationId: 'getMe',
      response: meSchema,
      handler: ({ auth }) => {
        const user = auth.userId ? store.users.get(auth.userId) : undefined;
        const key = auth.apiKeyId ? store.apiKeys.get(auth.tenantId, auth.apiKeyId) : undefined;
        if (auth.userId && !user) throw new AppError('authentication_error');
        const u = user && publicUser(user);
        return {
          kind: auth.kind,
          tenantId: auth.tenantId,
          role: auth.role,
          mode: auth.mode,
          superAdmin: auth.superAdmin,
          scopes: auth.scopes,
          rateLimit: auth.rateLimit,
          user: u
            ? { id: u.id, email: u.email, name: u.name, role: u.role, superAdmin: u.superAdmin, lastLoginAt: u.lastLoginAt, createdAt: u.createdAt }
            : null,
          apiKey: key ? { id: key.id, name: key.name, prefix: key.prefix } : null,
        };
      },
    }),
  ];
}
