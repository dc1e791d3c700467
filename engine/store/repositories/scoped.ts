/**
 * What every tenant-owned table shares: rows belong to a tenant and a mode, and a caller sees
 * only its own. `ScopedTable` prepares the scoped get and delete once, and the paged list once
 * per combination of filters in use; each repository adds its own columns, filters and JSON
 * parsing.
 */
import type Database from 'better-sqlite3';
import type { Db } from '../database.js';
import type { Mode } from '../mode.js';

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
  /**
   * Each filter's condition on its named parameter, e.g. `{ status: 'status = @status' }`. A
   * filter the caller leaves out (undefined or null) adds no condition at all.
   */
  filters?: { [K in keyof F]: string };
  /** The column `from`/`to` bound. */
  timeColumn?: string;
  /** ORDER BY of lists; ends with a unique column so pages never overlap. */
  order?: string;
  /** SELECT list of lists (default `*`): lists may leave out heavy columns that `get` returns. */
  listColumns?: string;
}

/** The page and count statements of one combination of filters. */
interface PageStatements<ListRow> {
  list: Database.Statement<[Record<string, unknown>], ListRow>;
  count: Database.Statement<[Record<string, unknown>], { n: number }>;
}

/** Totals remembered per table before the memory starts over. */
const MAX_REMEMBERED_TOTALS = 10_000;

export class ScopedTable<Row, F extends Record<string, unknown> = Record<never, never>, ListRow = Row> {
  readonly #get;
  readonly #delete;
  readonly #db: Db;
  readonly #table: string;
  readonly #opts: ScopedTableOptions<F>;
  /** `[parameter, condition]` of the time range and the filters; a page's mask has bit i for condition i. */
  readonly #conditions: (readonly [string, string])[];
  /**
   * Statements per mask, prepared on first use. Only the conditions a request uses are in its
   * SQL: `(@status IS NULL OR status = @status)` would make SQLite read every row of the scope
   * to count them, where `tenant_id = ? AND mode = ?` alone counts from the index.
   */
  readonly #pages: (PageStatements<ListRow> | undefined)[] = [];
  /** The table's version (migration 0005), when it has one: totals are then remembered per version. */
  readonly #version: Database.Statement<[], { version: number }> | null;
  /** Totals by filter combination and values, valid while the version is `#totalsVersion`. */
  #totals = new Map<string, number>();
  #totalsVersion = -1;

  constructor(db: Db, table: string, opts: ScopedTableOptions<F> = {}) {
    const time = opts.timeColumn ?? 'created_at';
    this.#db = db;
    this.#table = table;
    this.#opts = opts;
    this.#conditions = [
      ['from', `${time} >= @from`],
      ['to', `${time} < @to`],
      ...Object.entries<string>(opts.filters ?? {}),
    ];
    const versioned =
      db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'table_versions'").get() !== undefined &&
      db.prepare('SELECT 1 FROM table_versions WHERE name = ?').get(table) !== undefined;
    this.#version = versioned ? db.prepare<[], { version: number }>(`SELECT version FROM table_versions WHERE name = '${table}'`) : null;
    this.#get = db.prepare<[{ id: string; tenantId: string; mode: Mode }], Row>(
      `SELECT * FROM ${table} WHERE id = @id AND tenant_id = @tenantId AND mode = @mode`,
    );
    this.#delete = db.prepare<[{ id: string; tenantId: string; mode: Mode }]>(
      `DELETE FROM ${table} WHERE id = @id AND tenant_id = @tenantId AND mode = @mode`,
    );
  }

  get(scope: Scope, id: string): Row | undefined {
    return this.#get.get({ id, tenantId: scope.tenantId, mode: scope.mode });
  }

  delete(scope: Scope, id: string): boolean {
    return this.#delete.run({ id, tenantId: scope.tenantId, mode: scope.mode }).changes > 0;
  }

  /** A page of rows matching `filters` (omitted, undefined or null filters match everything). */
  page(scope: Scope, filters: Partial<F> & TimeRange, limit: number, offset: number): { rows: ListRow[]; total: number } {
    const params: Record<string, unknown> = { tenantId: scope.tenantId, mode: scope.mode, limit, offset };
    const given = filters as Record<string, unknown>;
    let mask = 0;
    for (let i = 0; i < this.#conditions.length; i++) {
      const name = this.#conditions[i]![0];
      const v = given[name];
      if (v === undefined || v === null) continue;
      params[name] = v;
      mask |= 1 << i;
    }
    const s = (this.#pages[mask] ??= this.#prepare(mask));
    return { rows: s.list.all(params), total: this.#total(s, mask, params) };
  }

  /** COUNT(*) of a page's scope and filters; remembered while the table's version stands. */
  #total(s: PageStatements<ListRow>, mask: number, params: Record<string, unknown>): number {
    if (!this.#version) return s.count.get(params)!.n;
    const version = this.#version.get()!.version;
    if (version !== this.#totalsVersion || this.#totals.size >= MAX_REMEMBERED_TOTALS) {
      this.#totals = new Map();
      this.#totalsVersion = version;
    }
    const values: unknown[] = [mask, params['tenantId'], params['mode']];
    for (const [name] of this.#conditions) if (name in params) values.push(params[name]);
    const key = JSON.stringify(values);
    let n = this.#totals.get(key);
    if (n === undefined) {
      n = s.count.get(params)!.n;
      this.#totals.set(key, n);
    }
    return n;
  }

  #prepare(mask: number): PageStatements<ListRow> {
    const where = ['tenant_id = @tenantId AND mode = @mode', ...this.#conditions.filter((_, i) => mask & (1 << i)).map(([, c]) => c)].join(' AND ');
    const { listColumns = '*', order = 'created_at, id' } = this.#opts;
    return {
      list: this.#db.prepare(`SELECT ${listColumns} FROM ${this.#table} WHERE ${where} ORDER BY ${order} LIMIT @limit OFFSET @offset`),
      count: this.#db.prepare(`SELECT COUNT(*) AS n FROM ${this.#table} WHERE ${where}`),
    };
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
