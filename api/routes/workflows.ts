/**
 * Workflows: CRUD of versioned graphs. Saving a different graph creates the next version
 * (`version` + 1); every version stays readable. The graph is validated on write (see
 * `engine/agents/workflow-graph.ts`), and its tool nodes must name tools, its play nodes audio
 * files, of the caller's tenant and mode. A workflow an agent runs cannot be deleted (`conflict`).
 */
import { z } from 'zod';
import { graphAudioFileRefs, graphToolRefs, workflowGraphSchema, type WorkflowGraph } from '../../engine/agents/workflow-graph.js';
import type { Scope } from '../../engine/store/repositories/scoped.js';
import type { Workflow, WorkflowSummary } from '../../engine/store/repositories/workflows.js';
import type { Store } from '../../engine/store/store.js';
import { AppError } from '../http/errors.js';
import { listQuery, page, paged, pageQuery } from '../http/pagination.js';
import { route, type RouteDef } from '../http/route.js';
import { access, editors } from './access.js';
import { crudRoutes, found, idParams, invalidBody, resourceShape, timestampsShape, withoutTenant } from './crud.js';

const name = z.string().trim().min(1).max(200);
const description = z.string().max(2000).nullable().optional();

const summaryShape = {
  ...resourceShape,
  name: z.string(),
  description: z.string().nullable(),
  version: z.number().int().meta({ description: 'The current version; each saved graph adds one' }),
  ...timestampsShape,
};
const workflowSummarySchema = z.object(summaryShape).meta({ id: 'WorkflowSummary' });
const workflowSchema = z.object({ ...summaryShape, graph: workflowGraphSchema }).meta({ id: 'Workflow' });

const versionSummarySchema = z
  .object({ workflowId: z.uuid(), version: z.number().int(), createdAt: z.iso.datetime() })
  .meta({ id: 'WorkflowVersionSummary' });
const versionSchema = z
  .object({ workflowId: z.uuid(), version: z.number().int(), graph: workflowGraphSchema, createdAt: z.iso.datetime() })
  .meta({ id: 'WorkflowVersion' });

const createBody = z.strictObject({ name, description, graph: workflowGraphSchema }).meta({ id: 'WorkflowCreate' });
const updateBody = z
  .strictObject({ name: name.optional(), description, graph: workflowGraphSchema.optional() })
  .meta({ id: 'WorkflowUpdate' });

/** Every tool node must name a tool of the scope, and every play node an audio file of it. */
function checkTools(store: Store, scope: Scope, graph: WorkflowGraph): void {
  const refs = graphToolRefs(graph);
  const known = store.tools.existing(scope, refs.map((r) => r.toolId));
  const missing = refs.filter((r) => !known.has(r.toolId)).map((r) => ({ path: ['graph', ...r.path], message: `Tool ${r.toolId} not found` }));
  const sounds = graphAudioFileRefs(graph);
  const stored = store.audioFiles.existing(scope, sounds.map((r) => r.audioFileId));
  for (const r of sounds) if (!stored.has(r.audioFileId)) missing.push({ path: ['graph', ...r.path], message: `Audio file ${r.audioFileId} not found` });
  if (missing.length) throw invalidBody(missing);
}

export function workflowRoutes(store: Store): RouteDef[] {
  const { read } = access('workflows', editors);
  return [
    ...crudRoutes({
      path: '/api/v1/workflows',
      tag: 'Workflows',
      names: { one: 'Workflow', many: 'Workflows', label: 'workflow' },
      access: access('workflows', editors),
      item: workflowSchema,
      listItem: workflowSummarySchema,
      createBody,
      updateBody,
      listQuery: listQuery('created_at', {}),
      errors: { remove: ['conflict'] },
      present: (w: Workflow) => withoutTenant(w),
      presentListItem: (w: WorkflowSummary) => withoutTenant(w),
      list: (auth, q) => store.workflows.list(auth, q, q.limit, q.offset),
      get: (auth, id) => store.workflows.get(auth, id),
      create: (auth, body) => {
        checkTools(store, auth, body.graph);
        return store.workflows.create(auth, body);
      },
      update: (auth, id, body) => {
        if (body.graph) checkTools(store, auth, body.graph);
        return store.workflows.update(auth, id, body);
      },
      remove: (auth, id) => {
        const agents = store.agents.usingWorkflow(auth, id);
        if (agents.length) throw new AppError('conflict', `Workflow is used by agent(s) ${agents.join(', ')}`);
        return store.workflows.delete(auth, id);
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/workflows/:id/versions',
      auth: read,
      summary: 'List the versions of a workflow, newest first',
      tags: ['Workflows'],
      operationId: 'listWorkflowVersions',
      params: idParams,
      query: pageQuery,
      response: page(versionSummarySchema, 'WorkflowVersionPage'),
      handler: ({ auth, params, query }) =>
        paged(found(store.workflows.versions(auth, params.id, query.limit, query.offset), 'workflow'), query),
    }),
    route({
      method: 'get',
      path: '/api/v1/workflows/:id/versions/:version',
      auth: read,
      summary: 'Get one version of a workflow, with its graph',
      tags: ['Workflows'],
      operationId: 'getWorkflowVersion',
      params: idParams.extend({ version: z.coerce.number().int().min(1) }),
      response: versionSchema,
      handler: ({ auth, params }) => found(store.workflows.version(auth, params.id, params.version), 'workflow version'),
    }),
  ];
}
