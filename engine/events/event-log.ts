/**
 * The event log: every event is written to the `events` table first (getting a monotonic id),
 * then announced to in-process subscribers (WebSocket, SSE, webhooks). A subscriber that
 * reconnects reads what it missed with `since(id)`, so nothing is lost between the two.
 */
import type { Logger } from '../../config/logger.js';
import type { Db } from '../store/database.js';
import { nowIso } from '../store/ids.js';
import { eventDataSchemas, type EventData, type EventType, type StoredEvent } from './schemas.js';

export interface EventScope {
  tenantId: string | null;
  mode: 'live' | 'test';
  callId?: string | null;
}

export type EventListener = (event: StoredEvent) => void;

interface Row {
  id: number;
  type: EventType;
  tenant_id: string | null;
  mode: 'live' | 'test';
  call_id: string | null;
  data: string;
  created_at: string;
}

const toEvent = (r: Row): StoredEvent => ({
  id: r.id,
  type: r.type,
  tenantId: r.tenant_id,
  mode: r.mode,
  callId: r.call_id,
  createdAt: r.created_at,
  data: JSON.parse(r.data) as Record<string, unknown>,
});

export class EventLog {
  readonly #insert;
  readonly #since;
  readonly #forCall;
  readonly #listeners = new Set<EventListener>();

  constructor(
    db: Db,
    private readonly log: Logger,
  ) {
    this.#insert = db.prepare<[string, string | null, string, string | null, string, string]>(
      'INSERT INTO events (type, tenant_id, mode, call_id, data, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.#since = db.prepare<[number, string, string, number], Row>(
      'SELECT * FROM events WHERE id > ? AND tenant_id = ? AND mode = ? ORDER BY id LIMIT ?',
    );
    this.#forCall = db.prepare<[string, string], Row>('SELECT * FROM events WHERE call_id = ? AND tenant_id = ? ORDER BY id');
  }

  /** Validates, persists, then announces. Returns the stored event. */
  append<T extends EventType>(type: T, scope: EventScope, data: EventData<T>): StoredEvent {
    const parsed = eventDataSchemas[type].parse(data) as Record<string, unknown>;
    const createdAt = nowIso();
    const callId = scope.callId ?? null;
    const id = Number(
      this.#insert.run(type, scope.tenantId, scope.mode, callId, JSON.stringify(parsed), createdAt).lastInsertRowid,
    );
    const event: StoredEvent = { id, type, tenantId: scope.tenantId, mode: scope.mode, callId, createdAt, data: parsed };
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (err) {
        this.log.error({ err, eventId: id, type }, 'event listener threw');
      }
    }
    return event;
  }

  /** Live events from now on. Returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Subscribers listening now (leak checks in tests and health). */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** Events after `id` in a tenant and mode, oldest first (to resume a stream). */
  since(id: number, tenantId: string, mode: 'live' | 'test', limit = 1000): StoredEvent[] {
    return this.#since.all(id, tenantId, mode, limit).map(toEvent);
  }

  /** A call's timeline. */
  forCall(tenantId: string, callId: string): StoredEvent[] {
    return this.#forCall.all(callId, tenantId).map(toEvent);
  }
}
