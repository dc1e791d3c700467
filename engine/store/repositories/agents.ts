/** Agents: a name, a status and a config (prompt, voice, LLM, tools, workflow…). */
import { agentConfigSchema, type AgentConfig } from '../../agents/agent-config.js';
import type { ProviderRole } from '../../agents/providers/provider-kinds.js';
import type { Db } from '../database.js';
import { jsonColumn } from '../json-column.js';
import type { Mode } from '../mode.js';
import type { Scope } from './scoped.js';
import { ScopedRepo, type RowMapping } from './scoped-repo.js';

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

const readConfig = jsonColumn(agentConfigSchema);

const mapping: RowMapping<Agent, Row> = {
  columns: ['id', 'tenant_id', 'mode', 'name', 'description', 'status', 'config', 'created_at', 'updated_at'],
  toObject: (r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    mode: r.mode,
    name: r.name,
    description: r.description,
    status: r.status,
    config: readConfig(r.config),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }),
  toRow: (a) => ({
    id: a.id,
    tenant_id: a.tenantId,
    mode: a.mode,
    name: a.name,
    description: a.description,
    status: a.status,
    config: JSON.stringify(a.config),
    created_at: a.createdAt,
    updated_at: a.updatedAt,
  }),
};

type AgentInput = Pick<Agent, 'name' | 'config'> & Partial<Pick<Agent, 'description' | 'status'>>;

export class AgentsRepo extends ScopedRepo<Agent, Row, AgentInput, { status: AgentStatus | null }> {
  readonly #usingTool;
  readonly #usingWorkflow;
  readonly #usingProvider;

  constructor(db: Db) {
    super(db, 'agents', mapping, { filters: { status: 'status = @status' } });
    this.#usingTool = db.prepare<[string, Mode, string], { id: string }>(
      `SELECT id FROM agents WHERE tenant_id = ? AND mode = ?
       AND EXISTS (SELECT 1 FROM json_each(config, '$.toolIds') WHERE value = ?) ORDER BY created_at, id`,
    );
    this.#usingWorkflow = db.prepare<[string, Mode, string], { id: string }>(
      `SELECT id FROM agents WHERE tenant_id = ? AND mode = ? AND config ->> '$.workflowId' = ? ORDER BY created_at, id`,
    );
    this.#usingProvider = db.prepare<[{ tenantId: string; mode: Mode; name: string }], { id: string; voice: number; transcriber: number; llm: number }>(
      `SELECT id, voice, transcriber, llm FROM (
         SELECT id, created_at,
           coalesce(config ->> '$.voice.provider' = @name, 0) AS voice,
           coalesce(config ->> '$.transcriber.provider' = @name, 0) AS transcriber,
           coalesce(config ->> '$.llm.provider' = @name, 0) AS llm
         FROM agents WHERE tenant_id = @tenantId AND mode = @mode)
       WHERE voice OR transcriber OR llm ORDER BY created_at, id`,
    );
  }

  create(scope: Scope, input: AgentInput): Agent {
    return this.insert(scope, { name: input.name, description: input.description ?? null, status: input.status ?? 'active', config: input.config });
  }

  /** Ids of the scope's agents whose config lists the tool. */
  usingTool(scope: Scope, toolId: string): string[] {
    return this.#usingTool.all(scope.tenantId, scope.mode, toolId).map((r) => r.id);
  }

  /** The scope's agents whose config names the provider, each with the keys that name it. */
  usingProvider(scope: Scope, name: string): { id: string; roles: ProviderRole[] }[] {
    return this.#usingProvider.all({ tenantId: scope.tenantId, mode: scope.mode, name }).map((r) => ({
      id: r.id,
      roles: (['voice', 'transcriber', 'llm'] as const).filter((k) => r[k]),
    }));
  }

  /** Ids of the scope's agents that run the workflow. */
  usingWorkflow(scope: Scope, workflowId: string): string[] {
    return this.#usingWorkflow.all(scope.tenantId, scope.mode, workflowId).map((r) => r.id);
  }
}
