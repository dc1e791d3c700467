/**
 * Events that leave the process (WebSocket, SSE, webhooks): stable names, one zod schema each.
 * Factories build them, so an event's shape is written once.
 */
import { z } from 'zod';
import { modes } from '../store/mode.js';
import { endReasons, hangupParties } from '../calls/call-record.js';

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
  'call.agent_said': z.object({ ...callRef, text: z.string(), interrupted: z.boolean().optional() }),
  'call.workflow_step': z.object({ ...callRef, nodeId: z.string(), kind: z.string() }),
  'call.error': z.object({ ...callRef, source: z.string(), code: z.string(), message: z.string() }),
  'call.tool_called': z.object({ ...callRef, toolId: z.string(), name: z.string(), arguments: z.unknown() }),
  'call.tool_result': z.object({ ...callRef, toolId: z.string(), ok: z.boolean(), result: z.unknown() }),
  'call.transfer_started': z.object({ ...callRef, target: z.string() }),
  'call.transfer_completed': z.object({ ...callRef, target: z.string() }),
  'call.transfer_failed': z.object({ ...callRef, target: z.string(), reason: z.string() }),
  'call.held': z.object({ ...callRef }),
  'call.resumed': z.object({ ...callRef }),
  'call.ended': z.object({
    ...callRef,
    endReason: z.enum(endReasons),
    hangupBy: z.enum(hangupParties).nullable(),
    durationMs: z.number().int().nullable(),
    rtp: z.record(z.string(), z.number()).optional(),
    sipCode: z.number().int().optional().meta({ description: 'Outbound calls, and calls to a number that rings a SIP user: the final SIP status the far end sent (486, 603, 200…), when one came' }),
  }),
  'agent.updated': z.object({ agentId: z.string() }),
} as const;

export type EventType = keyof typeof eventDataSchemas;
export const eventTypes = Object.keys(eventDataSchemas) as EventType[];
export type EventData<T extends EventType> = z.infer<(typeof eventDataSchemas)[T]>;

/**
 * What this version does with each type: `emitted` types have a producer and say when they come;
 * `reserved` types have a fixed shape but nothing sends them yet (the agent runtime, DTMF
 * reporting and hold reporting do not exist yet). The OpenAPI document says which is
 * which, and stream filters accept only emitted types, so a client cannot wait for an event that
 * cannot come. A test checks that the emitted list and the code's `append` calls agree.
 */
export const eventStatus = {
  'call.started': {
    emitted: 'when an inbound INVITE is routed to a number (or a SIP user’s INVITE to an agent or number, or to another user whose devices the engine bridges: direction `web`) and its call is recorded, before any answer; for an outbound call, when `POST /api/v1/calls` records it (status `queued`)',
  },
  'call.ringing': { emitted: 'when 180 Ringing is sent (only with `AS_SIP_RING_MS` > 0); for an outbound call, or a call to a number that rings a SIP user, at the first 180 or 183 from the far end' },
  'call.answered': { emitted: 'when the 200 OK is sent; for an outbound call, when the far end’s 200 OK is received (and ACKed)' },
  'call.dtmf': { emitted: 'when the caller presses a key on a call that runs an agent (RFC 4733 or SIP INFO)' },
  'call.speech_started': { emitted: 'when voice activity detection hears the caller start speaking (agent calls)' },
  'call.transcript': { emitted: 'for the caller’s speech as the agent’s transcriber returns it: finals, and partials at most every 500 ms' },
  'call.agent_said': { emitted: 'when the agent has finished saying something (`interrupted` when the caller cut it short)' },
  'call.workflow_step': { emitted: 'when the agent’s workflow enters a node (the path the call takes)' },
  'call.error': { emitted: 'when a provider, tool or workflow step fails on the call; the call goes on (also in the error log)' },
  'call.tool_called': { emitted: 'when the agent calls a tool (workflow tool node or the LLM)' },
  'call.tool_result': { emitted: 'when a tool the agent called returns or fails' },
  'call.transfer_started': { emitted: 'when a blind transfer of a live call starts, before its REFER is sent' },
  'call.transfer_completed': {
    emitted: "when a transfer succeeded: the caller's side reported a 2xx from the target (NOTIFY after REFER; the call then ends `transferred`), or the engine's own call to the target was answered and bridged",
  },
  'call.transfer_failed': {
    emitted: 'when a transfer failed (the target refused, was busy or did not answer, no final NOTIFY in 30 s, or the call ended first); the call goes on',
  },
  'call.held': { reserved: 'hold and unhold re-INVITEs are answered but not reported as events yet' },
  'call.resumed': { reserved: 'hold and unhold re-INVITEs are answered but not reported as events yet' },
  'call.ended': { emitted: 'when the call ends, however it ends (after the call row is closed)' },
  'agent.updated': { emitted: 'after a successful `PATCH /api/v1/agents/{id}`' },
} as const satisfies Record<EventType, { emitted: string } | { reserved: string }>;

type EmittedOf<K> = K extends EventType ? ((typeof eventStatus)[K] extends { emitted: string } ? K : never) : never;
/** The types this version sends. */
export type EmittedEventType = EmittedOf<EventType>;
export const emittedEventTypes = eventTypes.filter((t) => 'emitted' in eventStatus[t]) as EmittedEventType[];
/** The types documented for later versions, not sent by this one. */
const reservedEventTypes = eventTypes.filter((t) => 'reserved' in eventStatus[t]);

/** The OpenAPI description of one type: when it comes, or that it does not come yet. */
function eventDescription(type: EventType): string {
  const s: { emitted: string } | { reserved: string } = eventStatus[type];
  return 'emitted' in s ? `Sent ${s.emitted}.` : `Reserved: not sent by this version (${s.reserved}). Stream filters refuse it.`;
}

/** An event as stored and as sent: its log id, type, scope and data. */
export const eventSchema = z
  .object({
    id: z.number().int().positive(),
    type: z.enum(eventTypes as [EventType, ...EventType[]]),
    tenantId: z.string().nullable(),
    mode: z.enum(modes),
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
      mode: z.enum(modes),
      callId: z.string().nullable(),
      createdAt: z.string(),
      data: eventDataSchemas[type],
    })
    .meta({
      id: componentName(type),
      description: eventDescription(type),
      'x-emitted': 'emitted' in eventStatus[type],
    });

/** One schema per event type, with its data typed: what WebSocket and SSE clients receive. */
const typedEventSchemas = eventTypes.map(typedEvent);

/** Any event as it leaves the process, discriminated by `type` (published in the OpenAPI document). */
export const realtimeEventSchema = z
  .discriminatedUnion('type', typedEventSchemas as unknown as [ReturnType<typeof typedEvent>, ...ReturnType<typeof typedEvent>[]])
  .meta({
    id: 'RealtimeEvent',
    description:
      'An event from the event log, as WebSocket and SSE clients receive it. Sent in this version: ' +
      `${emittedEventTypes.join(', ')}. Reserved (documented, not sent yet; filters refuse them): ` +
      `${reservedEventTypes.join(', ')}. Each component says which it is (\`x-emitted\`).`,
  });
