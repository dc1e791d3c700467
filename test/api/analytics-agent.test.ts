/**
 * The agent figures of analytics (turns, latency stages, tools, transfers, calls the agent
 * ended), for a range and per agent, over calls and events seeded through the store and the
 * real event log. Every figure is checked against hand-computed nearest-rank values.
 */
import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import type { CallMetrics, EndReason } from '../../engine/calls/call-record.js';
import type { Scope } from '../../engine/store/repositories/scoped.js';
import { testConfig, testLogger } from '../helpers/config.js';
import { at, client, insertEvent, recordCall, type Client } from '../helpers/resources.js';
import { seedTenant } from '../helpers/tenant.js';

let app: App;
let c: Client;
let agentA: string;
let agentB: string;

const T0 = '2024-05-01T12:00:00.000Z';
/** The range: [T0, T0 + 1 h). */
const range = `from=${at(T0, 0)}&to=${at(T0, 3600)}`;

type Turn = [stt: number | null, llm: number | null, tts: number | null, out: number | null];
const turns = (...ts: Turn[]): CallMetrics => ({
  turns: ts.map(([sttFinalMs, llmFirstTokenMs, ttsFirstAudioMs, firstAudioOutMs]) => ({ sttFinalMs, llmFirstTokenMs, ttsFirstAudioMs, firstAudioOutMs })),
  turnLatencyMs: ts.flatMap((t) => (t[3] === null ? [] : [t[3]])),
});

type Happening = 'tool_ok' | 'tool_failed' | 'tool_called' | 'transfer_started' | 'transfer_completed' | 'transfer_failed';

/**
 * A call that started `start` s after T0 and ended with `reason`, with its metrics and events.
 * `transferred` is the end reason the transfer work adds; it is stored as text like any other.
 */
function agentCall(s: Scope, agentId: string | null, start: number, reason: EndReason | 'transferred', metrics: CallMetrics, happened: Happening[] = []): string {
  const id = recordCall(
    app,
    { ...s, direction: 'inbound', agentId, startedAt: at(T0, start) },
    { answeredAt: at(T0, start + 1), end: { reason: reason as EndReason, at: at(T0, start + 60), metrics } },
  );
  const events = app.engine.events;
  const where = { ...s, callId: id };
  const ref = { callId: id, agentId };
  for (const h of happened) {
    if (h === 'tool_called') events.append('call.tool_called', where, { ...ref, toolId: 'tool-1', name: 'lookup', arguments: {} });
    else if (h === 'tool_ok') events.append('call.tool_result', where, { ...ref, toolId: 'tool-1', ok: true, result: { found: true } });
    else if (h === 'tool_failed') events.append('call.tool_result', where, { ...ref, toolId: 'tool-1', ok: false, result: { error: { code: 'timeout' }, status: null } });
    else if (h === 'transfer_failed') events.append('call.transfer_failed', where, { ...ref, target: 'sip:desk@example.test', reason: 'busy' });
    else events.append(h === 'transfer_started' ? 'call.transfer_started' : 'call.transfer_completed', where, { ...ref, target: 'sip:desk@example.test' });
  }
  return id;
}

/**
 * In range (tenant 1, live), with the turns [stt, llm, tts, out]:
 *   a1 agent A at `from` exactly, agent_hangup: [100, 300, 50, 400], [null, 200, 40, 300];
 *      tool ok, tool failed (2 tool_called), transfer started + failed
 *   a2 agent A, transferred: [200, 500, 60, 700]; tool ok, transfer started + completed
 *   a3 agent A, max_duration: [150, null, null, null], [50, 250, 30, 350], [250, 450, 70, 600]
 *   b1 agent B, caller_hangup: [120, 350, 80, 500]; tool failed
 *   n1 no agent, caller_hangup, recorded with only turnLatencyMs [900] (no turns)
 * Out of the figures, each with turns, tool failures, a transfer and an agent end reason: a call
 * of agent A that started before the range, one that starts at `to` exactly, the same tenant's
 * test-mode call and another tenant's call; and tool failures that name a1 but are stored for
 * another tenant or the test mode.
 */
