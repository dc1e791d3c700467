/**
 * Tool definitions. The action (with a webhook's signing secret) is stored whole; the API
 * never returns the secret, only whether there is one.
 */
import type { JsonSchema } from '../../agents/json-schema.js';
import { toolActionSchema, toolParametersSchema, type ToolAction } from '../../agents/tool-definition.js';
import type { Db } from '../database.js';
import type { Mode } from '../mode.js';
import type { Scope } from './scoped.js';
import { ScopedRepo, type RowMapping } from './scoped-repo.js';

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

const mapping: RowMapping<Tool, Row> = {
  columns: ['id', 'tenant_id', 'mode', 'name', 'description', 'parameters', 'action', 'created_at', 'updated_at'],
  toObject: (r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    mode: r.mode,
    name: r.name,
    description: r.description,
    parameters: toolParametersSchema.parse(JSON.parse(r.parameters)),
    action: toolActionSchema.parse(JSON.parse(r.action)),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }),
  toRow: (t) => ({
    id: t.id,
    tenant_id: t.tenantId,
    mode: t.mode,
    name: t.name,
    description: t.description,
    parameters: JSON.stringify(t.parameters),
    action: JSON.stringify(t.action),
    created_at: t.createdAt,
    updated_at: t.updatedAt,
  }),
};

type ToolInput = Pick<Tool, 'name' | 'parameters' | 'action'> & { description?: string };

/** Names are unique per tenant and mode: create and update throw a UNIQUE violation on a taken one. */
export class ToolsRepo extends ScopedRepo<Tool, Row, ToolInput, { type: ToolAction['type'] | null }> {
  readonly #existing;

  constructor(db: Db) {
    super(db, 'tools', mapping, {
      filters: { type: "action ->> '$.type' = @type" },
    });
    this.#existing = db.prepare<[string, Mode, string], { id: string }>(
      'SELECT id FROM tools WHERE tenant_id = ? AND mode = ? AND id IN (SELECT value FROM json_each(?))',
    );
  }

  create(scope: Scope, input: ToolInput): Tool {
    return this.insert(scope, { name: input.name, description: input.description ?? '', parameters: input.parameters, action: input.action });
  }

  /** Which of `ids` are tools of the scope. */
  existing(scope: Scope, ids: readonly string[]): Set<string> {
    if (ids.length === 0) return new Set();
    return new Set(this.#existing.all(scope.tenantId, scope.mode, JSON.stringify(ids)).map((r) => r.id));
  }
}
