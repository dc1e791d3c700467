/**
 * The event log: every event is written to the `events` table first (getting a monotonic id),
 * then announced to in-process subscribers (WebSocket, SSE, webhooks). A subscriber that
 * reconnects reads what it missed with `since(id)`, so nothing is lost between the two.
 */
import type { Logger } from '../../config/logger.js';
import { transactionRunner, type Db } from '../store/database.js';
import { nowIso } from '../store/ids.js';
import { eventDataSchemas, type EventData, type EventType, type StoredEvent } from './schemas.js';
import type { Mode } from '../store/mode.js';

interface EventScope {
  tenantId: string | null;
  mode: Mode;
  callId?: string | null;
}

type EventListener = (event: StoredEvent) => void;
/**
 * Runs inside the transaction that stores an event, before it commits: what it writes commits or
 * rolls back with the event (the webhook outbox). It must be quick and synchronous, and leave no
 * partial writes when it throws (see `#write`).
 */
export type EventWriter = (event: StoredEvent) => void;

interface Row {
  id: number;
  type: EventType;
  tenant_id: string | null;
  mode: Mode;
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
  readonly #writers = new Set<EventWriter>();
  readonly #db: Db;
  /** Runs a function in its own transaction: wrapped once, not per event. */
  readonly #inTransaction: <T>(fn: () => T) => T;
  /** Events stored inside `transaction()`, announced once it commits. */
  #pending: StoredEvent[] | null = null;

  constructor(
    db: Db,
    private readonly log: Logger,
    /**
     * Check each event's data against its schema before storing it. The factories' types already
     * guarantee it; the check guards tests and development, and costs a zod parse per event.
     */
    private readonly validate = true,
    /** Told how long each outermost `transaction()` took, in seconds, once it committed (metrics). */
    private readonly onCommit?: (seconds: number) => void,
  ) {
    this.#db = db;
    this.#inTransaction = transactionRunner(db);
    this.#insert = db.prepare<[string, string | null, string, string | null, string, string]>(
      'INSERT INTO events (type, tenant_id, mode, call_id, data, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.#since = db.prepare<[number, string, string, number], Row>(
      'SELECT * FROM events WHERE id > ? AND tenant_id = ? AND mode = ? ORDER BY id LIMIT ?',
    );
    this.#forCall = db.prepare<[string, string], Row>('SELECT * FROM events WHERE call_id = ? AND tenant_id = ? ORDER BY id');
  }

  /** Validates, persists, then announces (after the enclosing `transaction()`, if any). */
  append<T extends EventType>(type: T, scope: EventScope, data: EventData<T>): StoredEvent {
    const parsed = (this.validate ? eventDataSchemas[type].parse(data) : data) as Record<string, unknown>;
    const createdAt = nowIso();
    const callId = scope.callId ?? null;
    const store = (): StoredEvent => {
      const id = Number(
        this.#insert.run(type, scope.tenantId, scope.mode, callId, JSON.stringify(parsed), createdAt).lastInsertRowid,
      );
      const stored: StoredEvent = { id, type, tenantId: scope.tenantId, mode: scope.mode, callId, createdAt, data: parsed };
      for (const w of this.#writers) this.#write(w, stored);
      return stored;
    };
    // With writers, the event and what they write commit together (one transaction, or the caller's).
    const event = this.#writers.size === 0 || this.#db.inTransaction ? store() : this.#inTransaction(store);
    if (this.#pending) this.#pending.push(event);
    else this.#announce(event);
    return event;
  }

  /**
   * Runs `fn` in one database transaction (a row change and its event commit together, one
   * commit instead of two); events appended inside are announced after the commit, never before,
   * and not at all if it rolls back.
   */
  transaction<T>(fn: () => T): T {
    if (this.#pending) return fn(); // already inside one
    this.#pending = [];
    let events: StoredEvent[];
    let result: T;
    const t0 = this.onCommit ? performance.now() : 0;
    try {
      result = this.#inTransaction(fn);
      this.onCommit?.((performance.now() - t0) / 1000);
    } finally {
      events = this.#pending;
      this.#pending = null;
    }
    for (const e of events) this.#announce(e);
    return result;
  }

  /**
   * One writer: one that throws is logged, and the event is stored all the same (a webhook must
   * never cost a call its record). A writer that writes more than one row puts them in a
   * savepoint of its own (a nested `db.transaction`), so a throw leaves none of them; not paying
   * for a savepoint here keeps the common case, nothing to write, at one lookup.
   */
  #write(w: EventWriter, event: StoredEvent): void {
    try {
      w(event);
    } catch (err) {
      this.log.error({ err, eventId: event.id, type: event.type }, 'event writer threw');
    }
  }

  /** Adds a writer that runs in each event's transaction (see `EventWriter`). Returns its removal. */
  addWriter(writer: EventWriter): () => void {
    this.#writers.add(writer);
    return () => this.#writers.delete(writer);
  }

  #announce(event: StoredEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (err) {
        this.log.error({ err, eventId: event.id, type: event.type }, 'event listener threw');
      }
    }
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
  since(id: number, tenantId: string, mode: Mode, limit = 1000): StoredEvent[] {
    return this.#since.all(id, tenantId, mode, limit).map(toEvent);
  }

  /** A call's timeline. */
  forCall(tenantId: string, callId: string): StoredEvent[] {
    return this.#forCall.all(callId, tenantId).map(toEvent);
  }
}
