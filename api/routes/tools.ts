/**
 * Tools: CRUD of definitions, plus `POST /tools/{id}/test`, which runs the action once.
 *
 * A webhook's `secret` is write-only: responses say `hasSecret`. On update, an action without
 * `secret` keeps the stored one, `"secret": null` removes it. Names are unique per tenant and
 * mode (`conflict`). A tool an agent or a workflow's current version uses cannot be deleted
 * (`conflict`).
 *
 * The test answers 200 whatever the webhook did: the outcome is data. `ok` is true for a 2xx
 * answer; otherwise `status`/`body` show what came back, or `error` says why nothing did
 * (`timeout`, `connection_refused`, `dns_error`, `network_error`, `outbound_refused`: the address is one the engine may not reach, see `AS_OUTBOUND_ALLOW_PRIVATE_NETWORKS`). Arguments that do not match
 * the tool's parameters are a `validation_error` (fields `arguments.<name>`), and nothing is sent.
 * The request leaves from the engine's own network, which is why only members and up may run it.
 */
import { z } from 'zod';
import {
  builtinActionSchema,
  builtinDescriptions,
  toolActionSchema,
  toolName,
  toolParametersSchema,
  webhookActionSchema,
  type ToolAction,
} from '../../engine/agents/tool-definition.js';
import { validateJson } from '../../engine/agents/json-schema.js';
import { invokeWebhook } from '../../engine/agents/webhook.js';
import type { Tool } from '../../engine/store/repositories/tools.js';
import type { Store } from '../../engine/store/store.js';
import { AppError } from '../http/errors.js';
import { listQuery } from '../http/pagination.js';
import { route, type RouteDef } from '../http/route.js';
import { access, editors } from './access.js';
import { crudRoutes, found, idParams, invalidBody, resourceShape, timestampsShape, unique } from './crud.js';

const publicWebhook = webhookActionSchema
  .omit({ secret: true })
  .extend({ hasSecret: z.boolean() })
  .meta({ id: 'WebhookActionOut' });

const toolSchema = z
  .object({
    ...resourceShape,
    name: z.string(),
    description: z.string(),
    parameters: toolParametersSchema,
    action: z.discriminatedUnion('type', [publicWebhook, builtinActionSchema]),
    ...timestampsShape,
  })
  .meta({ id: 'Tool' });

const description = z.string().max(2000);
/** A tool without arguments. */
const noParameters = { type: 'object' as const, properties: {} };

const createBody = z
  .strictObject({
    name: toolName,
    description: description.optional(),
    parameters: toolParametersSchema.optional().meta({ description: 'default: no arguments' }),
    action: toolActionSchema,
  })
  .meta({ id: 'ToolCreate' });
const updateBody = createBody.partial().meta({ id: 'ToolUpdate' });

const testBody = z
  .strictObject({ arguments: z.record(z.string(), z.unknown()).default({}) })
  .meta({ id: 'ToolTestRequest' });

const testResult = z
  .discriminatedUnion('type', [
    z.object({
      type: z.literal('webhook'),
      ok: z.boolean().meta({ description: 'true when the webhook answered 2xx' }),
      status: z.number().int().nullable(),
      headers: z.record(z.string(), z.string()).nullable(),
      body: z.unknown().meta({ description: 'Parsed when JSON, text otherwise; null when empty or no answer' }),
      truncated: z.boolean(),
      durationMs: z.number().int(),
      error: z
        .object({ code: z.enum(['timeout', 'connection_refused', 'dns_error', 'network_error', 'outbound_refused']), message: z.string() })
        .nullable(),
    }),
    z.object({ type: z.literal('builtin'), ok: z.literal(true), name: z.string(), description: z.string() }),
  ])
  .meta({ id: 'ToolTestResult' });

/** The tool without its tenant id and its webhook secret. */
function present({ tenantId: _, action, ...t }: Tool) {
  if (action.type !== 'webhook') return { ...t, action };
  const { secret, ...rest } = action;
  return { ...t, action: { ...rest, hasSecret: Boolean(secret) } };
}

/** Stores a webhook's secret only when there is one; `keep` is the stored action on update. */
function withSecret(action: ToolAction, keep?: ToolAction): ToolAction {
  if (action.type !== 'webhook') return action;
  const { secret, ...rest } = action;
  const kept = secret === undefined && keep?.type === 'webhook' ? keep.secret : secret;
  return kept ? { ...rest, secret: kept } : rest;
}

const taken = (name: string | undefined) => `A tool named "${name}" already exists`;

export function toolRoutes(store: Store): RouteDef[] {
  const rights = access('tools', editors);
  return [
    ...crudRoutes({
      path: '/api/v1/tools',
      tag: 'Tools',
      names: { one: 'Tool', many: 'Tools', label: 'tool' },
      access: rights,
      item: toolSchema,
      listItem: toolSchema,
      createBody,
      updateBody,
      listQuery: listQuery('created_at', { type: z.enum(['webhook', 'builtin']).optional() }),
      errors: { create: ['conflict'], update: ['conflict'], remove: ['conflict'] },
      present,
      presentListItem: present,
      list: (auth, q) => store.tools.list(auth, q, q.limit, q.offset),
      get: (auth, id) => store.tools.get(auth, id),
      create: (auth, body) => {
        const input = { ...body, parameters: body.parameters ?? noParameters, action: withSecret(body.action) };
        return unique(() => store.tools.create(auth, input), taken(body.name));
      },
      update: (auth, id, body) => {
        const cur = store.tools.get(auth, id);
        if (!cur) return undefined;
        const patch = { ...body, action: body.action && withSecret(body.action, cur.action) };
        return unique(() => store.tools.update(auth, id, patch), taken(body.name));
      },
      remove: (auth, id) => {
        const users = [...store.agents.usingTool(auth, id).map((a) => `agent ${a}`), ...store.workflows.usingTool(auth, id).map((w) => `workflow ${w}`)];
        if (users.length) throw new AppError('conflict', `Tool is used by ${users.join(', ')}`);
        return store.tools.delete(auth, id);
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/tools/:id/test',
      auth: rights.write,
      summary: 'Run the tool once with sample arguments: a webhook is really called; a built-in says what it would do',
      tags: ['Tools'],
      operationId: 'testTool',
      params: idParams,
      body: testBody,
      response: testResult,
      handler: async ({ auth, params, body }) => {
        const tool = found(store.tools.get(auth, params.id), 'tool');
        const issues = validateJson(tool.parameters, body.arguments, ['arguments']);
        if (issues.length) throw invalidBody(issues);
        const { action } = tool;
        if (action.type === 'builtin') {
          return { type: 'builtin' as const, ok: true as const, name: action.name, description: builtinDescriptions[action.name] };
        }
        const r = await invokeWebhook({ action, tool: tool.name, arguments: body.arguments, callId: null });
        return 'error' in r
          ? { type: 'webhook' as const, ok: false, status: null, headers: null, body: null, truncated: false, durationMs: r.durationMs, error: r.error }
          : { type: 'webhook' as const, ...r, error: null };
      },
    }),
  ];
}
