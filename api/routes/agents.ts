/**
 * Agents: CRUD. `config.toolIds` and `config.workflowId` must name tools and workflows of the
 * caller's tenant and mode, and the providers the config names (`voice`, `transcriber`, `llm`)
 * providers of the caller's tenant and mode of a kind that serves them (`flite`, built in, for
 * the voice). An update's `config` is partial: each key given replaces the stored
 * one. Deleting an agent unassigns the phone numbers routed to it; its calls keep their history.
 *
 * A successful update appends `agent.updated` to the event log in the same transaction as the
 * row, so WebSocket and SSE clients (live or replaying) see every change, and never one that
 * was rolled back.
 */
import { z } from 'zod';
import { agentConfigPatchSchema, agentConfigSchema, clearableConfigKeys, kindIssues, maskedConfig, maskIssues, type AgentConfig, type AgentConfigPatch } from '../../engine/agents/agent-config.js';
import { BUILTIN_TTS, providerRoles, roleNeeds, servesRole } from '../../engine/agents/providers/provider-kinds.js';
import type { EventLog } from '../../engine/events/event-log.js';
import type { Agent } from '../../engine/store/repositories/agents.js';
import type { Scope } from '../../engine/store/repositories/scoped.js';
import type { Store } from '../../engine/store/store.js';
import { listQuery } from '../http/pagination.js';
import type { RouteDef } from '../http/route.js';
import { access, editors } from './access.js';
import { crudRoutes, invalidBody, resourceShape, timestampsShape, withoutTenant } from './crud.js';

/** What `status` does: call control refuses calls to an inactive agent's numbers. */
const STATUS_EFFECT = '`inactive`: calls to the agent’s numbers are refused (SIP 480 Temporarily Unavailable, with Reason and Warning) and each refusal is in the error log';
const agentStatus = z.enum(['active', 'inactive']).meta({ description: STATUS_EFFECT });
const name = z.string().trim().min(1).max(200);
const description = z.string().max(2000).nullable().optional();

const agentSchema = z
  .object({
    ...resourceShape,
    name: z.string(),
    description: z.string().nullable(),
    status: agentStatus,
    config: agentConfigSchema,
    ...timestampsShape,
  })
  .meta({ id: 'Agent' });

const createBody = z
  .strictObject({
    name,
    description,
    status: agentStatus.optional().meta({ description: `Default active. ${STATUS_EFFECT}` }),
    config: agentConfigSchema.prefault({} as z.input<typeof agentConfigSchema>),
  })
  .meta({ id: 'AgentCreate' });

const updateBody = z
  .strictObject({ name: name.optional(), description, status: agentStatus.optional(), config: agentConfigPatchSchema.optional() })
  .meta({ id: 'AgentUpdate' });

type Issue = { path: (string | number)[]; message: string };

/** Each provider the config names must be the scope's, of a kind that serves where it is named. */
function providerIssues(store: Store, scope: Scope, config: AgentConfigPatch): Issue[] {
  const issues: Issue[] = [];
  for (const role of Object.keys(providerRoles) as (keyof typeof providerRoles)[]) {
    const name = config[role]?.provider;
    if (name === undefined || (role === 'voice' && name === BUILTIN_TTS)) continue;
    const p = store.providers.byName(scope, name);
    const path = ['config', role, 'provider'];
    if (!p) issues.push({ path, message: `Provider "${name}" not found: ${role} needs ${roleNeeds(role)}` });
    else if (!servesRole(p.kind, role)) issues.push({ path, message: `Provider "${name}" is of kind ${p.kind}: ${role} needs ${roleNeeds(role)}` });
  }
  return issues;
}

/** A merged config without the keys an update cleared with null (the runtime's defaults apply). */
function withoutCleared(config: AgentConfigPatch & Pick<AgentConfig, 'prompt'>): AgentConfig {
  const out: Record<string, unknown> = { ...config };
  for (const k of clearableConfigKeys) if (out[k] === null) delete out[k];
  return out as AgentConfig;
}

/** Header values sent back masked (as answers show them) are refused. */
function refuseMask(config: AgentConfigPatch): void {
  const issues = maskIssues(config).map((i) => ({ ...i, path: ['config', ...i.path] }));
  if (issues.length) throw invalidBody(issues);
}

/** Tools, workflow and providers the config names must be the scope's. */
function checkReferences(store: Store, scope: Scope, config: AgentConfigPatch): void {
  const issues: Issue[] = providerIssues(store, scope, config);
  const toolIds = config.toolIds ?? [];
  const known = store.tools.existing(scope, toolIds);
  toolIds.forEach((id, i) => {
    if (!known.has(id)) issues.push({ path: ['config', 'toolIds', i], message: `Tool ${id} not found` });
  });
  if (config.workflowId && !store.workflows.get(scope, config.workflowId)) {
    issues.push({ path: ['config', 'workflowId'], message: `Workflow ${config.workflowId} not found` });
  }
  if (issues.length) throw invalidBody(issues);
}

export function agentRoutes(store: Store, events: EventLog): RouteDef[] {
  return crudRoutes({
    path: '/api/v1/agents',
    tag: 'Agents',
    names: { one: 'Agent', many: 'Agents', label: 'agent' },
    access: access('agents', editors),
    item: agentSchema,
    listItem: agentSchema,
    createBody,
    updateBody,
    listQuery: listQuery('created_at', { status: agentStatus.optional() }),
    present: (a: Agent) => withoutTenant({ ...a, config: maskedConfig(a.config) }),
    presentListItem: (a: Agent) => withoutTenant({ ...a, config: maskedConfig(a.config) }),
    list: (auth, q) => store.agents.list(auth, q, q.limit, q.offset),
    get: (auth, id) => store.agents.get(auth, id),
    create: (auth, body) => {
      refuseMask(body.config);
      checkReferences(store, auth, body.config);
      return store.agents.create(auth, body);
    },
    update: (auth, id, body) =>
      events.transaction(() => {
        const cur = store.agents.get(auth, id);
        if (!cur) return undefined;
        if (body.config) {
          refuseMask(body.config);
          checkReferences(store, auth, body.config);
        }
        const config = body.config && withoutCleared({ ...cur.config, ...body.config });
        // A kind's requirement is on the merged config (`kind` and `websocket` may come in different updates).
        const kindProblems = config ? kindIssues(config).map((i) => ({ ...i, path: ['config', ...i.path] })) : [];
        if (kindProblems.length) throw invalidBody(kindProblems);
        const updated = store.agents.update(auth, id, { ...body, config });
        if (updated) events.append('agent.updated', { tenantId: auth.tenantId, mode: auth.mode }, { agentId: updated.id });
        return updated;
      }),
    remove: (auth, id) => store.agents.delete(auth, id),
  });
}
