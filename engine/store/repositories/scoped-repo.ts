/**
 * A plain tenant-owned repository: one domain object per row, written whole. A subclass names
 * the table, its columns and the mapping between row and object, adds `create` (with its
 * defaults) and its own queries; get, list, update and delete are the same for all.
 */
import type { Db } from '../database.js';
import { newId, nowIso } from '../ids.js';
import type { Mode } from '../mode.js';
import { definedOnly, ScopedTable, type Page, type Scope, type ScopedTableOptions, type TimeRange } from './scoped.js';

/** What every tenant-owned object has. */
interface Owned {
  id: string;
  tenantId: string;
  mode: Mode;
  createdAt: string;
  updatedAt: string;
}

/** Row ↔ object; `columns` are the table's columns, the keys of a row. */
export interface RowMapping<T, Row> {
  columns: readonly (keyof Row & string)[];
  toObject(r: Row): T;
  toRow(t: T): Row;
}

/** Columns an update never changes. */
const fixed = new Set(['id', 'tenant_id', 'mode', 'created_at']);

export abstract class ScopedRepo<T extends Owned, Row, Input extends Partial<T>, F extends Record<string, unknown> = Record<never, never>> {
  protected readonly table: ScopedTable<Row, F>;
  readonly #map: RowMapping<T, Row>;
  readonly #insert;
  readonly #update;
  readonly #getById;

  protected constructor(db: Db, name: string, map: RowMapping<T, Row>, opts: ScopedTableOptions<F> = {}) {
    this.table = new ScopedTable<Row, F>(db, name, opts);
    this.#map = map;
    const cols = map.columns;
    this.#insert = db.prepare<[Row]>(`INSERT INTO ${name} (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`);
    this.#update = db.prepare<[Row]>(
      `UPDATE ${name} SET ${cols.filter((c) => !fixed.has(c)).map((c) => `${c} = @${c}`).join(', ')}
       WHERE id = @id AND tenant_id = @tenant_id AND mode = @mode`,
    );
    this.#getById = db.prepare<[string], Row>(`SELECT * FROM ${name} WHERE id = ?`);
  }

  /**
   * Writes a new object in `scope`; may throw a UNIQUE violation (see `isUniqueViolation`). `id`
   * is given when something outside the row was named by it first (a stored file).
   */
  protected insert(scope: Scope, fields: Omit<T, keyof Owned>, id: string = newId()): T {
    const now = nowIso();
    const t = { ...fields, id, tenantId: scope.tenantId, mode: scope.mode, createdAt: now, updatedAt: now } as T;
    this.#insert.run(this.#map.toRow(t));
    return t;
  }

  /** The scope's object, or undefined (another tenant's or mode's is undefined too). */
  get(scope: Scope, id: string): T | undefined {
    const r = this.table.get(scope, id);
    return r && this.#map.toObject(r);
  }

  /** Any tenant's object, for the engine (a dialled number names its agent and trunk). */
  getById(id: string): T | undefined {
    const r = this.#getById.get(id);
    return r && this.#map.toObject(r);
  }

  list(scope: Scope, filters: Partial<F> & TimeRange, limit: number, offset: number): Page<T> {
    const { rows, total } = this.table.page(scope, filters, limit, offset);
    return { items: rows.map((r) => this.#map.toObject(r)), total };
  }

  /** Replaces the fields given; undefined when the object is not the scope's. May throw a UNIQUE violation. */
  update(scope: Scope, id: string, patch: Partial<Input>): T | undefined {
    const cur = this.get(scope, id);
    if (!cur) return undefined;
    const next: T = { ...cur, ...definedOnly(patch), updatedAt: nowIso() };
    this.#update.run(this.#map.toRow(next));
    return next;
  }

  delete(scope: Scope, id: string): boolean {
    return this.table.delete(scope, id);
  }
}
