/**
 * Tool definitions. The action (with a webhook's signing secret) is stored whole; the API
 * never returns the secret, only whether there is one.
 */
import type { JsonSchema } from '../../agents/json-schema.js';
import { toolActionSchema, toolParametersSchema, type ToolAction } from '../../agents/tool-definition.js';
import type { Db } from '../database.js';
import { newId, nowIso } from '../ids.js';
import type { Mode } from './api-keys.js';
import { definedOnly, ScopedTable, type Page, type Scope, type TimeRange } from './scoped.js';

export interface Tool {
  id: string;
  tenantId: string;
  mode: Mode;
  name: string;
  description: string;
  parameters: JsonSchema;
  action: ToolAction;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: string;
  tenant_id: string;
  mode: Mode;
  name: string;
  description: string;
  parameters: string;
  action: string;
  created_at: string;
  updated_at: string;
}

const toTool = (r: Row): Tool => ({
  id: r.id,
  tenantId: r.tenant_id,
  mode: r.mode,
  name: r.name,
  description: r.description,
  parameters: toolParametersSchema.parse(JSON.parse(r.parameters)),
  action: toolActionSchema.parse(JSON.parse(r.action)),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export type ToolInput = Pick<Tool, 'name' | 'parameters' | 'action'> & { description?: string };

export class ToolsRepo {
  readonly #table;
  readonly #insert;
  readonly #update;
  readonly #existing;
  readonly #getById;

  constructor(db: Db) {
    this.#table = new ScopedTable<Row, { type: ToolAction['type'] | null }>(db, 'tools', {
      filters: "AND (@type IS NULL OR action ->> '$.type' = @type)",
      filterDefaults: { type: null },
    });
    this.#insert = db.prepare(
      `INSERT INTO tools (id, tenant_id, mode, name, description, parameters, action, created_at, updated_at)
       VALUES (@id, @tenantId, @mode, @name, @description, @parameters, @action, @createdAt, @updatedAt)`,
    );
    this.#update = db.prepare(
      `UPDATE tools SET name = @name, description = @description, parameters = @parameters, action = @action,
       updated_at = @updatedAt WHERE id = @id AND tenant_id = @tenantId AND mode = @mode`,
    );
    this.#existing = db.prepare<[string, Mode, string], { id: string }>(
      'SELECT id FROM tools WHERE tenant_id = ? AND mode = ? AND id IN (SELECT value FROM json_each(?))',
    );
    this.#getById = db.prepare<[string], Row>('SELECT * FROM tools WHERE id = ?');
  }

  /** Throws a UNIQUE violation (see `isUniqueViolation`) when the name is taken in the scope. */
  create(scope: Scope, input: ToolInput): Tool {
    const now = nowIso();
    const t: Tool = {
      id: newId(),
      tenantId: scope.tenantId,
      mode: scope.mode,
      name: input.name,
      description: input.description ?? '',
      parameters: input.parameters,
      action: input.action,
      createdAt: now,
      updatedAt: now,
    };
    this.#insert.run(this.#bind(t));
    return t;
  }

  get(scope: Scope, id: string): Tool | undefined {
    const r = this.#table.get(scope, id);
    return r && toTool(r);
  }

  /** Any tenant's tool, for the runtime. */
  getById(id: string): Tool | undefined {
    const r = this.#getById.get(id);
    return r && toTool(r);
  }

  list(scope: Scope, filters: TimeRange & { type?: ToolAction['type'] }, limit: number, offset: number): Page<Tool> {
    const { rows, total } = this.#table.page(scope, filters, limit, offset);
    return { items: rows.map(toTool), total };
  }

  /** Replaces the given fields; throws a UNIQUE violation on a taken name. */
  update(scope: Scope, id: string, patch: Partial<ToolInput>): Tool | undefined {
    const cur = this.get(scope, id);
    if (!cur) return undefined;
    const next: Tool = { ...cur, ...definedOnly(patch), updatedAt: nowIso() };
    this.#update.run(this.#bind(next));
    return next;
  }

  delete(scope: Scope, id: string): boolean {
    return this.#table.delete(scope, id);
  }

  /** Which of `ids` are tools of the scope. */
  existing(scope: Scope, ids: readonly string[]): Set<string> {
    if (ids.length === 0) return new Set();
    return new Set(this.#existing.all(scope.tenantId, scope.mode, JSON.stringify(ids)).map((r) => r.id));
  }

  #bind(t: Tool) {
    return { ...t, parameters: JSON.stringify(t.parameters), action: JSON.stringify(t.action) };
  }
}
