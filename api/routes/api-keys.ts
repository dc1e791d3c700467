/**
 * API keys: create (the full key is shown once), list, get, revoke. Owners and admins manage
 * them. A new key is within its creator's own powers (`../auth/grants.ts`): role no stronger,
 * scopes no wider, rate limit no higher, and a test key sees and makes only test keys. Left
 * out, the scopes and the rate limit are the creator's (when the creator has a limit below the
 * default; otherwise the default).
 */
import { z } from 'zod';
import type { ApiKey } from '../../engine/store/repositories/api-keys.js';
import type { Store } from '../../engine/store/store.js';
import { generateApiKey } from '../auth/api-key-secret.js';
import { assertWithinCaller, stronger } from '../auth/grants.js';
import { scopeSchema } from '../auth/scopes.js';
import { AppError } from '../http/errors.js';
import { page, pageQuery } from '../http/pagination.js';
import { Reply, roles, route, type AuthContext, type RouteDef } from '../http/route.js';
import { modes } from '../../engine/store/mode.js';

/** Highest per-key limit: well past what one process serves, so it only guards against typos. */
const MAX_RATE_LIMIT = 1_000_000;

const createSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    mode: z.enum(modes).optional().describe("Defaults to the caller's mode"),
    scopes: z
      .array(scopeSchema)
      .max(100)
      .nullable()
      .optional()
      .describe("null: unrestricted; omitted: the creator's. At most the creator's (no scopes and `*` are the widest)"),
    rateLimit: z
      .number()
      .int()
      .min(1)
      .max(MAX_RATE_LIMIT)
      .nullable()
      .optional()
      .describe("Requests per minute; null: the default (100); omitted: the creator's own. At most the creator's own"),
    role: z.enum(roles).optional().describe("Defaults to admin; at most the creator's role"),
  })
  .meta({ id: 'ApiKeyCreate' });

/** An API key as the API shows it: never the secret, only its display prefix. */
const apiKeySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    mode: z.enum(modes),
    role: z.enum(roles),
    prefix: z.string().describe('The first characters of the key, to tell keys apart'),
    scopes: z.array(z.string()).nullable(),
    rateLimit: z.number().int().nullable(),
    createdBy: z.string().nullable(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: 'ApiKey' });

const createdSchema = apiKeySchema
  .extend({ key: z.string().describe('The whole key; shown only in this response') })
  .meta({ id: 'ApiKeyCreated' });

const idParams = z.object({ id: z.uuid() });
const listQuery = pageQuery.extend({
  mode: z.enum(modes).optional().describe('Only keys of this mode (test keys always see only test keys)'),
});

const toApi = (k: ApiKey): z.infer<typeof apiKeySchema> => ({
  id: k.id,
  name: k.name,
  mode: k.mode,
  role: k.role,
  prefix: k.prefix,
  scopes: k.scopes,
  rateLimit: k.rateLimit,
  createdBy: k.createdBy,
  lastUsedAt: k.lastUsedAt,
  revokedAt: k.revokedAt,
  createdAt: k.createdAt,
});

const managers = ['owner', 'admin'] as const;

/** Routes under /api/v1/api-keys; `defaultRateLimit` is what a key without a limit of its own gets. */
export function apiKeyRoutes(store: Store, defaultRateLimit: number): RouteDef[] {
  /** The key, if this caller may see it: same tenant, and test callers see only test keys. */
  const visible = (auth: AuthContext, id: string): ApiKey => {
    const k = store.apiKeys.get(auth.tenantId, id);
    if (!k || (auth.mode === 'test' && k.mode !== 'test')) throw new AppError('not_found', 'API key not found');
    return k;
  };

  return [
    route({
      method: 'post',
      path: '/api/v1/api-keys',
      auth: { roles: managers, scope: 'api_keys:write' },
      summary: 'Create an API key; the response holds the whole key, shown this once',
      tags: ['API keys'],
      operationId: 'createApiKey',
      body: createSchema,
      response: createdSchema,
      status: 201,
      idempotent: true,
      handler: ({ auth, body }) => {
        const mode = body.mode ?? auth.mode;
        const role = body.role ?? 'admin';
        // Left out, scopes and limit are the creator's own: never wider, and nothing to refuse.
        const scopes = body.scopes === undefined ? auth.scopes : body.scopes;
        const rateLimit = body.rateLimit === undefined ? (auth.rateLimit < defaultRateLimit ? auth.rateLimit : null) : body.rateLimit;
        assertWithinCaller(auth, { role, scopes, rateLimit: rateLimit ?? defaultRateLimit, mode }, 'key');
        const { key, prefix, hash } = generateApiKey(mode);
        const created = store.apiKeys.create({
          tenantId: auth.tenantId,
          name: body.name,
          mode,
          role,
          prefix,
          keyHash: hash,
          scopes: scopes && [...scopes],
          rateLimit,
          createdBy: auth.userId,
        });
        return { ...toApi(created), key };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/api-keys',
      auth: { roles: managers, scope: 'api_keys:read' },
      summary: "The tenant's API keys, revoked ones included (never the secret)",
      tags: ['API keys'],
      operationId: 'listApiKeys',
      query: listQuery,
      response: page(apiKeySchema, 'ApiKeyPage'),
      handler: ({ auth, query }) => {
        const mode = auth.mode === 'test' ? 'test' : query.mode;
        const page = store.apiKeys.list(auth.tenantId, query.limit, query.offset, mode);
        return { items: page.items.map(toApi), total: page.total, limit: query.limit, offset: query.offset };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/api-keys/:id',
      auth: { roles: managers, scope: 'api_keys:read' },
      summary: 'One API key (never the secret)',
      tags: ['API keys'],
      operationId: 'getApiKey',
      params: idParams,
      response: apiKeySchema,
      handler: ({ auth, params }) => toApi(visible(auth, params.id)),
    }),
    route({
      method: 'delete',
      path: '/api/v1/api-keys/:id',
      auth: { roles: managers, scope: 'api_keys:write' },
      summary: 'Revoke an API key: it stops working at once (revoking twice is harmless)',
      tags: ['API keys'],
      operationId: 'revokeApiKey',
      params: idParams,
      status: 204,
      handler: ({ auth, params }) => {
        const k = visible(auth, params.id);
        if (stronger(k.role, auth.role)) {
          throw new AppError('authorization_error', `A ${auth.role} may not revoke a key with role ${k.role}`);
        }
        store.apiKeys.revoke(auth.tenantId, k.id);
        return new Reply(204, undefined);
      },
    }),
  ];
}
