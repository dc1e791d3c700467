/**
 * Workflows and their versions. Every saved graph is a new row in `workflow_versions`, so a
 * call can record (and replay) the exact version it ran; `workflows.version` is the current one.
 */
import { workflowGraphSchema, type WorkflowGraph } from '../../agents/workflow-graph.js';
import { transactionRunner, type Db } from '../database.js';
import { newId, nowIso } from '../ids.js';
import type { Mode } from '../mode.js';
import { definedOnly, ScopedTable, type Page, type Scope, type TimeRange } from './scoped.js';

/** A workflow without its graph, as lists show it. */
export interface WorkflowSummary {
  id: string;
  tenantId: string;
  mode: Mode;
  name: string;
  description: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface Workflow extends WorkflowSummary {
  graph: WorkflowGraph;
}

interface WorkflowVersion {
  workflowId: string;
  version: number;
  graph: WorkflowGraph;
  createdAt: string;
}

interface Row {
  id: string;
  tenant_id: string;
  mode: Mode;
  name: string;
  description: string | null;
  version: number;
  created_at: string;
  updated_at: string;
}

interface VersionRow {
  workflow_id: string;
  version: number;
  graph: string;
  created_at: string;
}

const toSummary = (r: Row): WorkflowSummary => ({
  id: r.id,
  tenantId: r.tenant_id,
  mode: r.mode,
  name: r.name,
  description: r.description,
  version: r.version,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toVersion = (r: VersionRow): WorkflowVersion => ({
  workflowId: r.workflow_id,
  version: r.version,
  graph: workflowGraphSchema.parse(JSON.parse(r.graph)),
  createdAt: r.created_at,
});

interface WorkflowInput {
  name: string;
  description?: string | null;
  graph: WorkflowGraph;
}

export class WorkflowsRepo {
  readonly #table;
  readonly #insert;
  readonly #insertVersion;
  readonly #update;
  readonly #version;
  readonly #versions;
  readonly #versionCount;
  readonly #usingTool;
  readonly #usingAudioFile;
  readonly #tx;

  constructor(db: Db) {
    this.#table = new ScopedTable<Row>(db, 'workflows');
    this.#insert = db.prepare(
      `INSERT INTO workflows (id, tenant_id, mode, name, description, version, created_at, updated_at)
       VALUES (@id, @tenantId, @mode, @name, @description, @version, @createdAt, @updatedAt)`,
    );
    this.#insertVersion = db.prepare<[string, number, string, string]>(
      'INSERT INTO workflow_versions (workflow_id, version, graph, created_at) VALUES (?, ?, ?, ?)',
    );
    this.#update = db.prepare(
      `UPDATE workflows SET name = @name, description = @description, version = @version, updated_at = @updatedAt
       WHERE id = @id AND tenant_id = @tenantId AND mode = @mode`,
    );
    this.#version = db.prepare<[string, number], VersionRow>(
      'SELECT * FROM workflow_versions WHERE workflow_id = ? AND version = ?',
    );
    this.#versions = db.prepare<[string, number, number], Omit<VersionRow, 'graph'>>(
      'SELECT workflow_id, version, created_at FROM workflow_versions WHERE workflow_id = ? ORDER BY version DESC LIMIT ? OFFSET ?',
    );
    this.#versionCount = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM workflow_versions WHERE workflow_id = ?');
    this.#usingTool = db.prepare<[string, Mode, string], { id: string }>(
      `SELECT w.id FROM workflows w JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.version
       WHERE w.tenant_id = ? AND w.mode = ?
       AND EXISTS (SELECT 1 FROM json_each(v.graph, '$.nodes') n WHERE n.value ->> '$.toolId' = ?)
       ORDER BY w.created_at, w.id`,
    );
    this.#usingAudioFile = db.prepare<[string, Mode, string], { id: string }>(
      `SELECT w.id FROM workflows w JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.version
       WHERE w.tenant_id = ? AND w.mode = ?
       AND EXISTS (SELECT 1 FROM json_each(v.graph, '$.nodes') n WHERE n.value ->> '$.audioFileId' = ?)
       ORDER BY w.created_at, w.id`,
    );
    this.#tx = transactionRunner(db);
  }

  /** A new workflow at version 1. */
  create(scope: Scope, input: WorkflowInput): Workflow {
    const now = nowIso();
    const w: Workflow = {
      id: newId(),
      tenantId: scope.tenantId,
      mode: scope.mode,
      name: input.name,
      description: input.description ?? null,
      version: 1,
      graph: input.graph,
      createdAt: now,
      updatedAt: now,
    };
    this.#tx(() => {
      this.#insert.run(w);
      this.#insertVersion.run(w.id, 1, JSON.stringify(w.graph), now);
    });
    return w;
  }

  /** The workflow with its current graph. */
  get(scope: Scope, id: string): Workflow | undefined {
    const r = this.#table.get(scope, id);
    if (!r) return undefined;
    return { ...toSummary(r), graph: toVersion(this.#version.get(r.id, r.version)!).graph };
  }

  list(scope: Scope, filters: TimeRange, limit: number, offset: number): Page<WorkflowSummary> {
    const { rows, total } = this.#table.page(scope, filters, limit, offset);
    return { items: rows.map(toSummary), total };
  }

  /**
   * Renames and/or saves a new graph. A graph that differs from the current one becomes the next
   * version; the same graph again creates nothing.
   */
  update(scope: Scope, id: string, patch: Partial<WorkflowInput>): Workflow | undefined {
    return this.#tx(() => {
      const cur = this.get(scope, id);
      if (!cur) return undefined;
      const now = nowIso();
      const next: Workflow = { ...cur, ...definedOnly(patch), updatedAt: now };
      if (patch.graph && JSON.stringify(patch.graph) !== JSON.stringify(cur.graph)) {
        next.version = cur.version + 1;
        this.#insertVersion.run(id, next.version, JSON.stringify(patch.graph), now);
      }
      this.#update.run(next);
      return next;
    });
  }

  delete(scope: Scope, id: string): boolean {
    return this.#table.delete(scope, id);
  }

  /** The workflow's versions, newest first; undefined when the workflow is not the scope's. */
  versions(scope: Scope, id: string, limit: number, offset: number): Page<Omit<WorkflowVersion, 'graph'>> | undefined {
    if (!this.#table.get(scope, id)) return undefined;
    const items = this.#versions.all(id, limit, offset).map((r) => ({ workflowId: r.workflow_id, version: r.version, createdAt: r.created_at }));
    return { items, total: this.#versionCount.get(id)!.n };
  }

  /** One version of the scope's workflow. */
  version(scope: Scope, id: string, version: number): WorkflowVersion | undefined {
    if (!this.#table.get(scope, id)) return undefined;
    return this.versionById(id, version);
  }

  /** One version of any workflow, for the runtime (a call records the version it runs). */
  versionById(id: string, version: number): WorkflowVersion | undefined {
    const r = this.#version.get(id, version);
    return r && toVersion(r);
  }

  /** Ids of the scope's workflows whose current graph calls the tool. */
  usingTool(scope: Scope, toolId: string): string[] {
    return this.#usingTool.all(scope.tenantId, scope.mode, toolId).map((r) => r.id);
  }

  /** Workflows of the scope whose current version plays audio file `audioFileId`. */
  usingAudioFile(scope: Scope, audioFileId: string): string[] {
    return this.#usingAudioFile.all(scope.tenantId, scope.mode, audioFileId).map((r) => r.id);
  }
}
