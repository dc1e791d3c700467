/**
 * Analytics has two nearest-rank implementations: SQL for call durations, JS for the agent
 * figures (turn latency and its stages, read from each call's metrics). Over random values,
 * stored as both a call's talk time and its turn latency, the two must agree exactly.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { createLogger } from '../../../config/logger.js';
import { closeDatabase, openDatabase } from '../../../engine/store/database.js';
import { Store } from '../../../engine/store/store.js';
import { tempDir } from '../../helpers/config.js';

const log = createLogger({ level: 'silent', pretty: false });
/** Each case writes up to 30 calls to a real SQLite file: 60 cases stay well under 10 s loaded. */
const RUNS = 60;

test(`turn latency (JS) and talk time (SQL) give the same nearest-rank figures (${RUNS} cases of 0–30 values)`, (t) => {
  const db = openDatabase(path.join(tempDir(), 'analytics.db'), log);
  const store = new Store(db);
  const T0 = Date.parse('2024-01-01T00:00:00.000Z');
  const iso = (ms: number) => new Date(ms).toISOString();
  let cases = 0;
  let values = 0;
  try {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3_600_000 }), { maxLength: 30 }), (ms) => {
        const scope = { tenantId: store.tenants.create({ name: 'p' }).id, mode: 'live' as const };
        ms.forEach((v, i) => {
          const start = T0 + i * 1000;
          const { id } = store.calls.create({ ...scope, direction: 'inbound', startedAt: iso(start) });
          store.calls.markAnswered(id, iso(start));
          store.calls.end(id, { reason: 'caller_hangup', at: iso(start + v), metrics: { turnLatencyMs: [v], turns: [{ sttFinalMs: null, llmFirstTokenMs: null, ttsFirstAudioMs: null, firstAudioOutMs: v }] } });
        });
        const m = store.analytics.metrics(scope, { from: iso(T0), to: iso(T0 + 86_400_000) });
        cases++;
        values += ms.length;
        assert.deepEqual(m.turnLatencyMs, m.durationMs);
        assert.deepEqual(m.turnStagesMs.firstAudioOut, m.durationMs);
        assert.equal(m.turns, ms.length);
      }),
      { numRuns: RUNS },
    );
  } finally {
    closeDatabase(db);
  }
  t.log(`${cases} cases, ${values} values`);
  t.is(cases, RUNS);
});
