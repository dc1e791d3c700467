/**
 * The reference's pagination: `?limit=20&offset=40` answers
 * `{"items":[…],"total":100,"limit":20,"offset":40}`.
 */
import { z } from 'zod';

/** Largest page; a bigger `limit` is a validation error rather than a silent cut. */
export const MAX_PAGE_SIZE = 100;
/** The reference's own example (`?limit=20`). */
export const DEFAULT_PAGE_SIZE = 20;

/** `limit` and `offset` query parameters, with the defaults and bounds above. */
export const paginationQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
  offset: z.coerce.number().int().min(0).default(0),
});

/** A page of `item`, named `id` in the OpenAPI document. */
export function pageOf<T extends z.ZodType>(item: T, id: string) {
  return z
    .object({
      items: z.array(item),
      total: z.number().int(),
      limit: z.number().int(),
      offset: z.number().int(),
    })
    .meta({ id });
}
