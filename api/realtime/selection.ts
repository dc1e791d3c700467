/**
 * Which events a client wants. Tenant and mode are settled by who the client is (the hub only
 * hands it its own); inside them, an SSE stream filters by call, agent and type (all given must
 * hold), and a WebSocket subscribes to topics (an event is sent when any topic takes it):
 *
 * | topic         | events                                              |
 * |---------------|-----------------------------------------------------|
 * | `tenant`      | all of the tenant's (in the caller's mode)          |
 * | `agent:<id>`  | those whose `data.agentId` is the agent             |
 * | `call:<id>`   | those of the call (`callId`)                        |
 */
import { z } from 'zod';
import { emittedEventTypes, eventStatus, type EmittedEventType, type EventType, type StoredEvent } from '../../engine/events/schemas.js';

/** Whether a client wants an event. */
export type Selector = (e: StoredEvent) => boolean;

export const selectsNothing: Selector = () => false;

const agentOf = (e: StoredEvent): unknown => e.data.agentId;

/**
 * A type a filter may name: only those this version sends. A reserved type is refused with a
 * message saying so, rather than accepted and never matched.
 */
export const eventTypeSchema = z.enum(emittedEventTypes as [EmittedEventType, ...EmittedEventType[]], {
  error: (iss) => {
    const s = typeof iss.input === 'string' && Object.hasOwn(eventStatus, iss.input) ? eventStatus[iss.input as EventType] : undefined;
    return s && 'reserved' in s
      ? `${String(iss.input)} is reserved: not sent by this version (${s.reserved})`
      : `must be one of ${emittedEventTypes.join(', ')}`;
  },
});

/** An SSE stream's filter. */
export interface StreamFilter {
  callId?: string;
  agentId?: string;
  types?: readonly EventType[];
}

export function filterSelector(f: StreamFilter): Selector {
  const types = f.types?.length ? new Set(f.types) : null;
  return (e) =>
    (f.callId === undefined || e.callId === f.callId) &&
    (f.agentId === undefined || agentOf(e) === f.agentId) &&
    (types === null || types.has(e.type));
}

const idPart = '[A-Za-z0-9_-]{1,64}';
export const topicSchema = z
  .string()
  .regex(new RegExp(`^(tenant|agent:${idPart}|call:${idPart})$`), 'must be "tenant", "agent:<id>" or "call:<id>"')
  .meta({ description: '`tenant`, `agent:<agentId>` or `call:<callId>`' });

type Topic = z.infer<typeof topicSchema>;

function topicTakes(topic: Topic, e: StoredEvent): boolean {
  if (topic === 'tenant') return true;
  const colon = topic.indexOf(':');
  const id = topic.slice(colon + 1);
  return topic.startsWith('call:') ? e.callId === id : agentOf(e) === id;
}

/** A WebSocket's topics, each with the event types it is limited to (null: all). Immutable. */
export class TopicSet {
  static readonly empty = new TopicSet(new Map());

  private constructor(private readonly entries: ReadonlyMap<Topic, ReadonlySet<EventType> | null>) {}

  /** These topics (limited to `types`, when given) added, replacing the same topics' limits. */
  with(topics: readonly Topic[], types?: readonly EventType[]): TopicSet {
    const next = new Map(this.entries);
    const limit = types?.length ? new Set(types) : null;
    for (const t of topics) next.set(t, limit);
    return new TopicSet(next);
  }

  without(topics: readonly Topic[]): TopicSet {
    const next = new Map(this.entries);
    for (const t of topics) next.delete(t);
    return new TopicSet(next);
  }

  get topics(): Topic[] {
    return [...this.entries.keys()];
  }

  get selector(): Selector {
    const entries = [...this.entries];
    if (!entries.length) return selectsNothing;
    return (e) => entries.some(([topic, types]) => (types === null || types.has(e.type)) && topicTakes(topic, e));
  }
}
