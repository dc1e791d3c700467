/**
 * Events that leave the process (WebSocket, SSE, webhooks): stable names, one zod schema each.
 * Factories build them, so an event's shape is written once.
 */
import { z } from 'zod';

const callRef = {
  callId: z.string(),
  agentId: z.string().nullable(),
};

const endpoint = z.object({ uri: z.string().nullable(), number: z.string().nullable() });

export const eventDataSchemas = {
  'call.started': z.object({
    ...callRef,
    direction: z.enum(['inbound', 'outbound', 'web']),
    from: endpoint,
    to: endpoint,
    trunkId: z.string().nullable(),
    sipCallId: z.string().nullable(),
  }),
  'call.ringing': z.object({ ...callRef }),
  'call.answered': z.object({ ...callRef, answeredAt: z.string() }),
  'call.dtmf': z.object({ ...callRef, digit: z.string(), durationMs: z.number().optional() }),
  'call.speech_started': z.object({ ...callRef }),
  'call.transcript': z.object({ ...callRef, role: z.enum(['user', 'agent']), text: z.string(), final: z.boolean() }),
  'call.agent_said': z.object({ ...callRef, text: z.string() }),
  'call.tool_called': z.object({ ...callRef, toolId: z.string(), name: z.string(), arguments: z.unknown() }),
  'call.tool_result': z.object({ ...callRef, toolId: z.string(), ok: z.boolean(), result: z.unknown() }),
  'call.transfer_started': z.object({ ...callRef, target: z.string() }),
  'call.transfer_completed': z.object({ ...callRef, target: z.string() }),
  'call.transfer_failed': z.object({ ...callRef, target: z.string(), reason: z.string() }),
  'call.held': z.object({ ...callRef }),
  'call.resumed': z.object({ ...callRef }),
  'call.ended': z.object({
    ...callRef,
    endReason: z.string(),
    hangupBy: z.enum(['caller', 'callee', 'agent', 'system']).nullable(),
    durationMs: z.number().int().nullable(),
    rtp: z.record(z.string(), z.number()).optional(),
  }),
  'agent.updated': z.object({ agentId: z.string() }),
} as const;

export type EventType = keyof typeof eventDataSchemas;
export const eventTypes = Object.keys(eventDataSchemas) as EventType[];
export type EventData<T extends EventType> = z.infer<(typeof eventDataSchemas)[T]>;

/** An event as stored and as sent: its log id, type, scope and data. */
export const eventSchema = z
  .object({
    id: z.number().int().positive(),
    type: z.enum(eventTypes as [EventType, ...EventType[]]),
    tenantId: z.string().nullable(),
    mode: z.enum(['live', 'test']),
    callId: z.string().nullable(),
    createdAt: z.string(),
    data: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'Event' });

export type StoredEvent = z.infer<typeof eventSchema>;

/** `call.transfer_started` -> `CallTransferStartedEvent`: the component name of one event type. */
const componentName = (type: string) =>
  `${type
    .split(/[._]/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('')}Event`;

const typedEvent = <T extends EventType>(type: T) =>
  z
    .object({
      id: z.number().int().positive().meta({ description: 'Position in the event log; resume after it with Last-Event-ID or lastEventId' }),
      type: z.literal(type),
      tenantId: z.string().nullable(),
      mode: z.enum(['live', 'test']),
      callId: z.string().nullable(),
      createdAt: z.string(),
      data: eventDataSchemas[type],
    })
    .meta({ id: componentName(type) });

/** One schema per event type, with its data typed: what WebSocket and SSE clients receive. */
export const typedEventSchemas = eventTypes.map(typedEvent);

/** Any event as it leaves the process, discriminated by `type` (published in the OpenAPI document). */
export const realtimeEventSchema = z
  .discriminatedUnion('type', typedEventSchemas as unknown as [ReturnType<typeof typedEvent>, ...ReturnType<typeof typedEvent>[]])
  .meta({ id: 'RealtimeEvent', description: 'An event from the event log, as WebSocket and SSE clients receive it' });
