/**
 * What every tenant-owned table shares: rows belong to a tenant and a mode, and a caller sees
 * only its own. `ScopedTable` prepares the scoped get, delete and paged list once; each
 * repository adds its own columns, filters and JSON parsing.
 */
import type { Db } from '../database.js';
import type { Mode } from './api-keys.js';

/** Whose rows: the caller's tenant and mode (an AuthContext satisfies it). */
export interface Scope {
  readonly tenantId: string;
  readonly mode: Mode;
}

/** One page of a list, before the API adds its window. */
export interface Page<T> {
  items: T[];
  total: number;
}

/** A time window on a list's time column: `from` inclusive, `to` exclusive, ISO text. */
export interface TimeRange {
  from?: string | undefined;
  to?: string | undefined;
}

export interface ScopedTableOptions<F extends Record<string, unknown>> {
  /** Extra `AND …` conditions with named parameters, e.g. `AND (@status IS NULL OR status = @status)`. */
  filters?: string;
  /** Every named parameter of `filters`, with its value when the caller omits it (null = no filter). */
  filterDefaults?: F;
  /** The column `from`/`to` bound. */
  timeColumn?: string;
  /** ORDER BY of lists; ends with a unique column so pages never overlap. */
  order?: string;
  /** SELECT list of lists (default `*`): lists may leave out heavy columns that `get` returns. */
  listColumns?: string;
}

export class ScopedTable<Row, F extends Record<string, unknown> = Record<never, never>, ListRow = Row> {
  readonly #get;
  readonly #delete;
  readonly #list;
  readonly #count;
  readonly #defaults: Record<string, unknown>;

  constructor(db: Db, table: string, opts: ScopedTableOptions<F> = {}) {
    const time = opts.timeColumn ?? 'created_at';
    const where = `tenant_id = @tenantId AND mode = @mode
      AND (@from IS NULL OR ${time} >= @from) AND (@to IS NULL OR ${time} < @to) ${opts.filters ?? ''}`;
    this.#get = db.prepare<[{ id: string; tenantId: string; mode: Mode }], Row>(
      `SELECT * FROM ${table} WHERE id = @id AND tenant_id = @tenantId AND mode = @mode`,
    );
    this.#delete = db.prepare<[{ id: string; tenantId: string; mode: Mode }]>(
      `DELETE FROM ${table} WHERE id = @id AND tenant_id = @tenantId AND mode = @mode`,
    );
    this.#list = db.prepare<[Record<string, unknown>], ListRow>(
      `SELECT ${opts.listColumns ?? '*'} FROM ${table} WHERE ${where} ORDER BY ${opts.order ?? 'created_at, id'} LIMIT @limit OFFSET @offset`,
    );
    this.#count = db.prepare<[Record<string, unknown>], { n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`);
    this.#defaults = { from: null, to: null, ...opts.filterDefaults };
  }

  get(scope: Scope, id: string): Row | undefined {
    return this.#get.get({ id, tenantId: scope.tenantId, mode: scope.mode });
  }

  delete(scope: Scope, id: string): boolean {
    return this.#delete.run({ id, tenantId: scope.tenantId, mode: scope.mode }).changes > 0;
  }

  /** A page of rows matching `filters` (omitted or undefined filters match everything). */
  page(scope: Scope, filters: Partial<F> & TimeRange, limit: number, offset: number): { rows: ListRow[]; total: number } {
    const params: Record<string, unknown> = { tenantId: scope.tenantId, mode: scope.mode, limit, offset };
    for (const k in this.#defaults) params[k] = (filters as Record<string, unknown>)[k] ?? this.#defaults[k];
    return { rows: this.#list.all(params), total: this.#count.get(params)!.n };
  }
}

/** True for a UNIQUE constraint failure (a name or number already taken). */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** The keys of `o` whose value is not undefined: a patch leaves the others alone. */
export function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
