/** Agents: a name, a status and a config (prompt, voice, LLM, tools, workflow…). */
import { agentConfigSchema, type AgentConfig } from '../../agents/agent-config.js';
import type { Db } from '../database.js';
import { newId, nowIso } from '../ids.js';
import type { Mode } from './api-keys.js';
import { definedOnly, ScopedTable, type Page, type Scope, type TimeRange } from './scoped.js';

export type AgentStatus = 'active' | 'inactive';

export interface Agent {
  id: string;
  tenantId: string;
  mode: Mode;
  name: string;
  description: string | null;
  status: AgentStatus;
  config: AgentConfig;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: string;
  tenant_id: string;
  mode: Mode;
  name: string;
  description: string | null;
  status: AgentStatus;
  config: string;
  created_at: string;
  updated_at: string;
}

const toAgent = (r: Row): Agent => ({
  id: r.id,
  tenantId: r.tenant_id,
  mode: r.mode,
  name: r.name,
  description: r.description,
  status: r.status,
  config: agentConfigSchema.parse(JSON.parse(r.config)),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export type AgentInput = Pick<Agent, 'name' | 'config'> & Partial<Pick<Agent, 'description' | 'status'>>;

export class AgentsRepo {
  readonly #table;
  readonly #insert;
  readonly #update;
  readonly #getById;
  readonly #usingTool;
  readonly #usingWorkflow;

  constructor(db: Db) {
    this.#table = new ScopedTable<Row, { status: AgentStatus | null }>(db, 'agents', {
      filters: 'AND (@status IS NULL OR status = @status)',
      filterDefaults: { status: null },
    });
    this.#insert = db.prepare(
      `INSERT INTO agents (id, tenant_id, mode, name, description, status, config, created_at, updated_at)
       VALUES (@id, @tenantId, @mode, @name, @description, @status, @config, @createdAt, @updatedAt)`,
    );
    this.#update = db.prepare(
      `UPDATE agents SET name = @name, description = @description, status = @status, config = @config,
       updated_at = @updatedAt WHERE id = @id AND tenant_id = @tenantId AND mode = @mode`,
    );
    this.#getById = db.prepare<[string], Row>('SELECT * FROM agents WHERE id = ?');
    this.#usingTool = db.prepare<[string, Mode, string], { id: string }>(
      `SELECT id FROM agents WHERE tenant_id = ? AND mode = ?
       AND EXISTS (SELECT 1 FROM json_each(config, '$.toolIds') WHERE value = ?) ORDER BY created_at, id`,
    );
    this.#usingWorkflow = db.prepare<[string, Mode, string], { id: string }>(
      `SELECT id FROM agents WHERE tenant_id = ? AND mode = ? AND config ->> '$.workflowId' = ? ORDER BY created_at, id`,
    );
  }

  create(scope: Scope, input: AgentInput): Agent {
    const now = nowIso();
    const a: Agent = {
      id: newId(),
      tenantId: scope.tenantId,
      mode: scope.mode,
      name: input.name,
      description: input.description ?? null,
      status: input.status ?? 'active',
      config: input.config,
      createdAt: now,
      updatedAt: now,
    };
    this.#insert.run({ ...a, config: JSON.stringify(a.config) });
    return a;
  }

  get(scope: Scope, id: string): Agent | undefined {
    const r = this.#table.get(scope, id);
    return r && toAgent(r);
  }

  /** Any tenant's agent, for call control (a dialled number names its agent). */
  getById(id: string): Agent | undefined {
    const r = this.#getById.get(id);
    return r && toAgent(r);
  }

  list(scope: Scope, filters: TimeRange & { status?: AgentStatus }, limit: number, offset: number): Page<Agent> {
    const { rows, total } = this.#table.page(scope, filters, limit, offset);
    return { items: rows.map(toAgent), total };
  }

  /** Replaces the given fields; undefined when the agent is not the scope's. */
  update(scope: Scope, id: string, patch: Partial<AgentInput>): Agent | undefined {
    const cur = this.get(scope, id);
    if (!cur) return undefined;
    const next: Agent = { ...cur, ...definedOnly(patch), updatedAt: nowIso() };
    this.#update.run({ ...next, config: JSON.stringify(next.config) });
    return next;
  }

  delete(scope: Scope, id: string): boolean {
    return this.#table.delete(scope, id);
  }

  /** Ids of the scope's agents whose config lists the tool. */
  usingTool(scope: Scope, toolId: string): string[] {
    return this.#usingTool.all(scope.tenantId, scope.mode, toolId).map((r) => r.id);
  }

  /** Ids of the scope's agents that run the workflow. */
  usingWorkflow(scope: Scope, workflowId: string): string[] {
    return this.#usingWorkflow.all(scope.tenantId, scope.mode, workflowId).map((r) => r.id);
  }
}

