/**
 * People in the caller's tenant and their roles. Everyone may read; owners and admins manage.
 * An admin cannot change or delete an owner; the last active owner cannot be demoted, disabled
 * or deleted, nor the installation's last super-admin (409 `conflict`). Users are not split by
 * mode, so test keys get `authorization_error` here.
 *
 * A person can do what their role allows, unrestricted by scopes, at the default rate limit.
 * Creating one, promoting one, setting their password (whoever sets it can sign in as them) or
 * enabling them again hands that out: it must be within the caller's own (`../auth/grants.ts`).
 * So an admin cannot make an owner, and a key restricted to scopes or to a lower rate limit
 * cannot make or arm a user at all.
 */
import { z } from 'zod';
import type { User, UserWithSecret } from '../../engine/store/repositories/users.js';
import { publicUser } from '../../engine/store/repositories/users.js';
import type { Store } from '../../engine/store/store.js';
import { createUser, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../auth/accounts.js';
import { assertWithinCaller, stronger } from '../auth/grants.js';
import { hashPassword } from '../auth/passwords.js';
import type { Sessions } from '../auth/sessions.js';
import { AppError } from '../http/errors.js';
import { page, pageQuery } from '../http/pagination.js';
import { Reply, roles, route, type AuthContext, type RouteDef } from '../http/route.js';

/** A person as the API shows them: never the password hash. */
export const userSchema = z
  .object({
    id: z.uuid(),
    tenantId: z.uuid(),
    email: z.string(),
    name: z.string().nullable(),
    role: z.enum(roles),
    superAdmin: z.boolean(),
    status: z.enum(['active', 'disabled']),
    lastLoginAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'User' });

const password = z.string().min(MIN_PASSWORD_LENGTH).max(MAX_PASSWORD_LENGTH);
const displayName = z.string().trim().min(1).max(200);

const createSchema = z
  .strictObject({
    email: z.email().max(320),
    name: displayName.optional(),
    role: z.enum(roles),
    password,
  })
  .meta({ id: 'UserCreate' });

const updateSchema = z
  .strictObject({
    name: displayName.nullable().optional(),
    role: z.enum(roles).optional(),
    status: z.enum(['active', 'disabled']).optional().describe('A disabled user cannot sign in; their sessions end'),
    password: password.optional().describe("Sets a new password; the user's sessions end"),
  })
  .meta({ id: 'UserUpdate' });

const idParams = z.object({ id: z.uuid() });

/** The API's view of a stored user. */
export const toApiUser = (u: UserWithSecret | User): z.infer<typeof userSchema> => {
  const p = 'passwordHash' in u ? publicUser(u) : u;
  return {
    id: p.id,
    tenantId: p.tenantId,
    email: p.email,
    name: p.name,
    role: p.role,
    superAdmin: p.superAdmin,
    status: p.status,
    lastLoginAt: p.lastLoginAt,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
  };
};

const managers = ['owner', 'admin'] as const;
const read = { scope: 'users:read', liveOnly: true } as const;
const write = { roles: managers, scope: 'users:write', liveOnly: true } as const;

/** Routes under /api/v1/users, scoped to the caller's tenant; people get `defaultRateLimit`. */
export function userRoutes(store: Store, sessions: Sessions, defaultRateLimit: number): RouteDef[] {
  /** Refuses to hand a person with `role` to anyone when that is beyond the caller's own. */
  const assertMayGrant = (auth: AuthContext, role: UserWithSecret['role']) =>
    assertWithinCaller(auth, { role, scopes: null, rateLimit: defaultRateLimit, mode: 'live' }, 'user');

  /**
   * Checks a change that hands powers out: a stronger role, a password (whoever sets it can sign
   * in as the person), or re-enabling. Demoting, disabling and renaming hand nothing out.
   */
  const assertMayChange = (auth: AuthContext, target: UserWithSecret, body: z.infer<typeof updateSchema>) => {
    const promotes = body.role !== undefined && stronger(body.role, target.role);
    const enables = body.status === 'active' && target.status !== 'active';
    if (promotes || enables || body.password !== undefined) assertMayGrant(auth, body.role ?? target.role);
  };

  const find = (auth: AuthContext, id: string): UserWithSecret => {
    const u = store.users.getInTenant(auth.tenantId, id);
    if (!u) throw new AppError('not_found', 'User not found');
    return u;
  };

  /** Admins manage admins, members and viewers; owners manage everyone. */
  const assertMayManage = (auth: AuthContext, target: UserWithSecret) => {
    if (auth.role !== 'owner' && target.role === 'owner') {
      throw new AppError('authorization_error', 'Only an owner may change or delete an owner');
    }
  };

  /** Refuses to leave the tenant without an active owner, or the installation without a super-admin. */
  const assertKeepsOwners = (target: UserWithSecret, after: { role: string; status: string } | null) => {
    if (target.status !== 'active') return;
    const losesOwner = target.role === 'owner' && (!after || after.role !== 'owner' || after.status !== 'active');
    if (losesOwner && store.users.countActiveOwners(target.tenantId) <= 1) {
      throw new AppError('conflict', 'The last owner of a tenant cannot be demoted, disabled or deleted');
    }
    const losesSuperAdmin = target.superAdmin && (!after || after.status !== 'active');
    if (losesSuperAdmin && store.users.countActiveSuperAdmins() <= 1) {
      throw new AppError('conflict', 'The last super-admin cannot be disabled or deleted');
    }
  };

  return [
    route({
      method: 'get',
      path: '/api/v1/users',
      auth: read,
      summary: "The people in the caller's tenant",
      tags: ['Users'],
      operationId: 'listUsers',
      query: pageQuery,
      response: page(userSchema, 'UserPage'),
      handler: ({ auth, query }) => {
        const page = store.users.list(auth.tenantId, query.limit, query.offset);
        return { items: page.items.map(toApiUser), total: page.total, limit: query.limit, offset: query.offset };
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/users',
      auth: write,
      summary: "Add a person to the caller's tenant with a role (only an owner may add an owner)",
      tags: ['Users'],
      operationId: 'createUser',
      body: createSchema,
      response: userSchema,
      status: 201,
      idempotent: true,
      errors: ['conflict'],
      handler: async ({ auth, body }) => {
        assertMayGrant(auth, body.role);
        return toApiUser(await createUser(store, { tenantId: auth.tenantId, ...body }));
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/users/:id',
      auth: read,
      summary: 'One person in the tenant',
      tags: ['Users'],
      operationId: 'getUser',
      params: idParams,
      response: userSchema,
      handler: ({ auth, params }) => toApiUser(find(auth, params.id)),
    }),
    route({
      method: 'patch',
      path: '/api/v1/users/:id',
      auth: write,
      summary: "Change a person's name, role, status or password",
      tags: ['Users'],
      operationId: 'updateUser',
      params: idParams,
      body: updateSchema,
      response: userSchema,
      errors: ['conflict'],
      handler: async ({ auth, params, body }) => {
        const before = find(auth, params.id);
        assertMayManage(auth, before);
        assertMayChange(auth, before, body);
        const passwordHash = body.password === undefined ? undefined : await hashPassword(body.password);
        // Checked again after the hash: the rows may have changed while it ran.
        const updated = store.db.transaction(() => {
          const target = find(auth, params.id);
          assertMayManage(auth, target);
          assertMayChange(auth, target, body);
          const after = { role: body.role ?? target.role, status: body.status ?? target.status };
          assertKeepsOwners(target, after);
          return store.users.update(auth.tenantId, target.id, {
            ...(body.name !== undefined ? { name: body.name } : {}),
            ...(body.role !== undefined ? { role: body.role } : {}),
            ...(body.status !== undefined ? { status: body.status } : {}),
            ...(passwordHash !== undefined ? { passwordHash } : {}),
          })!;
        }).immediate();
        if (passwordHash !== undefined || (body.status === 'disabled' && before.status !== 'disabled')) {
          sessions.endAllFor(updated.id);
        }
        return toApiUser(updated);
      },
    }),
    route({
      method: 'delete',
      path: '/api/v1/users/:id',
      auth: write,
      summary: 'Remove a person from the tenant; their sessions end',
      tags: ['Users'],
      operationId: 'deleteUser',
      params: idParams,
      status: 204,
      errors: ['conflict'],
      handler: ({ auth, params }) => {
        store.db.transaction(() => {
          const target = find(auth, params.id);
          assertMayManage(auth, target);
          assertKeepsOwners(target, null);
          sessions.endAllFor(target.id);
          store.users.delete(auth.tenantId, target.id);
        }).immediate();
        return new Reply(204, undefined);
      },
    }),
  ];
}
