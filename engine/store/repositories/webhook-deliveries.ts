/**
 * The webhook delivery log: one row per (subscription, event), its state (`pending` until it
 * succeeds or its tries run out), and each try in `webhook_delivery_attempts`. The event log's
 * writer queues rows inside the event's own transaction (`enqueue`); the dispatcher takes due
 * rows (`due`), leases them while a request is out, and records each outcome.
 */
import { transactionRunner, type Db } from '../database.js';
import { newId, nowIso } from '../ids.js';
import type { Mode } from '../mode.js';
import type { Scope } from './scoped.js';
import { ScopedRepo, type RowMapping } from './scoped-repo.js';

export const deliveryStatuses = ['pending', 'succeeded', 'failed'] as const;
export type DeliveryStatus = (typeof deliveryStatuses)[number];

export interface WebhookDelivery {
  id: string;
  tenantId: string;
  mode: Mode;
  webhookId: string;
  eventId: number;
  eventType: string;
  callId: string | null;
  /** The body sent: the event as JSON text. */
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  /** Tries since the row was queued or redelivered: the retry budget is counted on these. */
  roundAttempts: number;
  /** Unix ms of the next try (or of a lease's end while one is out); null once done, and while it waits behind an earlier pending delivery of its call. */
  nextAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
  deliveredAt: string | null;
}

/** One try: the HTTP status the receiver answered, or why there was none. */
export interface DeliveryAttempt {
  n: number;
  startedAt: string;
  durationMs: number;
  httpStatus: number | null;
  error: string | null;
  /** The start of the response body (at most 1 KB). */
  response: string | null;
}

interface Row {
  id: string;
  tenant_id: string;
  mode: Mode;
  webhook_id: string;
  event_id: number;
  event_type: string;
  call_id: string | null;
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  round_attempts: number;
  next_attempt_at: number | null;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  delivered_at: string | null;
}

interface AttemptRow {
  n: number;
  started_at: string;
  duration_ms: number;
  http_status: number | null;
  error: string | null;
  response: string | null;
}

const mapping: RowMapping<WebhookDelivery, Row> = {
  columns: [
    'id', 'tenant_id', 'mode', 'webhook_id', 'event_id', 'event_type', 'call_id', 'payload', 'status', 'attempts', 'round_attempts',
    'next_attempt_at', 'last_status', 'last_error', 'created_at', 'updated_at', 'delivered_at',
  ],
  toObject: (r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    mode: r.mode,
    webhookId: r.webhook_id,
    eventId: r.event_id,
    eventType: r.event_type,
    callId: r.call_id,
    payload: r.payload,
    status: r.status,
    attempts: r.attempts,
    roundAttempts: r.round_attempts,
    nextAttemptAt: r.next_attempt_at,
    lastStatus: r.last_status,
    lastError: r.last_error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    deliveredAt: r.delivered_at,
  }),
  toRow: (d) => ({
    id: d.id,
    tenant_id: d.tenantId,
    mode: d.mode,
    webhook_id: d.webhookId,
    event_id: d.eventId,
    event_type: d.eventType,
    call_id: d.callId,
    payload: d.payload,
    status: d.status,
    attempts: d.attempts,
    round_attempts: d.roundAttempts,
    next_attempt_at: d.nextAttemptAt,
    last_status: d.lastStatus,
    last_error: d.lastError,
    created_at: d.createdAt,
    updated_at: d.updatedAt,
    delivered_at: d.deliveredAt,
  }),
};

/** What the writer knows of an event when it queues it. */
export interface QueuedEvent {
  id: number;
  type: string;
  callId: string | null;
  /** The body to send. */
  payload: string;
}

/** How one try ended, as the dispatcher records it. */
export interface AttemptOutcome {
  startedAt: string;
  durationMs: number;
  httpStatus: number | null;
  error: string | null;
  response: string | null;
  /** `succeeded`, `failed` (no tries left) or `pending` with the next try's time. */
  next: { status: 'succeeded' } | { status: 'failed' } | { status: 'pending'; at: number };
}

