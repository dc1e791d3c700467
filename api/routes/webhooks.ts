/**
 * Webhooks: a tenant's subscriptions to event types, each POSTed to a URL and signed with the
 * subscription's secret, and the delivery log of each (`/api/v1/webhooks/{id}/deliveries`, with
 * redelivery).
 *
 * - `secret` is write-only, like a provider's key: generated when not given, returned only in the
 *   create answer (`WebhookCreated`), replaceable with PATCH, never listed nor logged.
 * - `eventTypes` are the types this version emits (a reserved type could never arrive); `agentId`
 *   limits the subscription to that agent's calls.
 * - Owners and admins write them (they send the tenant's call data out); every role reads them.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { emittedEventTypes, realtimeEventSchema } from '../../engine/events/schemas.js';
import { deliveryStatuses, type DeliveryAttempt, type WebhookDelivery } from '../../engine/store/repositories/webhook-deliveries.js';
import type { Webhook } from '../../engine/store/repositories/webhooks.js';
import type { Scope } from '../../engine/store/repositories/scoped.js';
import type { Store } from '../../engine/store/store.js';
import { AppError } from '../http/errors.js';
import { listQuery, page, paged } from '../http/pagination.js';
import { route, type RouteDef } from '../http/route.js';
import { access, managers } from './access.js';
import { crudRoutes, found, idParams, invalidBody, resourceShape, timestampsShape } from './crud.js';

/** What a receiver sees; the README and the OpenAPI document say the same. */
const deliveryDescription = [
  'Each matching event is POSTed to `url` as JSON: the event exactly as WebSocket and SSE clients get it',
  '(the `RealtimeEvent` schema: `id`, `type`, `tenantId`, `mode`, `callId`, `createdAt`, `data`). Headers:',
  '`X-AgentStudio-Timestamp` (Unix seconds), `X-AgentStudio-Signature: sha256=<hex HMAC-SHA256(secret,',
  '"<timestamp>.<raw body>")>` (the scheme of tool webhooks), `X-AgentStudio-Event` (the type),',
  '`X-AgentStudio-Delivery` (the delivery id: the same on every retry, dedupe on it) and',
  '`X-AgentStudio-Attempt` (1, 2, …). Verify the HMAC over the raw body bytes in constant time and',
  'refuse timestamps more than a few minutes old.',
  '',
  'A 2xx answer within the timeout (10 s by default) is success. Anything else (an error, a timeout, a',
  'redirect, another status) is retried with exponential backoff: by default 8 tries over about 64',
  'minutes (waits of 30 s, 1, 2, 4, 8, 16 and 32 min; `AS_WEBHOOKS_*` settings), then the delivery is',
  '`failed` (redeliver it through the API). A call\'s events reach a subscription in order: a later',
  'delivery of the call waits while an earlier one is pending. Deliveries are queued in the database',
  'with their event and survive a restart; delivery is at least once.',
].join('\n');

const url = z
  // A missing url keeps the mapper's "Field is required".
  .url({ protocol: /^https?$/, error: (iss) => (iss.input === undefined ? undefined : 'Must be an http or https URL') })
  .max(2048)
  .meta({ description: 'Where events are POSTed' });
const secret = z
  .string()
  .min(16, 'Must be at least 16 characters')
  .max(256)
  .regex(/^[\x21-\x7e]+$/, 'Must be printable ASCII without spaces')
  .meta({ description: 'HMAC-SHA256 key of the signature. Write-only: returned only when created, never listed nor logged' });
const eventTypes = z
  .array(z.enum(emittedEventTypes as [string, ...string[]]))
  .min(1)
  .max(emittedEventTypes.length)
  .refine((a) => new Set(a).size === a.length, 'Must not repeat a type')
  .meta({ description: `Event types to deliver (those this version sends): ${emittedEventTypes.join(', ')}` });
