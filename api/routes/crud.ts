/**
 * The five routes of a tenant-scoped resource (list, get, create, update, delete), declared
 * once. Each resource module supplies its schemas and what each route does; the factory gives
 * every resource the same paths, statuses (201 on create, 204 on delete), not_found answers,
 * auth requirements and OpenAPI naming.
 */
import { z } from 'zod';
import { isUniqueViolation, type Page } from '../../engine/store/repositories/scoped.js';
import { AppError, fieldPath, type ErrorCode } from '../http/errors.js';
import { page, paged, type PageQuery } from '../http/pagination.js';
import { route, type AuthContext, type RouteDef } from '../http/route.js';
import type { Access } from './access.js';
import { modes } from '../../engine/store/mode.js';

/** `{id}` in a path. An id that is not a UUID cannot name anything: not_found. */
export const idParams = z.object({ id: z.uuid() });

/** Fields every tenant-owned resource answers with. */
export const resourceShape = {
  id: z.uuid(),
  mode: z.enum(modes).meta({ description: 'test rows are seen only by test API keys' }),
};
export const timestampsShape = { createdAt: z.iso.datetime(), updatedAt: z.iso.datetime() };

/** A resource as the API shows it: without the tenant id (always the caller's). */
export const withoutTenant = <T extends { tenantId: string }>({ tenantId: _, ...rest }: T): Omit<T, 'tenantId'> => rest;

/**
 * A validation_error for problems found after the schema passed (references to other objects,
 * a tool's own JSON Schema), each at its path in the body (`['config', 'toolIds', 2]`).
 */
export function invalidBody(issues: readonly { path: readonly PropertyKey[]; message: string }[]): AppError {
  return new AppError(
    'validation_error',
    'Invalid request body',
    issues.map((i) => ({ field: fieldPath(i.path), message: i.message })),
  );
}

/** Runs a write; a UNIQUE violation (a name or number already taken) becomes `conflict`. */
export function unique<T>(write: () => T, message: string): T {
  try {
    return write();
  } catch (e) {
    if (isUniqueViolation(e)) throw new AppError('conflict', message);
    throw e;
  }
}

/** Answers not_found for a missing (or another tenant's, or another mode's) object. */
export function found<T>(value: T | undefined | false, label: string): T {
  if (value === undefined || value === false) throw new AppError('not_found', `No such ${label}`);
  return value;
}

interface CrudSpec<
  T extends z.ZodType,
  L extends z.ZodType,
  C extends z.ZodType,
  U extends z.ZodType,
  Q extends z.ZodType<PageQuery>,
  D,
  LD,
> {
  /** Collection path, e.g. `/api/v1/agents`. */
  path: string;
  tag: string;
  /** `Agent`, `Agents` (operation ids and components), `agent` (messages). */
  names: { one: string; many: string; label: string };
  access: Access;
  item: T;
  listItem: L;
  createBody: C;
  updateBody: U;
  listQuery: Q;
  /** The stored object as the API shows it (no tenant id, no secrets). */
  present(d: D): z.infer<T>;
  presentListItem(d: LD): z.infer<L>;
  list(auth: AuthContext, q: z.infer<Q>): Page<LD>;
  get(auth: AuthContext, id: string): D | undefined;
  create(auth: AuthContext, body: z.infer<C>): D;
  update(auth: AuthContext, id: string, body: z.infer<U>): D | undefined;
  remove(auth: AuthContext, id: string): boolean;
  /** Errors beyond auth, validation and not_found (e.g. `conflict`). */
  errors?: { create?: ErrorCode[]; update?: ErrorCode[]; remove?: ErrorCode[] };
}

export function crudRoutes<
  T extends z.ZodType,
  L extends z.ZodType,
  C extends z.ZodType,
  U extends z.ZodType,
  Q extends z.ZodType<PageQuery>,
  D,
  LD,
>(s: CrudSpec<T, L, C, U, Q, D, LD>): RouteDef[] {
  const one = `${s.path}/:id`;
  const { label } = s.names;
  return [
    route({
      method: 'get',
      path: s.path,
      auth: s.access.read,
      summary: `List ${label}s`,
      tags: [s.tag],
      operationId: `list${s.names.many}`,
      query: s.listQuery,
      response: page(s.listItem, `${s.names.one}Page`),
      handler: ({ auth, query }) => {
        const r = s.list(auth, query);
        return paged({ items: r.items.map((d) => s.presentListItem(d)), total: r.total }, query);
      },
    }),
    route({
      method: 'get',
      path: one,
      auth: s.access.read,
      summary: `Get a ${label}`,
      tags: [s.tag],
      operationId: `get${s.names.one}`,
      params: idParams,
      response: s.item,
      handler: ({ auth, params }) => s.present(found(s.get(auth, params.id), label)),
    }),
    route({
      method: 'post',
      path: s.path,
      auth: s.access.write,
      summary: `Create a ${label}`,
      tags: [s.tag],
      operationId: `create${s.names.one}`,
      body: s.createBody,
      response: s.item,
      status: 201,
      idempotent: true,
      errors: s.errors?.create,
      handler: ({ auth, body }) => s.present(s.create(auth, body)),
    }),
    route({
      method: 'patch',
      path: one,
      auth: s.access.write,
      summary: `Update a ${label}: the fields given replace the stored ones`,
      tags: [s.tag],
      operationId: `update${s.names.one}`,
      params: idParams,
      body: s.updateBody,
      response: s.item,
      errors: s.errors?.update,
      handler: ({ auth, params, body }) => s.present(found(s.update(auth, params.id, body), label)),
    }),
    route({
      method: 'delete',
      path: one,
      auth: s.access.write,
      summary: `Delete a ${label}`,
      tags: [s.tag],
      operationId: `delete${s.names.one}`,
      params: idParams,
      status: 204,
      errors: s.errors?.remove,
      handler: ({ auth, params }) => {
        found(s.remove(auth, params.id), label);
        return undefined;
      },
    }),
  ];
}