/**
 * Pending rows whose time has come, whose subscription is enabled and not `busy` (a JSON array of
 * subscription ids the dispatcher has enough requests out for). Per-call order needs no check
 * here: of a call's pending rows for one subscription only the head has a due time (the others
 * wait with NULL, outside the index's range), and finishing the head promotes the next
 * (`enqueue`, `record`; migration 0014 says why).
 */
const dueWhere = `d.status = 'pending' AND d.next_attempt_at <= @now
  AND d.webhook_id NOT IN (SELECT value FROM json_each(@busy))
  AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id AND w.enabled = 1)`;

export class WebhookDeliveriesRepo extends ScopedRepo<WebhookDelivery, Row, Partial<WebhookDelivery>, { webhookId: string; status: DeliveryStatus | null }> {
  readonly #tx: <T>(fn: () => T) => T;
  readonly #due;
  readonly #nextDue;
  readonly #lease;
  readonly #attempt;
  readonly #finish;
  readonly #attempts;
  readonly #redeliver;
  readonly #pending;
  readonly #prune;
  readonly #chainHasPending;
  readonly #promote;

  constructor(db: Db) {
    super(db, 'webhook_deliveries', mapping, {
      filters: { webhookId: 'webhook_id = @webhookId', status: 'status = @status' },
      order: 'created_at DESC, id DESC',
    });
    this.#tx = transactionRunner(db);
    this.#chainHasPending = db
      .prepare<[string, string], number>("SELECT 1 FROM webhook_deliveries WHERE status = 'pending' AND webhook_id = ? AND call_id = ? LIMIT 1")
      .pluck();
    // The next row of a call's chain becomes due, unless the chain still has a head (a
    // redelivered row can make a second one).
    this.#promote = db.prepare<{ now: number; webhookId: string; callId: string }>(
      `UPDATE webhook_deliveries SET next_attempt_at = @now WHERE id = (
         SELECT id FROM webhook_deliveries
         WHERE status = 'pending' AND webhook_id = @webhookId AND call_id = @callId AND next_attempt_at IS NULL
         ORDER BY event_id LIMIT 1)
       AND NOT EXISTS (
         SELECT 1 FROM webhook_deliveries
         WHERE status = 'pending' AND webhook_id = @webhookId AND call_id = @callId AND next_attempt_at IS NOT NULL)`,
    );
    this.#due = db.prepare<[{ now: number; limit: number; busy: string }], Row>(`SELECT d.* FROM webhook_deliveries d WHERE ${dueWhere} ORDER BY d.next_attempt_at, d.event_id LIMIT @limit`);
    // The soonest a pending row that nothing holds back may go (`now` far ahead: any time at all).
    this.#nextDue = db
      .prepare<[{ now: number; busy: string }], number | null>(`SELECT MIN(d.next_attempt_at) FROM webhook_deliveries d WHERE ${dueWhere}`)
      .pluck();
    this.#lease = db.prepare<[number, string]>("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ? AND status = 'pending'");
    this.#attempt = db.prepare<[string, number, string, number, number | null, string | null, string | null]>(
      'INSERT INTO webhook_delivery_attempts (delivery_id, n, started_at, duration_ms, http_status, error, response) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.#finish = db.prepare(
      `UPDATE webhook_deliveries SET status = @status, attempts = attempts + 1, round_attempts = round_attempts + 1,
         next_attempt_at = @next, last_status = @httpStatus, last_error = @error, updated_at = @now,
         delivered_at = CASE WHEN @status = 'succeeded' THEN @now ELSE delivered_at END
       WHERE id = @id RETURNING attempts, status, webhook_id, call_id`,
    );
    this.#attempts = db.prepare<[string], AttemptRow>('SELECT * FROM webhook_delivery_attempts WHERE delivery_id = ? ORDER BY n');
    this.#redeliver = db.prepare<[number, string, string, string, Mode, string]>(
      `UPDATE webhook_deliveries SET status = 'pending', round_attempts = 0, next_attempt_at = ?, updated_at = ?
       WHERE id = ? AND tenant_id = ? AND mode = ? AND webhook_id = ? AND status != 'pending'`,
    );
    this.#pending = db.prepare<[], number>("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'").pluck();
    this.#prune = db.prepare<[string, number]>(
      `DELETE FROM webhook_deliveries WHERE id IN (
         SELECT id FROM webhook_deliveries WHERE status != 'pending' AND updated_at < ? LIMIT ?)`,
    );
  }

  /**
   * Queues `event` for the subscription (inside the event's transaction): due at once, or, behind
   * a pending delivery of the same call, with no due time until that one finishes.
   */
  enqueue(scope: Scope, webhookId: string, event: QueuedEvent): WebhookDelivery {
    const waits = event.callId !== null && this.#chainHasPending.get(webhookId, event.callId) !== undefined;
    return this.insert(
      scope,
      {
        webhookId,
        eventId: event.id,
        eventType: event.type,
        callId: event.callId,
        payload: event.payload,
        status: 'pending',
        attempts: 0,
        roundAttempts: 0,
        nextAttemptAt: waits ? null : Date.now(),
        lastStatus: null,
        lastError: null,
        deliveredAt: null,
      },
      newId(),
    );
  }

  /** Up to `limit` rows due at `now`, soonest first, none of the `busy` subscriptions' (see `dueWhere`). */
  due(now: number, limit: number, busy: readonly string[] = []): WebhookDelivery[] {
    return this.#due.all({ now, limit, busy: JSON.stringify(busy) }).map(mapping.toObject);
  }

  /** When the next row that nothing holds back is due (Unix ms), or null when none is pending. */
  nextDue(busy: readonly string[] = []): number | null {
    return this.#nextDue.get({ now: Number.MAX_SAFE_INTEGER, busy: JSON.stringify(busy) }) as number | null;
  }

  /** Holds a pending row until `until` while its request is out. */
  lease(id: string, until: number): void {
    this.#lease.run(until, id);
  }

  /**
   * Records one try and the row's next state, in one transaction; a finished row of a call hands
   * its place to the next row of that call.
   */
  record(id: string, o: AttemptOutcome): void {
    this.#tx(() => {
      const next = o.next.status === 'pending' ? o.next.at : null;
      const r = this.#finish.get({ id, status: o.next.status, next, httpStatus: o.httpStatus, error: o.error, now: nowIso() }) as
        | { attempts: number; status: DeliveryStatus; webhook_id: string; call_id: string | null }
        | undefined;
      if (!r) return;
      this.#attempt.run(id, r.attempts, o.startedAt, o.durationMs, o.httpStatus, o.error, o.response);
      if (r.status !== 'pending' && r.call_id !== null) this.#promote.run({ now: Date.now(), webhookId: r.webhook_id, callId: r.call_id });
    });
  }

  /** Every try of a delivery, first first. */
  attempts(deliveryId: string): DeliveryAttempt[] {
    return this.#attempts.all(deliveryId).map((a) => ({
      n: a.n,
      startedAt: a.started_at,
      durationMs: a.duration_ms,
      httpStatus: a.http_status,
      error: a.error,
      response: a.response,
    }));
  }

  /** Queues a finished delivery again with a fresh retry budget; false when it is not the scope's or still pending. */
  redeliver(scope: Scope, webhookId: string, id: string): boolean {
    return this.#redeliver.run(Date.now(), nowIso(), id, scope.tenantId, scope.mode, webhookId).changes > 0;
  }

  /** Deletes up to `limit` finished deliveries last changed before `before` (ISO), with their tries; returns how many. */
  prune(before: string, limit: number): number {
    return this.#prune.run(before, limit).changes;
  }

  /** Rows still pending, every tenant (health and tests). */
  pendingCount(): number {
    return this.#pending.get() as number;
  }
}
