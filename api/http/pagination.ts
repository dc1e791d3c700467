/**
 * The one definition of list queries and list bodies, shared by every list endpoint:
 * `?limit=20&offset=40` answers `{"items":[…],"total":100,"limit":20,"offset":40}`.
 *
 * `limit` is 1–100 (default 20) and `offset` ≥ 0. A value outside those bounds is a
 * `validation_error`, never silently clamped: a client that asks for 500 learns at once that a
 * page holds at most 100, instead of mistaking a short page for the end of the list.
 *
 * `from`/`to` bound the list's own time column (`created_at` for resources, `started_at` for
 * calls): `from` inclusive, `to` exclusive. Each is an ISO 8601 date-time with an offset, or a
 * date (midnight UTC).
 */
import { z } from 'zod';

const DEFAULT_LIMIT = 20;
/** Large enough for a dashboard table, small enough that one request stays cheap. */
const MAX_LIMIT = 100;

/** An instant in a query, normalised to the store's text form (`toISOString`) so it compares as text. */
const instant = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()])
  .transform((v) => new Date(v).toISOString());

const limit = z.coerce
  .number()
  .int()
  .min(1)
  .max(MAX_LIMIT)
  .default(DEFAULT_LIMIT)
  .meta({ description: `Page size, 1–${MAX_LIMIT} (default ${DEFAULT_LIMIT}); beyond is a validation_error` });
const offset = z.coerce.number().int().min(0).default(0).meta({ description: 'Rows to skip (default 0)' });

/** The pagination fields, for queries built elsewhere (`rangeQuery`). */
export const pageShape = { limit, offset };

interface RangeValue {
  from?: string | undefined;
  to?: string | undefined;
}

/** `from` must come before `to` when both are given. */
const rangeOrdered = (q: object) => {
  const { from, to } = q as RangeValue;
  return !from || !to || from < to;
};
const rangeMessage = { path: ['to'], message: 'Must be after from' };

/** The time-range fields, described for the column they bound. */
function timeRangeShape(column: string) {
  return {
    from: instant.optional().meta({ description: `Only rows whose ${column} is at or after this instant` }),
    to: instant.optional().meta({ description: `Only rows whose ${column} is before this instant` }),
  };
}

/**
 * A list query: pagination, a time range on `timeColumn`, and the list's own filters.
 * Unknown query parameters are ignored, as HTTP caches and proxies expect.
 */
export function listQuery<S extends z.ZodRawShape>(timeColumn: string, filters: S) {
  return z
    .object({ ...pageShape, ...timeRangeShape(timeColumn), ...filters })
    .refine(rangeOrdered, rangeMessage);
}

/** Pagination alone, for lists without a time column (workflow versions, a call's events). */
export const pageQuery = z.object(pageShape);
export type PageQuery = z.infer<typeof pageQuery>;

/** The list body for `item`, as a named component (`AgentPage`, …). */
export function page<T extends z.ZodType>(item: T, id: string) {
  return z
    .object({
      items: z.array(item),
      total: z.number().int().meta({ description: 'Rows matching the filters, across all pages' }),
      limit: z.number().int(),
      offset: z.number().int(),
    })
    .meta({ id });
}

/** A repository's `{ items, total }` with the query's window, as the list body. */
export function paged<T>(result: { items: T[]; total: number }, q: PageQuery): { items: T[]; total: number; limit: number; offset: number } {
  return { items: result.items, total: result.total, limit: q.limit, offset: q.offset };
}

/**
 * A query whose time range always resolves (analytics): `to` defaults to now and `from` to
 * `to` minus `defaultDays`. Spread `pageShape` into `extra` for a paginated list.
 */
export function rangeQuery<S extends z.ZodRawShape>(column: string, defaultDays: number, extra: S) {
  return z
    .object({ ...timeRangeShape(column), ...extra })
    .refine(rangeOrdered, rangeMessage)
    .transform((q) => {
      const range = q as RangeValue;
      const to = range.to ?? new Date().toISOString();
      const from = range.from ?? new Date(Date.parse(to) - defaultDays * 86_400_000).toISOString();
      return { ...q, from, to };
    });
}

