/**
 * The event hub on a real event log (SQLite file): each event reaches the listeners of its tenant
 * and mode as one `HubEvent`, serialised once, and each transport's text of it (WebSocket frame,
 * SSE block) is made once for all clients. The wire format itself is checked by ws.test.ts and
 * sse.test.ts; the cost of a text per client is measured by `npm run bench -- event-fanout`.
 */
import path from 'node:path';
import test from 'ava';
import { EventHub, type HubEvent } from '../../../api/realtime/event-hub.js';
import { createLogger } from '../../../config/logger.js';
import { EventLog } from '../../../engine/events/event-log.js';
import { closeDatabase, openDatabase } from '../../../engine/store/database.js';
import { Store } from '../../../engine/store/store.js';
import { tempDir } from '../../helpers/config.js';

const log = createLogger({ level: 'silent', pretty: false });

function setup() {
  const db = openDatabase(path.join(tempDir(), 'hub.db'), log);
  const store = new Store(db);
  const tenantId = store.tenants.create({ name: 'acme' }).id;
  const otherId = store.tenants.create({ name: 'other' }).id;
  const events = new EventLog(db, log);
  const hub = new EventHub(events, log, true);
  return { db, tenantId, otherId, events, hub };
}

test('one event is one HubEvent for every listener, and each format of it is made once for all of them', (t) => {
  const { db, tenantId, otherId, events, hub } = setup();
  t.teardown(() => {
    hub.close();
    closeDatabase(db);
  });
  const calls = { frame: 0, block: 0 };
  const frame = (e: HubEvent) => (calls.frame++, `{"type":"event","event":${e.json}}`);
  const block = (e: HubEvent) => (calls.block++, `id: ${e.event.id}\ndata: ${e.json}\n\n`);
  const got: { e: HubEvent; text: string }[] = [];
  const other: HubEvent[] = [];
  const stops = [
    // 100 WebSocket-like listeners and 100 SSE-like ones on the tenant's live events.
    ...Array.from({ length: 100 }, () => hub.add(tenantId, 'live', (e) => got.push({ e, text: e.as(frame) }))),
    ...Array.from({ length: 100 }, () => hub.add(tenantId, 'live', (e) => got.push({ e, text: e.as(block) }))),
    hub.add(tenantId, 'test', (e) => other.push(e)),
    hub.add(otherId, 'live', (e) => other.push(e)),
  ];
  t.teardown(() => stops.forEach((s) => s()));

  const stored = events.append('agent.updated', { tenantId, mode: 'live' }, { agentId: 'a1' });
  t.is(got.length, 200);
  t.deepEqual(other, []);
  const first = got[0]!.e;
  t.true(got.every((g) => g.e === first), 'every listener got the same HubEvent');
  t.deepEqual(first.event, stored);
  t.is(first.json, JSON.stringify(stored));
  t.deepEqual(calls, { frame: 1, block: 1 }, 'each format ran once for 100 listeners');
  t.is(got[0]!.text, `{"type":"event","event":${JSON.stringify(stored)}}`);
  t.is(got[199]!.text, `id: ${stored.id}\ndata: ${JSON.stringify(stored)}\n\n`);
  t.true(got.slice(0, 100).every((g) => g.text === got[0]!.text));

  // The next event gets texts of its own.
  const next = events.append('agent.updated', { tenantId, mode: 'live' }, { agentId: 'a2' });
  t.is(got.length, 400);
  t.deepEqual(calls, { frame: 2, block: 2 });
  t.is(got[200]!.text, `{"type":"event","event":${JSON.stringify(next)}}`);
});
