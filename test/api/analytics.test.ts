import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import type { Scope } from '../../engine/store/repositories/scoped.js';
import { testConfig, testLogger } from '../helpers/config.js';
import { at, client, envelope, recordCall, type Client } from '../helpers/resources.js';
import { seedTenant } from '../helpers/tenant.js';
import type { EndReason } from '../../engine/calls/call-record.js';

let app: App;
let c: Client;
let scope: Scope;
let agentA: string;
let agentB: string;

/** The day the fixture's calls happen on. */
const T0 = '2024-03-01T09:00:00.000Z';
const range = `from=${at(T0, -3600)}&to=${at(T0, 2 * 86_400)}`;

/**
 * Calls of one tenant, with hand-computed figures:
 *   c1 inbound  [0, 70)    answered 10 → talk 60 s   agent A  caller_hangup  latencies 500, 700
 *   c2 outbound [30, 155)  answered 35 → talk 120 s  agent A  agent_hangup   latency 900
 *   c3 inbound  [60, 80)   not answered, no_answer   agent B  canceled
 *   c4 web      [70, 101)  answered 71 → talk 30 s   agent B  caller_hangup  (starts as c1 ends)
 *   c5 inbound  [1 d, 1 d + 241) answered +1 → 240 s  agent A  caller_hangup
 *   c6 inbound  from 1 d + 100, answered, still open, no agent
 * Outside the figures: a call the day before, another tenant's call and a test-mode call, all
 * overlapping c1–c4.
 * Peak concurrency: the call from the day before is up until T0 + 50 s, so with c1 and c2 there
 * are 3 at T0 + 30 s; again 3 at 60 s (c1, c2, c3); at 70 s c1 ends as c4 starts, still 3.
 */
test.before(async () => {
  const config = testConfig();
  app = await startApp(config, testLogger(config));
  const t1 = await seedTenant(app);
  c = client(app, t1.headers);
  scope = { tenantId: t1.tenantId, mode: 'live' };
  const agents = app.engine.store.agents;
  agentA = agents.create(scope, { name: 'Alice', config: { prompt: { system: 'x' } } }).id;
  agentB = agents.create(scope, { name: 'Bob', config: { prompt: { system: 'x' } } }).id;
  const call = (s: Scope, direction: 'inbound' | 'outbound' | 'web', start: number, agentId: string | null, answered?: number, end?: number, reason?: EndReason, metrics?: { turnLatencyMs: number[] }) =>
    recordCall(
      app,
      { ...s, direction, agentId, startedAt: at(T0, start) },
      {
        answeredAt: answered === undefined ? undefined : at(T0, answered),
        end: end === undefined ? undefined : { reason: reason!, at: at(T0, end), status: answered === undefined ? 'no_answer' : undefined, metrics },
      },
    );
  call(scope, 'inbound', 0, agentA, 10, 70, 'caller_hangup', { turnLatencyMs: [500, 700] });
  call(scope, 'outbound', 30, agentA, 35, 155, 'agent_hangup', { turnLatencyMs: [900] });
  call(scope, 'inbound', 60, agentB, undefined, 80, 'canceled');
  call(scope, 'web', 70, agentB, 71, 101, 'caller_hangup');
  call(scope, 'inbound', 86_400, agentA, 86_401, 86_641, 'caller_hangup');
  call(scope, 'inbound', 86_500, null, 86_501);
  call(scope, 'inbound', -86_400, agentA, -86_399, 50, 'caller_hangup');
  const other = await seedTenant(app);
  call({ tenantId: other.tenantId, mode: 'live' }, 'inbound', 20, null, 21, 90, 'caller_hangup', { turnLatencyMs: [1] });
  call({ ...scope, mode: 'test' }, 'inbound', 20, null, 21, 90, 'caller_hangup', { turnLatencyMs: [1] });
});
test.after.always(() => app?.close());

const noValues = { count: 0, average: null, p50: null, p95: null, max: null };

