/**
 * Sends queued webhook deliveries: due rows from SQLite, at most `concurrency` requests out at
 * once (a quarter of them for any one subscription), each a signed JSON POST bounded by `timeoutMs`, its answer read at most 1 KB. Success is
 * a 2xx; anything else (network error, timeout, redirect, other status) is retried with
 * exponential backoff until `maxAttempts` tries, then the delivery is `failed`. Each try is
 * recorded. A delivery of a call waits while an earlier one of the same call and subscription is
 * pending (only the head of a call's pending rows is due: see the repository), so a receiver sees a
 * call's events in order.
 *
 * Nothing here runs on a call's path: the outbox only inserts rows and calls `kick()`. Every
 * failure, ours or the receiver's, becomes a recorded attempt or a log line, never a throw.
 * Pending rows survive a restart: `start()` picks them up. A try cut by a crash was never
 * recorded, so it is made again (at-least-once delivery; receivers dedupe on the delivery id).
 */
import type { Logger } from '../../config/logger.js';
import { outbound } from '../../lib/outbound-guard.js';
import type { Config } from '../../config/schema.js';
import { readCapped } from '../../lib/read-capped.js';
import { classify } from '../agents/webhook.js';
import { nowIso } from '../store/ids.js';
import type { AttemptOutcome, WebhookDelivery } from '../store/repositories/webhook-deliveries.js';
import type { Store } from '../store/store.js';
import { signatureHeaders } from './signature.js';

export type DispatcherSettings = Config['webhooks'];

/** Bytes of a receiver's answer kept in the attempt log: enough for an error message, never a download. */
const RESPONSE_EXCERPT_BYTES = 1024;
/**
 * A row is leased for the request's timeout plus this while its request is out, so a scan does
 * not take it twice; after a crash it becomes due again when the lease ends.
 */
const LEASE_MARGIN_MS = 5000;
/** Longest sleep of the wake-up timer: a clock jump or a row written by another process is noticed this soon. */
const MAX_SLEEP_MS = 60_000;
/** How often finished deliveries past their retention are deleted. */
const PRUNE_EVERY_MS = 60 * 60 * 1000;
/** Rows one prune step deletes: a short write, then the event loop is free again (the next step follows at once). */
const PRUNE_BATCH = 1000;
/** Retry of a scan that failed (a database error): soon, but never a hot loop. */
const SCAN_RETRY_MS = 1000;

/** Headers named like tool webhooks' (`X-AgentStudio-*`). */
const EVENT_HEADER = 'X-AgentStudio-Event';
const DELIVERY_HEADER = 'X-AgentStudio-Delivery';
const ATTEMPT_HEADER = 'X-AgentStudio-Attempt';

/** Wait before try `round + 1` after try `round` failed (round ≥ 1): base, doubling, capped. */
function retryDelayMs(settings: Pick<DispatcherSettings, 'retryBaseMs' | 'retryMaxMs'>, round: number): number {
  return Math.min(settings.retryBaseMs * 2 ** (round - 1), settings.retryMaxMs);
}

export class WebhookDispatcher {
  readonly #inFlight = new Map<string, Promise<void>>();
  /** Requests out per subscription. */
  readonly #perHook = new Map<string, number>();
  /**
   * Requests one subscription may have out at once: a quarter of the slots (at least one), so a
   * receiver that hangs for its whole timeout cannot hold every slot and stall other tenants.
   */
  readonly #share: number;
  readonly #stop = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  #scanQueued = false;
  #closed = false;

  constructor(
    private readonly store: Store,
    private readonly settings: DispatcherSettings,
    private readonly log: Logger,
    private readonly userAgent: string,
  ) {
    this.#share = Math.max(1, Math.floor(settings.concurrency / 4));
  }

  /** Sends what a previous run left pending, and whatever comes; prunes old deliveries now and hourly. */
  start(): void {
    const pending = this.store.webhookDeliveries.pendingCount();
    if (pending) this.log.info({ pending }, 'webhook deliveries pending from a previous run');
    this.kick();
    this.#pruneTimer = setInterval(() => void this.prune(), PRUNE_EVERY_MS);
    this.#pruneTimer.unref();
    void this.prune();
  }

