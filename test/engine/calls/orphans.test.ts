/**
 * Start-up recovery of calls a dead process left open (engine/calls/orphans.ts), on a real SQLite
 * file: the rows and events it writes, in the states a crash can leave a call in.
 */
import path from 'node:path';
import test from 'ava';
import { createLogger } from '../../../config/logger.js';
import { closeOrphanedCalls } from '../../../engine/calls/orphans.js';
import { EventLog } from '../../../engine/events/event-log.js';
import { closeDatabase, openDatabase } from '../../../engine/store/database.js';
import { Store } from '../../../engine/store/store.js';
import { tempDir } from '../../helpers/config.js';

const log = createLogger({ level: 'silent', pretty: false });

function setup() {
  const db = openDatabase(path.join(tempDir(), 'orphans.db'), log);
  const store = new Store(db);
  const tenant = store.tenants.create({ name: 'acme' });
  const events = new EventLog(db, log);
  const call = (sipCallId: string) => store.calls.create({ tenantId: tenant.id, mode: 'live', direction: 'inbound', sipCallId }).id;
  return { db, store, events, call };
}

test('each open call is closed as engine_restart with its call.ended; a 200 sent but not recorded becomes an answer', (t) => {
  const { db, store, events, call } = setup();
  t.teardown(() => closeDatabase(db));
  const ringing = call('ringing@x');
  const answered = call('answered@x');
  store.calls.markAnswered(answered, '2026-01-01T00:00:01.000Z');
  // The process died after writing answer_sent_at and sending the 200, before markAnswered.
  const sent = call('sent@x');
  store.calls.markAnswerSent(sent, '2026-01-01T00:00:02.000Z');
  const done = call('done@x');
  store.calls.end(done, { reason: 'caller_hangup', hangupBy: 'caller' });
  const heard: string[] = [];
  events.subscribe((e) => heard.push(`${e.type} ${e.callId}`));

  t.deepEqual(closeOrphanedCalls(store, events, log), { answered: 1, closed: 3 });

  t.like(store.calls.getById(ringing), { status: 'failed', answeredAt: null, endReason: 'engine_restart', hangupBy: 'system', durationMs: null });
  t.like(store.calls.getById(answered), { status: 'completed', answeredAt: '2026-01-01T00:00:01.000Z', endReason: 'engine_restart' });
  t.like(store.calls.getById(sent), { status: 'completed', answeredAt: '2026-01-01T00:00:02.000Z', endReason: 'engine_restart', hangupBy: 'system' });
  t.like(store.calls.getById(done), { endReason: 'caller_hangup' });
  t.deepEqual(heard, [`call.answered ${sent}`, `call.ended ${ringing}`, `call.ended ${answered}`, `call.ended ${sent}`]);
  const ended = events.forCall(store.calls.getById(sent)!.tenantId, sent).map((e) => ({ type: e.type, data: e.data }));
  t.like(ended, [{ type: 'call.answered', data: { callId: sent, answeredAt: '2026-01-01T00:00:02.000Z' } }, { type: 'call.ended', data: { endReason: 'engine_restart', hangupBy: 'system' } }]);
  t.is(typeof ended[1]!.data['durationMs'], 'number');
  // A second start finds nothing to do.
  t.deepEqual(closeOrphanedCalls(store, events, log), { answered: 0, closed: 0 });
});

test('an answer sent after the call ended is not recorded (markAnswerSent refuses ended calls)', (t) => {
  const { db, store, call } = setup();
  t.teardown(() => closeDatabase(db));
  const id = call('late@x');
  store.calls.end(id, { reason: 'canceled', hangupBy: 'caller', status: 'canceled' });
  t.false(store.calls.markAnswerSent(id));
  t.deepEqual(store.calls.recordSentAnswers(), []);
});

test("orphans end at the dead process's last heartbeat, or at their own last write when that is later", (t) => {
  const { db, store, events, call } = setup();
  t.teardown(() => closeDatabase(db));
  const early = call('early@x');
  store.calls.markAnswered(early, '2000-01-01T00:00:00.000Z');
  store.liveness.beat('2000-01-01T00:01:00.000Z');
  // Written after the last beat (the process died within the second that followed).
  const late = call('late@x');
  const lateWrite = store.calls.getById(late)!.updatedAt;

  closeOrphanedCalls(store, events, log);

  t.like(store.calls.getById(early), { endedAt: '2000-01-01T00:01:00.000Z', durationMs: 60_000, endReason: 'engine_restart' });
  t.like(store.calls.getById(late), { endedAt: lateWrite, endReason: 'engine_restart' });
  t.is(store.liveness.lastAlive(), '2000-01-01T00:01:00.000Z', 'recovery itself does not beat');
});