test.before(async () => {
  const config = testConfig();
  app = await startApp(config, testLogger(config));
  const t1 = await seedTenant(app);
  c = client(app, t1.headers);
  const live: Scope = { tenantId: t1.tenantId, mode: 'live' };
  agentA = app.engine.store.agents.create(live, { name: 'Alice', config: { prompt: { system: 'x' } } }).id;
  agentB = app.engine.store.agents.create(live, { name: 'Bob', config: { prompt: { system: 'x' } } }).id;
  const a1 = agentCall(live, agentA, 0, 'agent_hangup', turns([100, 300, 50, 400], [null, 200, 40, 300]), ['tool_called', 'tool_ok', 'tool_called', 'tool_failed', 'transfer_started', 'transfer_failed']);
  agentCall(live, agentA, 600, 'transferred', turns([200, 500, 60, 700]), ['tool_ok', 'transfer_started', 'transfer_completed']);
  agentCall(live, agentA, 1200, 'max_duration', turns([150, null, null, null], [50, 250, 30, 350], [250, 450, 70, 600]));
  agentCall(live, agentB, 1800, 'caller_hangup', turns([120, 350, 80, 500]), ['tool_failed']);
  agentCall(live, null, 2400, 'caller_hangup', { turnLatencyMs: [900] });

  const noise: Happening[] = ['tool_failed', 'tool_failed', 'transfer_started', 'transfer_completed', 'transfer_failed'];
  const loud = turns([1, 1, 1, 1], [99_999, 99_999, 99_999, 99_999]);
  agentCall(live, agentA, -1, 'agent_hangup', loud, noise);
  agentCall(live, agentA, 3600, 'max_duration', loud, noise);
  agentCall({ ...live, mode: 'test' }, null, 100, 'transferred', loud, noise);
  const other = await seedTenant(app);
  agentCall({ tenantId: other.tenantId, mode: 'live' }, null, 100, 'agent_hangup', loud, noise);
  // Rows that name a1 but belong to another tenant or mode are not a1's events.
  const failed = { callId: a1, agentId: null, toolId: 'tool-1', ok: false, result: null };
  insertEvent(app, { tenantId: other.tenantId, mode: 'live' }, a1, 'call.tool_result', failed);
  insertEvent(app, { ...live, mode: 'test' }, a1, 'call.tool_result', failed);
});
test.after.always(() => app?.close());

const dist = (count: number, average: number | null, p50: number | null, p95: number | null, max: number | null) => ({ count, average, p50, p95, max });
const none = dist(0, null, null, null, null);

test('metrics: turns, the latency stages, tools, transfers and agent end reasons of the range', async (t) => {
  const res = await c.get(`/api/v1/analytics/metrics?${range}`);
  t.is(res.status, 200);
  t.like(res.body, { totalCalls: 5 });
  const { turns: n, turnLatencyMs, turnStagesMs, tools, transfers, endedBy } = res.body;
  t.deepEqual(
    { turns: n, turnLatencyMs, turnStagesMs, tools, transfers, endedBy },
    {
      // 2 + 1 + 3 + 1 turns, and n1's one latency counts as its turn.
      turns: 8,
      // 300 350 400 500 600 700 900: rank ceil(3.5) = 4 and ceil(6.65) = 7.
      turnLatencyMs: dist(7, 3750 / 7, 500, 900, 900),
      turnStagesMs: {
        sttFinal: dist(6, 145, 120, 250, 250), // 50 100 120 150 200 250 (one null left out)
        llmFirstToken: dist(6, 2050 / 6, 300, 500, 500), // 200 250 300 350 450 500
        ttsFirstAudio: dist(6, 55, 50, 80, 80), // 30 40 50 60 70 80
        firstAudioOut: dist(6, 475, 400, 700, 700), // 300 350 400 500 600 700: n1 has no turns
      },
      // tool_called events are not results.
      tools: { calls: 4, failures: 2, errorRate: 0.5 },
      transfers: { started: 2, completed: 1, failed: 1 },
      endedBy: { agent_hangup: 1, max_duration: 1, transferred: 1 },
    },
  );
});

test('statistics by agent: each agent its own figures, calls without an agent apart', async (t) => {
  const res = await c.get(`/api/v1/analytics/statistics?groupBy=agent&${range}`);
  t.is(res.status, 200);
  t.deepEqual(res.body.items.map((r: { key: string | null; totalCalls: number }) => [r.key, r.totalCalls]), [[agentA, 3], [null, 1], [agentB, 1]]);
  const row = (key: string | null) => {
    const { turns: n, turnLatencyMs, turnStagesMs, tools, transfers, endedBy } = res.body.items.find((r: { key: string | null }) => r.key === key);
    return { turns: n, turnLatencyMs, turnStagesMs, tools, transfers, endedBy };
  };
  t.deepEqual(row(agentA), {
    turns: 6,
    turnLatencyMs: dist(5, 470, 400, 700, 700), // 300 350 400 600 700
    turnStagesMs: {
      sttFinal: dist(5, 150, 150, 250, 250), // 50 100 150 200 250
      llmFirstToken: dist(5, 340, 300, 500, 500), // 200 250 300 450 500
      ttsFirstAudio: dist(5, 50, 50, 70, 70), // 30 40 50 60 70
      firstAudioOut: dist(5, 470, 400, 700, 700),
    },
    tools: { calls: 3, failures: 1, errorRate: 1 / 3 },
    transfers: { started: 2, completed: 1, failed: 1 },
    endedBy: { agent_hangup: 1, max_duration: 1, transferred: 1 },
  });
  t.deepEqual(row(agentB), {
    turns: 1,
    turnLatencyMs: dist(1, 500, 500, 500, 500),
    turnStagesMs: { sttFinal: dist(1, 120, 120, 120, 120), llmFirstToken: dist(1, 350, 350, 350, 350), ttsFirstAudio: dist(1, 80, 80, 80, 80), firstAudioOut: dist(1, 500, 500, 500, 500) },
    tools: { calls: 1, failures: 1, errorRate: 1 },
    transfers: { started: 0, completed: 0, failed: 0 },
    endedBy: { agent_hangup: 0, max_duration: 0, transferred: 0 },
  });
  t.deepEqual(row(null), {
    turns: 1,
    turnLatencyMs: dist(1, 900, 900, 900, 900),
    turnStagesMs: { sttFinal: none, llmFirstToken: none, ttsFirstAudio: none, firstAudioOut: none },
    tools: { calls: 0, failures: 0, errorRate: null },
    transfers: { started: 0, completed: 0, failed: 0 },
    endedBy: { agent_hangup: 0, max_duration: 0, transferred: 0 },
  });
});

