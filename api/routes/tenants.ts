/**
 * Tenants: create (with its first owner), list, get, update, delete. Super-admins only. A
 * suspended tenant's users and keys cannot authenticate (the authenticator and sign-in check the
 * status). Deleting a tenant deletes everything it owns: its rows by cascade, its call
 * recordings' and audio files' files here.
 */
import { z } from 'zod';
import type { Tenant } from '../../engine/store/repositories/tenants.js';
import type { AudioFiles } from '../../engine/agents/audio-files.js';
import type { Recordings } from '../../engine/calls/recordings.js';
import type { Store } from '../../engine/store/store.js';
import { createTenantWithOwner, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../auth/accounts.js';
import { AppError } from '../http/errors.js';
import { page, pageQuery } from '../http/pagination.js';
import { route, type RouteDef } from '../http/route.js';
import { toApiUser, userSchema } from './users.js';

/** A tenant as the API shows it. */
const tenantSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    status: z.enum(['active', 'suspended']),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Tenant' });

const tenantName = z.string().trim().min(1).max(200);

const createSchema = z
  .strictObject({
    name: tenantName,
    owner: z.strictObject({
      email: z.email().max(320),
      name: z.string().trim().min(1).max(200).optional(),
      password: z.string().min(MIN_PASSWORD_LENGTH).max(MAX_PASSWORD_LENGTH),
    }),
  })
  .meta({ id: 'TenantCreate' });

const updateSchema = z
  .strictObject({
    name: tenantName.optional(),
    status: z.enum(['active', 'suspended']).optional(),
  })
  .meta({ id: 'TenantUpdate' });

const createdSchema = tenantSchema.extend({ owner: userSchema }).meta({ id: 'TenantCreated' });

const toApi = (t: Tenant): z.infer<typeof tenantSchema> => ({
  id: t.id,
  name: t.name,
  status: t.status,
  createdAt: t.createdAt,
  updatedAt: t.updatedAt,
});

const superAdmin = { superAdmin: true } as const;

/** Routes under /api/v1/tenants (super-admins only). */
export function tenantRoutes(store: Store, recordings: Recordings, audioFiles: AudioFiles): RouteDef[] {
  const find = (id: string): Tenant => {
    const t = store.tenants.get(id);
    if (!t) throw new AppError('not_found', 'Tenant not found');
    return t;
  };
  return [
    route({
      method: 'post',
      path: '/api/v1/tenants',
      auth: superAdmin,
      summary: 'Create a tenant and its first owner',
      tags: ['Tenants'],
      operationId: 'createTenant',
      body: createSchema,
      response: createdSchema,
      status: 201,
      idempotent: true,
      errors: ['conflict'],
      handler: async ({ body }) => {
        const created = await createTenantWithOwner(store, { name: body.name, owner: body.owner });
        return { ...toApi(created!.tenant), owner: toApiUser(created!.owner) };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/tenants',
      auth: superAdmin,
      summary: 'Every tenant',
      tags: ['Tenants'],
      operationId: 'listTenants',
      query: pageQuery,
      response: page(tenantSchema, 'TenantPage'),
      handler: ({ query }) => {
        const page = store.tenants.list(query.limit, query.offset);
        return { items: page.items.map(toApi), total: page.total, limit: query.limit, offset: query.offset };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/tenants/:id',
      auth: superAdmin,
      summary: 'One tenant',
      tags: ['Tenants'],
      operationId: 'getTenant',
      params: z.object({ id: z.uuid() }),
      response: tenantSchema,
      handler: ({ params }) => toApi(find(params.id)),
    }),
    route({
      method: 'patch',
      path: '/api/v1/tenants/:id',
      auth: superAdmin,
      summary: "Rename a tenant, or suspend it (its users and keys stop authenticating) or reactivate it",
      tags: ['Tenants'],
      operationId: 'updateTenant',
      params: z.object({ id: z.uuid() }),
      body: updateSchema,
      response: tenantSchema,
      errors: ['conflict'],
      handler: ({ auth, params, body }) => {
        find(params.id);
        if (body.status === 'suspended' && params.id === auth.tenantId) {
          throw new AppError('conflict', 'A super-admin cannot suspend their own tenant');
        }
        return toApi(
          store.tenants.update(params.id, {
            ...(body.name !== undefined ? { name: body.name } : {}),
            ...(body.status !== undefined ? { status: body.status } : {}),
          })!,
        );
      },
    }),
    route({
      method: 'delete',
      path: '/api/v1/tenants/:id',
      auth: superAdmin,
      summary: 'Delete a tenant and everything it owns (users, keys, agents, numbers, calls, events, recordings, audio files)',
      tags: ['Tenants'],
      operationId: 'deleteTenant',
      params: z.object({ id: z.uuid() }),
      status: 204,
      errors: ['conflict'],
      handler: async ({ auth, params, log }) => {
        find(params.id);
        if (params.id === auth.tenantId) throw new AppError('conflict', 'A super-admin cannot delete their own tenant');
        const open = store.tenants.openCalls(params.id);
        if (open) throw new AppError('conflict', `The tenant has ${open} call(s) in progress: suspend it and retry when they have ended`);
        const gone = store.tenants.delete(params.id);
        if (!gone) throw new AppError('not_found', 'Tenant not found');
        const files = await recordings.remove(gone.recordedCallIds);
        const sounds = await audioFiles.remove(gone.audioFileIds);
        log.info({ tenantId: params.id, recordings: files, audioFiles: sounds }, 'tenant deleted');
        return undefined;
      },
    }),
  ];
}
