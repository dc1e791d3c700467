import path from 'node:path';
import test from 'ava';
import { createLogger } from '../../../config/logger.js';
import { EventLog } from '../../../engine/events/event-log.js';
import { closeDatabase, openDatabase } from '../../../engine/store/database.js';
import { Store } from '../../../engine/store/store.js';
import { tempDir } from '../../helpers/config.js';

const log = createLogger({ level: 'silent', pretty: false });

function setup() {
  const db = openDatabase(path.join(tempDir(), 'events.db'), log);
  const store = new Store(db);
  const tenant = store.tenants.create({ name: 'acme' });
  return { db, tenantId: tenant.id, events: new EventLog(db, log) };
}

const started = (callId: string) => ({
  callId,
  agentId: null,
  direction: 'inbound' as const,
  from: { uri: 'sip:a@x', number: null },
  to: { uri: 'sip:b@y', number: '+15550001111' },
  trunkId: null,
  sipCallId: 'abc@x',
});

test('an event is persisted before subscribers hear of it, with a monotonic id', (t) => {
  const { db, tenantId, events } = setup();
  const seen: number[] = [];
  events.subscribe((e) => {
    // The row is already there when the listener runs.
    const row = db.prepare('SELECT type FROM events WHERE id = ?').get(e.id) as { type: string } | undefined;
    t.is(row?.type, e.type);
    seen.push(e.id);
  });
  const a = events.append('call.started', { tenantId, mode: 'live', callId: 'c1' }, started('c1'));
  const b = events.append('call.answered', { tenantId, mode: 'live', callId: 'c1' }, { callId: 'c1', agentId: null, answeredAt: new Date().toISOString() });
  t.true(b.id > a.id);
  t.deepEqual(seen, [a.id, b.id]);
  closeDatabase(db);
});

test('since() resumes after an id, within one tenant and mode', (t) => {
  const { db, tenantId, events } = setup();
  const ids = [1, 2, 3].map((i) => events.append('call.started', { tenantId, mode: 'live', callId: `c${i}` }, started(`c${i}`)).id);
  events.append('call.started', { tenantId, mode: 'test', callId: 'tc' }, started('tc'));
  t.deepEqual(events.since(ids[0]!, tenantId, 'live').map((e) => e.id), ids.slice(1));
  t.deepEqual(events.since(0, tenantId, 'test').map((e) => e.callId), ['tc']);
  t.deepEqual(events.since(0, 'other-tenant', 'live'), []);
  t.deepEqual(events.forCall(tenantId, 'c2').map((e) => e.type), ['call.started']);
  closeDatabase(db);
});

test('an event whose data does not match its schema is refused and not stored', (t) => {
  const { db, tenantId, events } = setup();
  t.throws(() => events.append('call.dtmf', { tenantId, mode: 'live' }, { callId: 'c', agentId: null } as never));
  t.is((db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n, 0);
  closeDatabase(db);
});

test('a throwing subscriber does not stop the others', (t) => {
  const { db, tenantId, events } = setup();
  let other = 0;
  events.subscribe(() => {
    throw new Error('boom');
  });
  events.subscribe(() => other++);
  events.append('agent.updated', { tenantId, mode: 'live' }, { agentId: 'a' });
  t.is(other, 1);
  closeDatabase(db);
});

test('a writer runs in the event’s transaction: its rows commit with the event, roll back with it, and a throwing writer costs the event nothing', (t) => {
  const { db, tenantId, events } = setup();
  const store = new Store(db);
  const scope = { tenantId, mode: 'live' as const };
  const hook = store.webhooks.create(scope, { url: 'http://127.0.0.1:1/h', secret: 's'.repeat(20), eventTypes: ['call.started'] });
  const queue = (e: { id: number; type: string; callId: string | null }) =>
    store.webhookDeliveries.enqueue(scope, hook.id, { id: e.id, type: e.type, callId: e.callId, payload: '{}' });
  const deliveries = () => (db.prepare('SELECT event_id FROM webhook_deliveries ORDER BY event_id').all() as { event_id: number }[]).map((r) => r.event_id);
  const remove = events.addWriter((e) => void queue(e));
  const a = events.append('call.started', scope, started('w1'));
  t.deepEqual(deliveries(), [a.id], 'outside a transaction: committed together');
  t.throws(() =>
    events.transaction(() => {
      events.append('call.started', scope, started('w2'));
      throw new Error('the row change failed');
    }),
  );
  t.deepEqual(deliveries(), [a.id], 'rolled back with its event');
  remove();
  events.addWriter(() => {
    throw new Error('writer bug');
  });
  const c = events.append('call.started', { ...scope, callId: 'w3' }, started('w3'));
  t.is(events.forCall(tenantId, 'w3')[0]?.id, c.id, 'the event is stored anyway');
  t.deepEqual(deliveries(), [a.id]);
  closeDatabase(db);
});