  /**
   * Deletes finished deliveries older than `retentionDays`, in batches with the event loop free
   * between them. Resolves to the rows deleted. Never throws (a failure is logged).
   */
  async prune(now = Date.now()): Promise<number> {
    const before = new Date(now - this.settings.retentionDays * 86_400_000).toISOString();
    let total = 0;
    try {
      for (;;) {
        if (this.#closed) break;
        const n = this.store.webhookDeliveries.prune(before, PRUNE_BATCH);
        total += n;
        if (n < PRUNE_BATCH) break;
        await new Promise((r) => setImmediate(r));
      }
    } catch (err) {
      this.log.error({ err }, 'webhook deliveries not pruned');
    }
    if (total) this.log.info({ deleted: total, before }, 'webhook deliveries pruned');
    return total;
  }

  /** Looks for due deliveries soon (after the current transaction commits). Cheap to call often. */
  kick(): void {
    if (this.#closed || this.#scanQueued) return;
    this.#scanQueued = true;
    setImmediate(() => {
      this.#scanQueued = false;
      this.#scan();
    });
  }

  #scan(): void {
    if (this.#closed) return;
    try {
      let free = this.settings.concurrency - this.#inFlight.size;
      if (free > 0) {
        const rows = this.store.webhookDeliveries.due(Date.now(), free + this.#inFlight.size, this.#busy());
        for (const row of rows) {
          if (free === 0) break;
          // A row out already, or a subscription that reached its share within this scan.
          if (this.#inFlight.has(row.id) || (this.#perHook.get(row.webhookId) ?? 0) >= this.#share) continue;
          this.#send(row);
          free--;
        }
      }
      this.#arm();
    } catch (err) {
      this.log.error({ err }, 'webhook scan failed');
      this.#sleep(SCAN_RETRY_MS);
    }
  }

  /**
   * Sleeps until the next row is due; with every slot taken, a finishing request wakes it instead
   * (as it does for the rows of a subscription at its share, which `nextDue` leaves out).
   */
  #arm(): void {
    if (this.#inFlight.size >= this.settings.concurrency) return this.#sleep(MAX_SLEEP_MS);
    const next = this.store.webhookDeliveries.nextDue(this.#busy());
    this.#sleep(next === null ? MAX_SLEEP_MS : Math.max(next - Date.now(), 5));
  }

  /** Subscriptions with their share of requests out. */
  #busy(): string[] {
    const out: string[] = [];
    for (const [id, n] of this.#perHook) if (n >= this.#share) out.push(id);
    return out;
  }

  #sleep(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#scan(), Math.min(ms, MAX_SLEEP_MS));
    this.#timer.unref();
  }

  #send(row: WebhookDelivery): void {
    const hook = row.webhookId;
    this.#perHook.set(hook, (this.#perHook.get(hook) ?? 0) + 1);
    const done = this.#attempt(row)
      .catch((err: unknown) => this.log.error({ err, deliveryId: row.id }, 'webhook attempt not recorded'))
      .finally(() => {
        this.#inFlight.delete(row.id);
        const n = this.#perHook.get(hook)! - 1;
        if (n) this.#perHook.set(hook, n);
        else this.#perHook.delete(hook);
        this.kick();
      });
    this.#inFlight.set(row.id, done);
  }

  async #attempt(row: WebhookDelivery): Promise<void> {
    const hook = this.store.webhooks.getById(row.webhookId);
    if (!hook) return; // deleted since the scan: its deliveries went with it
    const { timeoutMs } = this.settings;
    this.store.webhookDeliveries.lease(row.id, Date.now() + timeoutMs + LEASE_MARGIN_MS);
    const headers = {
      'content-type': 'application/json',
      'user-agent': this.userAgent,
      [EVENT_HEADER]: row.eventType,
      [DELIVERY_HEADER]: row.id,
      [ATTEMPT_HEADER]: String(row.attempts + 1),
      ...signatureHeaders(hook.secret, row.payload),
    };
    const startedAt = nowIso();
    const t0 = performance.now();
    let httpStatus: number | null = null;
    let error: string | null = null;
    let response: string | null = null;
    try {
      const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#stop.signal]);
      const res = await outbound().fetch(hook.url, { method: 'POST', headers, body: row.payload, signal, redirect: 'manual' });
      httpStatus = res.status;
      response = (await readCapped(res, RESPONSE_EXCERPT_BYTES)).text || null;
    } catch (err) {
      if (this.#stop.signal.aborted) {
        // Shutting down: not a try. Due again at the next start.
        this.store.webhookDeliveries.lease(row.id, Date.now());
        return;
      }
      const c = classify(err, timeoutMs);
      error = `${c.code}: ${c.message}`;
    }
    const outcome: AttemptOutcome = {
      startedAt,
      durationMs: Math.round(performance.now() - t0),
      httpStatus,
      error,
      response,
      next: this.#next(row, httpStatus),
    };
    this.store.webhookDeliveries.record(row.id, outcome);
    const fields = { deliveryId: row.id, webhookId: row.webhookId, eventId: row.eventId, attempt: row.attempts + 1, httpStatus, error, next: outcome.next.status };
    if (outcome.next.status === 'succeeded') this.log.debug(fields, 'webhook delivered');
    else this.log.info(fields, 'webhook attempt failed');
  }

  /** Succeeded on a 2xx (even if its body could not be read in time); else a retry, or failed when the round is spent. */
  #next(row: WebhookDelivery, httpStatus: number | null): AttemptOutcome['next'] {
    if (httpStatus !== null && httpStatus >= 200 && httpStatus < 300) return { status: 'succeeded' };
    const round = row.roundAttempts + 1;
    if (round >= this.settings.maxAttempts) return { status: 'failed' };
    return { status: 'pending', at: Date.now() + retryDelayMs(this.settings, round) };
  }

  /** Stops sending: requests out are cut (their rows stay pending for the next start). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#pruneTimer);
    this.#stop.abort();
    await Promise.allSettled(this.#inFlight.values());
  }
}