const agentId = z.uuid().nullable().meta({ description: "Only events of this agent's calls (and its `agent.updated`); null: every agent" });
const description = z.string().max(500).nullable().meta({ description: 'A note for people' });
const enabled = z.boolean().meta({ description: 'A disabled subscription queues nothing; its pending deliveries wait until it is enabled again' });

const createBody = z
  .strictObject({
    url,
    eventTypes,
    secret: secret.optional().meta({ description: 'Generated (`whsec_…`) when left out; shown only in the create answer' }),
    agentId: agentId.optional(),
    description: description.optional(),
    enabled: enabled.optional(),
  })
  .meta({ id: 'WebhookCreate' });
const updateBody = z
  .strictObject({
    url: url.optional(),
    eventTypes: eventTypes.optional(),
    secret: secret.optional().meta({ description: 'A new secret (rotation); leave out to keep the stored one' }),
    agentId: agentId.optional(),
    description: description.optional(),
    enabled: enabled.optional(),
  })
  .meta({ id: 'WebhookUpdate' });

const webhookSchema = z
  .object({
    ...resourceShape,
    url: z.string(),
    eventTypes: z.array(z.string()),
    agentId: z.string().nullable(),
    description: z.string().nullable(),
    enabled: z.boolean(),
    ...timestampsShape,
  })
  .meta({ id: 'Webhook', description: deliveryDescription });
const createdSchema = webhookSchema
  .extend({ secret: z.string().meta({ description: 'The signing secret; shown only in this response' }) })
  .meta({ id: 'WebhookCreated' });

const attemptSchema = z
  .object({
    n: z.number().int().positive(),
    startedAt: z.string(),
    durationMs: z.number().int(),
    httpStatus: z.number().int().nullable().meta({ description: "The receiver's status; null when there was no answer" }),
    error: z.string().nullable().meta({ description: 'Why there was no answer: `timeout: …`, `connection_refused: …`, `dns_error: …`, `network_error: …`, `outbound_refused: …` (an address the engine may not reach)' }),
    response: z.string().nullable().meta({ description: "The start of the receiver's answer (at most 1 KB)" }),
  })
  .meta({ id: 'WebhookAttempt' });

const deliverySchema = z
  .object({
    id: z.uuid().meta({ description: 'Sent as X-AgentStudio-Delivery' }),
    webhookId: z.uuid(),
    eventId: z.number().int(),
    eventType: z.string(),
    callId: z.string().nullable(),
    status: z.enum(deliveryStatuses).meta({ description: 'pending: queued or waiting to retry; succeeded: a 2xx came; failed: every try of the round failed' }),
    attempts: z.number().int().meta({ description: 'Tries so far, redeliveries included' }),
    nextAttemptAt: z.string().nullable().meta({ description: 'When the next try is due (pending only; null while the delivery waits behind an earlier pending delivery of the same call)' }),
    lastStatus: z.number().int().nullable(),
    lastError: z.string().nullable(),
    payload: realtimeEventSchema,
    attemptLog: z.array(attemptSchema),
    createdAt: z.string(),
    updatedAt: z.string(),
    deliveredAt: z.string().nullable(),
  })
  .meta({ id: 'WebhookDelivery' });

const deliveryParams = z.object({ id: z.uuid(), deliveryId: z.uuid() });

/** A generated secret: 256 random bits. */
const generateSecret = () => `whsec_${randomBytes(32).toString('base64url')}`;

/** Without the tenant id and the secret. */
const present = ({ tenantId: _, secret: _s, ...w }: Webhook) => w;

function presentDelivery(d: WebhookDelivery, attempts: DeliveryAttempt[]): z.infer<typeof deliverySchema> {
  return {
    id: d.id,
    webhookId: d.webhookId,
    eventId: d.eventId,
    eventType: d.eventType,
    callId: d.callId,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.status === 'pending' && d.nextAttemptAt !== null ? new Date(d.nextAttemptAt).toISOString() : null,
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    payload: JSON.parse(d.payload) as z.infer<typeof realtimeEventSchema>,
    attemptLog: attempts,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    deliveredAt: d.deliveredAt,
  };
}