test('metrics match the hand-computed figures', async (t) => {
  const res = await c.get(`/api/v1/analytics/metrics?${range}`);
  t.is(res.status, 200);
  t.deepEqual(res.body, {
    from: at(T0, -3600),
    to: at(T0, 2 * 86_400),
    totalCalls: 6,
    answeredCalls: 5,
    answerRate: 5 / 6,
    byDirection: { inbound: 4, outbound: 1, web: 1 },
    byStatus: { completed: 4, no_answer: 1, in_progress: 1 },
    durationMs: { count: 4, average: 112_500, p50: 60_000, p95: 240_000, max: 240_000 },
    // The call from the day before was still up at `from`: it counts for concurrency, not the totals.
    peakConcurrency: 3,
    peakAt: at(T0, 30),
    turnLatencyMs: { count: 3, average: 700, p50: 700, p95: 900, max: 900 },
    // Recorded with latencies only: each counts as a turn. The agent figures are checked in analytics-agent.test.ts.
    turns: 3,
    turnStagesMs: { sttFinal: noValues, llmFirstToken: noValues, ttsFirstAudio: noValues, firstAudioOut: noValues },
    tools: { calls: 0, failures: 0, errorRate: null },
    transfers: { started: 0, completed: 0, failed: 0 },
    endedBy: { agent_hangup: 1, max_duration: 0, transferred: 0 },
  });
});

test('peak concurrency comes from intervals: back-to-back calls do not overlap, open calls run to the range end', async (t) => {
  // From T0 + 55 s only c1, c2 and c3 (from 60 s) overlap: 3 at 60 s.
  const late = await c.get(`/api/v1/analytics/metrics?from=${at(T0, 55)}&to=${at(T0, 86_400)}`);
  t.like(late.body, { totalCalls: 2, peakConcurrency: 3, peakAt: at(T0, 60) });
  // From 80 s on: c2 and c4 overlap (2); c3 ended at 80 exactly.
  const after = await c.get(`/api/v1/analytics/metrics?from=${at(T0, 80)}&to=${at(T0, 86_400)}`);
  t.like(after.body, { peakConcurrency: 2, peakAt: at(T0, 80) });
  // The next day: c5 [0, 241) and the open c6 from 100 s.
  const nextDay = await c.get(`/api/v1/analytics/metrics?from=${at(T0, 86_000)}&to=${at(T0, 2 * 86_400)}`);
  t.like(nextDay.body, { totalCalls: 2, answeredCalls: 2, peakConcurrency: 2, peakAt: at(T0, 86_500) });
  const empty = await c.get('/api/v1/analytics/metrics?from=2020-01-01&to=2020-01-02');
  t.like(empty.body, { totalCalls: 0, answerRate: null, peakConcurrency: 0, peakAt: null, durationMs: { count: 0, average: null, p50: null, p95: null, max: null } });
});

test('statistics by agent, by day and by end reason', async (t) => {
  const byAgent = await c.get(`/api/v1/analytics/statistics?groupBy=agent&${range}`);
  // The call figures; the agent figures of each row are checked in analytics-agent.test.ts.
  const callFigures = ({ key, label, totalCalls, answeredCalls, answerRate, averageDurationMs, totalDurationMs }: Record<string, unknown>) =>
    ({ key, label, totalCalls, answeredCalls, answerRate, averageDurationMs, totalDurationMs });
  t.deepEqual({ ...byAgent.body, items: byAgent.body.items.map(callFigures) }, {
    items: [
      { key: agentA, label: 'Alice', totalCalls: 3, answeredCalls: 3, answerRate: 1, averageDurationMs: 140_000, totalDurationMs: 420_000 },
      { key: agentB, label: 'Bob', totalCalls: 2, answeredCalls: 1, answerRate: 0.5, averageDurationMs: 30_000, totalDurationMs: 30_000 },
      { key: null, label: null, totalCalls: 1, answeredCalls: 1, answerRate: 1, averageDurationMs: null, totalDurationMs: 0 },
    ],
    total: 3,
    limit: 20,
    offset: 0,
  });
  const byDay = await c.get(`/api/v1/analytics/statistics?groupBy=day&${range}`);
  t.deepEqual(byDay.body.items.map((r: { key: string; totalCalls: number; answeredCalls: number }) => [r.key, r.totalCalls, r.answeredCalls]), [
    ['2024-03-01', 4, 3],
    ['2024-03-02', 2, 2],
  ]);
  const secondDay = await c.get(`/api/v1/analytics/statistics?groupBy=day&${range}&limit=1&offset=1`);
  t.like(secondDay.body, { total: 2, limit: 1, offset: 1 });
  t.deepEqual(secondDay.body.items.map((r: { key: string }) => r.key), ['2024-03-02']);
  const byReason = await c.get(`/api/v1/analytics/statistics?groupBy=end_reason&${range}`);
  t.deepEqual(byReason.body.items.map((r: { key: string | null; totalCalls: number }) => [r.key, r.totalCalls]), [
    ['caller_hangup', 3],
    [null, 1],
    ['agent_hangup', 1],
    ['canceled', 1],
  ]);
  const bad = await c.get('/api/v1/analytics/statistics?groupBy=weather');
  t.deepEqual(bad.body, envelope('validation_error', 'Invalid query', [
    { field: 'query.groupBy', message: 'Invalid option: expected one of "agent"|"day"|"end_reason"' },
  ]));
});

