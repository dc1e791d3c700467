/**
 * Per-call order in the delivery queue: only the head of a call's pending deliveries (per
 * subscription) has a due time; finishing it promotes the next. The due scan then never walks
 * past waiting rows (migration 0014).
 */
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { createLogger } from '../../../config/logger.js';
import { closeDatabase, openDatabase } from '../../../engine/store/database.js';
import { applyMigrations } from '../../../engine/store/migrate.js';
import { migrations } from '../../../engine/store/migrations/index.js';
import type { AttemptOutcome } from '../../../engine/store/repositories/webhook-deliveries.js';
import { Store } from '../../../engine/store/store.js';
import { tempDir } from '../../helpers/config.js';

const log = createLogger({ level: 'silent', pretty: false });

function setup() {
  const db = openDatabase(path.join(tempDir(), 'chain.db'), log);
  const store = new Store(db);
  const tenant = store.tenants.create({ name: 'acme' });
  const scope = { tenantId: tenant.id, mode: 'live' as const };
  const hook = store.webhooks.create(scope, { url: 'http://127.0.0.1:1/h', secret: 's'.repeat(20), eventTypes: ['call.started'] });
  let eventId = 0;
  const queue = (callId: string | null) => store.webhookDeliveries.enqueue(scope, hook.id, { id: ++eventId, type: 'call.started', callId, payload: '{}' });
  const due = () => store.webhookDeliveries.due(Date.now() + 1000, 100).map((d) => d.eventId).sort((a, b) => a - b);
  return { db, store, scope, hook, queue, due };
}

const outcome = (next: AttemptOutcome['next']): AttemptOutcome => ({
  startedAt: new Date().toISOString(),
  durationMs: 1,
  httpStatus: next.status === 'succeeded' ? 200 : 500,
  error: null,
  response: null,
  next,
});

test('a call’s later deliveries wait with no due time; each finished head (succeeded or given up) promotes the next, in event order', (t) => {
  const { db, store, queue, due } = setup();
  const a1 = queue('A');
  const a2 = queue('A');
  const a3 = queue('A');
  queue('B');
  queue(null);
  queue(null);
  t.is(a2.nextAttemptAt, null);
  t.is(a3.nextAttemptAt, null);
  t.deepEqual(due(), [1, 4, 5, 6], 'the heads of A and B, and the call-less rows');
  // A retry keeps the head: nothing is promoted.
  store.webhookDeliveries.record(a1.id, outcome({ status: 'pending', at: Date.now() }));
  t.deepEqual(due(), [1, 4, 5, 6]);
  store.webhookDeliveries.record(a1.id, outcome({ status: 'succeeded' }));
  t.deepEqual(due(), [2, 4, 5, 6]);
  store.webhookDeliveries.record(a2.id, outcome({ status: 'failed' }));
  t.deepEqual(due(), [3, 4, 5, 6], 'a delivery that gave up hands on too');
  store.webhookDeliveries.record(a3.id, outcome({ status: 'succeeded' }));
  t.deepEqual(due(), [4, 5, 6]);
  closeDatabase(db);
});

test('a redelivery while its call has a head runs beside it; the chain goes on after both', (t) => {
  const { db, store, scope, hook, queue, due } = setup();
  const a1 = queue('A');
  const a2 = queue('A');
  const a3 = queue('A');
  store.webhookDeliveries.record(a1.id, outcome({ status: 'succeeded' }));
  t.deepEqual(due(), [2]);
  t.true(store.webhookDeliveries.redeliver(scope, hook.id, a1.id));
  t.deepEqual(due(), [1, 2]);
  store.webhookDeliveries.record(a2.id, outcome({ status: 'succeeded' }));
  t.deepEqual(due(), [1], 'a3 waits: the redelivered row is still a head of the chain');
  store.webhookDeliveries.record(a1.id, outcome({ status: 'succeeded' }));
  t.deepEqual(due(), [3]);
  t.is(store.webhookDeliveries.get(scope, a3.id)?.status, 'pending');
  closeDatabase(db);
});

test('20,000 queued deliveries of 1,000 calls leave 1,000 rows in the due index; the scan’s time is logged', (t) => {
  const { db, store, queue } = setup();
  db.transaction(() => {
    for (let e = 0; e < 20; e++) for (let c = 0; c < 1000; c++) queue(`call-${c}`);
  })();
  const withDueTime = db.prepare("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at IS NOT NULL").get() as { n: number };
  t.is(withDueTime.n, 1000);
  // Every head leased into the future, as when a receiver is down: a scan finds nothing due.
  db.prepare("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE next_attempt_at IS NOT NULL").run(Date.now() + 60_000);
  const times: number[] = [];
  for (let i = 0; i < 21; i++) {
    const t0 = process.hrtime.bigint();
    t.deepEqual(store.webhookDeliveries.due(Date.now(), 32), []);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  t.log(`due() with 20,000 pending, none due: median ${times[10]!.toFixed(3)} ms over 21 scans`);
  closeDatabase(db);
});

test('migration 0014 clears the due time of rows already waiting behind an earlier one of their call', (t) => {
  const file = path.join(tempDir(), 'm14.db');
  const raw = new Database(file);
  applyMigrations(raw, migrations.filter((m) => m.version < 14));
  raw.exec(`INSERT INTO tenants (id, name, created_at, updated_at) VALUES ('t1', 'acme', 'x', 'x')`);
  raw.exec(`INSERT INTO webhooks (id, tenant_id, mode, url, secret, event_types, enabled, created_at, updated_at) VALUES ('w1', 't1', 'live', 'http://127.0.0.1:1', 's', '[]', 1, 'x', 'x')`);
  const insert = raw.prepare(
    `INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, mode, event_id, event_type, call_id, payload, status, next_attempt_at, created_at, updated_at)
     VALUES (?, 'w1', 't1', 'live', ?, 'call.started', ?, '{}', ?, 5, 'x', 'x')`,
  );
  insert.run('d1', 1, 'A', 'succeeded');
  insert.run('d2', 2, 'A', 'pending');
  insert.run('d3', 3, 'A', 'pending');
  insert.run('d4', 4, 'B', 'pending');
  insert.run('d5', 5, null, 'pending');
  insert.run('d6', 6, null, 'pending');
  applyMigrations(raw, migrations);
  const rows = raw.prepare('SELECT id, next_attempt_at AS at FROM webhook_deliveries ORDER BY id').all();
  t.deepEqual(rows, [
    { id: 'd1', at: 5 },
    { id: 'd2', at: 5 },
    { id: 'd3', at: null },
    { id: 'd4', at: 5 },
    { id: 'd5', at: 5 },
    { id: 'd6', at: 5 },
  ]);
  raw.close();
});
