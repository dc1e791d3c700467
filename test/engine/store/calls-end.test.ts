/**
 * `CallsRepo#end` is one UPDATE … RETURNING with the defaults in SQL. These hold it to the rules
 * written in TypeScript (`reference` below: what `end` did when it read the row first).
 */
import test from 'ava';
import fc from 'fast-check';
import { createLogger } from '../../../config/logger.js';
import { endReasons, finalStatuses, hangupParties, type Call, type CallEnd } from '../../../engine/calls/call-record.js';
import { closeDatabase, openDatabase } from '../../../engine/store/database.js';
import { Store } from '../../../engine/store/store.js';

const log = createLogger({ level: 'silent', pretty: false });

/** The ended call as the rules say, from the row before the end. */
function reference(cur: Call, how: CallEnd, at: string): Call {
  return {
    ...cur,
    status: how.status ?? (cur.answeredAt ? 'completed' : 'failed'),
    endedAt: at,
    durationMs: cur.answeredAt ? Math.max(0, Date.parse(at) - Date.parse(cur.answeredAt)) : null,
    endReason: how.reason,
    hangupBy: how.hangupBy ?? null,
    sipCode: how.sipCode ?? cur.sipCode,
    rtpStats: how.rtpStats ?? cur.rtpStats,
    transcript: how.transcript ?? cur.transcript,
    metrics: how.metrics ?? cur.metrics,
    updatedAt: at,
  };
}

// Times as the engine writes them (`Date#toISOString`), over a century, to the millisecond.
const iso = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) }).map((ms) => new Date(ms).toISOString());
const how = fc.record(
  {
    reason: fc.constantFrom(...endReasons),
    hangupBy: fc.option(fc.constantFrom(...hangupParties)),
    sipCode: fc.option(fc.integer({ min: 300, max: 699 })),
    status: fc.constantFrom(...finalStatuses),
    rtpStats: fc.record({ packetsSent: fc.nat(), packetsReceived: fc.nat(), bytesSent: fc.nat(), bytesReceived: fc.nat() }),
    transcript: fc.array(fc.record({ role: fc.constantFrom('caller' as const, 'agent' as const), text: fc.string(), at: iso }), { maxLength: 2 }),
    metrics: fc.record({ turnLatencyMs: fc.array(fc.nat(5000), { maxLength: 3 }) }),
  },
  { requiredKeys: ['reason'] },
);

test('end: one statement gives what the rules give, for any row and any end (fast-check)', (t) => {
  const db = openDatabase(':memory:', log);
  const store = new Store(db);
  const scope = { tenantId: store.tenants.create({ name: 'T' }).id, mode: 'live' as const };
  fc.assert(
    fc.property(fc.option(iso), iso, how, fc.option(how), (answeredAt, at, first, second) => {
      const call = store.calls.create({ ...scope, direction: 'inbound', fromUri: 'sip:a@127.0.0.1', toUri: 'sip:b@127.0.0.1' });
      if (answeredAt) t.true(store.calls.markAnswered(call.id, answeredAt));
      const before = store.calls.getById(call.id)!;
      const ended = store.calls.end(call.id, { ...(first as CallEnd), at });
      const want = reference(before, first as CallEnd, at);
      if (JSON.stringify(ended) !== JSON.stringify(want)) return false;
      if (JSON.stringify(store.calls.getById(call.id)) !== JSON.stringify(want)) return false;
      // A call ends once: a second end changes nothing and answers undefined.
      if (second && store.calls.end(call.id, { ...(second as CallEnd), at }) !== undefined) return false;
      return JSON.stringify(store.calls.getById(call.id)) === JSON.stringify(want);
    }),
    { numRuns: 400 },
  );
  t.is(store.calls.end('no-such-call', { reason: 'caller_hangup' }), undefined);
  closeDatabase(db);
});

test('end: the talk time is whole milliseconds, never negative, null for a call never answered', (t) => {
  const db = openDatabase(':memory:', log);
  const store = new Store(db);
  const scope = { tenantId: store.tenants.create({ name: 'T' }).id, mode: 'live' as const };
  const make = (answeredAt?: string) => {
    const c = store.calls.create({ ...scope, direction: 'inbound' });
    if (answeredAt) store.calls.markAnswered(c.id, answeredAt);
    return c.id;
  };
  t.is(store.calls.end(make('2026-12-05T10:00:00.001Z'), { reason: 'caller_hangup', at: '2026-12-05T10:01:00.000Z' })!.durationMs, 59_999);
  t.is(store.calls.end(make('2026-12-05T10:00:00.500Z'), { reason: 'caller_hangup', at: '2026-12-05T10:00:00.499Z' })!.durationMs, 0);
  const unanswered = store.calls.end(make(), { reason: 'canceled', at: '2026-12-05T10:00:00.000Z' })!;
  t.is(unanswered.durationMs, null);
  t.is(unanswered.status, 'failed');
  closeDatabase(db);
});