test('statistics by end reason and by day carry the same figures per group', async (t) => {
  const byReason = await c.get(`/api/v1/analytics/statistics?groupBy=end_reason&${range}`);
  const figures = (r: { key: string; turns: number; tools: unknown; transfers: unknown; endedBy: { transferred: number } }) => [r.key, r.turns, r.tools, r.transfers, r.endedBy.transferred];
  t.deepEqual(byReason.body.items.map(figures), [
    ['caller_hangup', 2, { calls: 1, failures: 1, errorRate: 1 }, { started: 0, completed: 0, failed: 0 }, 0],
    ['agent_hangup', 2, { calls: 2, failures: 1, errorRate: 0.5 }, { started: 1, completed: 0, failed: 1 }, 0],
    ['max_duration', 3, { calls: 0, failures: 0, errorRate: null }, { started: 0, completed: 0, failed: 0 }, 0],
    ['transferred', 1, { calls: 1, failures: 0, errorRate: 0 }, { started: 1, completed: 1, failed: 0 }, 1],
  ]);
  const byDay = await c.get(`/api/v1/analytics/statistics?groupBy=day&${range}`);
  t.deepEqual(byDay.body.items.map((r: { key: string; turns: number; turnLatencyMs: unknown; tools: unknown }) => [r.key, r.turns, r.turnLatencyMs, r.tools]), [
    ['2024-05-01', 8, dist(7, 3750 / 7, 500, 900, 900), { calls: 4, failures: 2, errorRate: 0.5 }],
  ]);
});

test('the range bounds the calls, not the events: a call from before the range brings none of its figures', async (t) => {
  // From 1 s before T0 the call that started then (agent A) counts, with all its events and turns.
  const wider = await c.get(`/api/v1/analytics/metrics?from=${at(T0, -1)}&to=${at(T0, 3600)}`);
  t.like(wider.body, {
    totalCalls: 6,
    turns: 10,
    tools: { calls: 6, failures: 4 },
    transfers: { started: 3, completed: 2, failed: 2 },
    endedBy: { agent_hangup: 2, max_duration: 1, transferred: 1 },
    turnLatencyMs: { count: 9, max: 99_999 },
  });
  // From 1 s after T0, a1 (which started at T0, the `from` above) is out with its events.
  const later = await c.get(`/api/v1/analytics/metrics?from=${at(T0, 1)}&to=${at(T0, 3600)}`);
  t.like(later.body, { totalCalls: 4, turns: 6, tools: { calls: 2, failures: 1, errorRate: 0.5 }, transfers: { started: 1, completed: 1, failed: 0 } });
});

test('empty ranges give zero counts and null percentiles, and no statistics rows', async (t) => {
  const res = await c.get('/api/v1/analytics/metrics?from=2020-01-01&to=2020-01-02');
  t.like(res.body, {
    totalCalls: 0,
    turns: 0,
    turnLatencyMs: none,
    turnStagesMs: { sttFinal: none, llmFirstToken: none, ttsFirstAudio: none, firstAudioOut: none },
    tools: { calls: 0, failures: 0, errorRate: null },
    transfers: { started: 0, completed: 0, failed: 0 },
    endedBy: { agent_hangup: 0, max_duration: 0, transferred: 0 },
  });
  const stats = await c.get('/api/v1/analytics/statistics?groupBy=agent&from=2020-01-01&to=2020-01-02');
  t.deepEqual(stats.body, { items: [], total: 0, limit: 20, offset: 0 });
});

test('the test mode and another tenant see only their own calls', async (t) => {
  const tenant = await seedTenant(app);
  const own = client(app, tenant.headers);
  const empty = await own.get(`/api/v1/analytics/metrics?${range}`);
  t.like(empty.body, { totalCalls: 0, turns: 0, tools: { calls: 0 }, transfers: { started: 0 }, endedBy: { agent_hangup: 0 } });
  agentCall({ tenantId: tenant.tenantId, mode: 'live' }, null, 10, 'agent_hangup', turns([10, 20, 30, 40]), ['tool_failed']);
  const one = await own.get(`/api/v1/analytics/metrics?${range}`);
  t.like(one.body, { totalCalls: 1, turns: 1, turnLatencyMs: dist(1, 40, 40, 40, 40), tools: { calls: 1, failures: 1, errorRate: 1 }, endedBy: { agent_hangup: 1 } });
  // Tenant 1's figures are unchanged by it (checked in full above).
  t.like((await c.get(`/api/v1/analytics/metrics?${range}`)).body, { totalCalls: 5, turns: 8, tools: { calls: 4, failures: 2 } });
});