test('the default range is the last 7 days', async (t) => {
  const tenant = await seedTenant(app);
  const s = { tenantId: tenant.tenantId, mode: 'live' as const };
  const now = new Date().toISOString();
  recordCall(app, { ...s, direction: 'inbound', startedAt: at(now, -3600) });
  recordCall(app, { ...s, direction: 'inbound', startedAt: at(now, -6 * 86_400) });
  recordCall(app, { ...s, direction: 'inbound', startedAt: at(now, -8 * 86_400) });
  const res = await client(app, tenant.headers).get('/api/v1/analytics/metrics');
  t.is(res.body.totalCalls, 2);
  t.is(Date.parse(res.body.to) - Date.parse(res.body.from), 7 * 86_400_000);
  t.true(Math.abs(Date.parse(res.body.to) - Date.now()) < 10_000);
  t.like(res.body, { peakConcurrency: 3 }, 'open calls run until now: all three are up an hour ago, even the one from before the range');
});

test('error logs: filtered by kind and time, newest first, paginated, scoped', async (t) => {
  const logs = app.engine.store.errorLogs;
  const tenant = await seedTenant(app);
  const s = { tenantId: tenant.tenantId, mode: 'live' as const };
  const now = new Date().toISOString();
  const sip = logs.record({ ...s, kind: 'sip', code: '486', message: 'Busy here', details: { to: '+15550001111' }, at: at(now, -60) });
  const tool = logs.record({ ...s, kind: 'tool', code: '503', message: 'Webhook unavailable', at: at(now, -30) });
  const provider = logs.record({ ...s, kind: 'provider', message: 'TTS quota exceeded', at: at(now, -10) });
  logs.record({ ...s, kind: 'sip', message: 'Too old', at: at(now, -8 * 86_400) });
  logs.record({ ...s, mode: 'test', kind: 'sip', message: 'Test mode' });
  logs.record({ tenantId: scope.tenantId, kind: 'sip', message: 'Other tenant' });
  logs.record({ tenantId: null, kind: 'sip', message: 'Unknown source IP' });
  const tc = client(app, tenant.headers);

  const all = await tc.get('/api/v1/analytics/errors');
  t.deepEqual(all.body, {
    items: [
      { id: provider.id, kind: 'provider', callId: null, code: null, message: 'TTS quota exceeded', details: {}, createdAt: at(now, -10) },
      { id: tool.id, kind: 'tool', callId: null, code: '503', message: 'Webhook unavailable', details: {}, createdAt: at(now, -30) },
      { id: sip.id, kind: 'sip', callId: null, code: '486', message: 'Busy here', details: { to: '+15550001111' }, createdAt: at(now, -60) },
    ],
    total: 3,
    limit: 20,
    offset: 0,
  });
  t.deepEqual((await tc.get('/api/v1/analytics/errors?kind=sip')).body.items.map((e: { id: number }) => e.id), [sip.id]);
  t.deepEqual((await tc.get('/api/v1/analytics/errors?limit=1&offset=1')).body.items.map((e: { id: number }) => e.id), [tool.id]);
  t.is((await tc.get('/api/v1/analytics/errors?from=2000-01-01')).body.total, 4);
  const bad = await tc.get('/api/v1/analytics/errors?kind=cosmic');
  t.deepEqual(bad.body.error.details, [{ field: 'query.kind', message: 'Invalid option: expected one of "sip"|"tool"|"provider"|"media"|"internal"' }]);
});