/** A named agent must be the scope's. */
function checkAgent(store: Store, scope: Scope, id: string | null | undefined): void {
  if (id && !store.agents.get(scope, id)) throw invalidBody([{ path: ['agentId'], message: 'No such agent' }]);
}

/** `kick` wakes the dispatcher after a redelivery. */
export function webhookRoutes(store: Store, kick: () => void): RouteDef[] {
  const acc = access('webhooks', managers);
  const create = (auth: Scope, body: z.infer<typeof createBody>): Webhook => {
    checkAgent(store, auth, body.agentId);
    return store.webhooks.create(auth, { ...body, secret: body.secret ?? generateSecret() });
  };
  const crud = crudRoutes({
    path: '/api/v1/webhooks',
    tag: 'Webhooks',
    names: { one: 'Webhook', many: 'Webhooks', label: 'webhook' },
    access: acc,
    item: webhookSchema,
    listItem: webhookSchema,
    createBody,
    updateBody,
    listQuery: listQuery('created_at', { enabled: z.enum(['true', 'false']).optional().meta({ description: 'Only enabled (true) or disabled (false) ones' }) }),
    present,
    presentListItem: present,
    list: (auth, q) => store.webhooks.list(auth, { ...q, enabled: q.enabled === undefined ? undefined : Number(q.enabled === 'true') }, q.limit, q.offset),
    get: (auth, id) => store.webhooks.get(auth, id),
    create,
    update: (auth, id, body) => {
      checkAgent(store, auth, body.agentId);
      return store.webhooks.update(auth, id, body);
    },
    remove: (auth, id) => store.webhooks.delete(auth, id),
  });
  // The factory's create answers the stored shape; this one adds the secret, once.
  return [
    ...crud.filter((r) => r.operationId !== 'createWebhook'),
    route({
      method: 'post',
      path: '/api/v1/webhooks',
      auth: acc.write,
      summary: 'Create a webhook; the response holds its secret, shown this once',
      description: deliveryDescription,
      tags: ['Webhooks'],
      operationId: 'createWebhook',
      body: createBody,
      response: createdSchema,
      status: 201,
      idempotent: true,
      handler: ({ auth, body }) => {
        const created = create(auth, body);
        return { ...present(created), secret: created.secret };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/webhooks/:id/deliveries',
      auth: acc.read,
      summary: "A webhook's deliveries, newest first, each with its tries",
      tags: ['Webhooks'],
      operationId: 'listWebhookDeliveries',
      params: idParams,
      query: listQuery('created_at', { status: z.enum(deliveryStatuses).optional().meta({ description: 'Only deliveries in this state' }) }),
      response: page(deliverySchema, 'WebhookDeliveryPage'),
      handler: ({ auth, params, query }) => {
        found(store.webhooks.get(auth, params.id), 'webhook');
        const r = store.webhookDeliveries.list(auth, { ...query, webhookId: params.id }, query.limit, query.offset);
        const items = r.items.map((d) => presentDelivery(d, store.webhookDeliveries.attempts(d.id)));
        return paged({ items, total: r.total }, query);
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/webhooks/:id/deliveries/:deliveryId/redeliver',
      auth: acc.write,
      summary: 'Queue a finished delivery again, at once, with a fresh round of tries',
      tags: ['Webhooks'],
      operationId: 'redeliverWebhookDelivery',
      params: deliveryParams,
      response: deliverySchema,
      status: 202,
      errors: ['conflict'],
      handler: ({ auth, params }) => {
        const d = store.webhookDeliveries.get(auth, params.deliveryId);
        if (!d || d.webhookId !== params.id) throw new AppError('not_found', 'No such delivery');
        if (!store.webhookDeliveries.redeliver(auth, params.id, d.id)) throw new AppError('conflict', 'The delivery is still pending');
        kick();
        const now = found(store.webhookDeliveries.get(auth, d.id), 'delivery');
        return presentDelivery(now, store.webhookDeliveries.attempts(d.id));
      },
    }),
  ];
}
