/**
 * What the agent runtime records, summed up per group of calls (all calls in a range, or per
 * agent, UTC day or end reason). Calls are chosen as in `analytics.ts`: one tenant and mode,
 * `started_at` in [from, to). Every figure belongs to the call, so an event counts in the range
 * (and the group) of the call it happened on, whenever it was written.
 *
 * - `turns`: agent turns, the entries of `metrics.turns` (or of `metrics.turnLatencyMs` for a
 *   call recorded with only those, whichever is longer).
 * - `turnLatencyMs` and `turnStagesMs`: distributions (nearest rank) of `metrics.turnLatencyMs`
 *   and of each stage of `metrics.turns`; a stage that did not happen in a turn (null, e.g. no
 *   STT for a DTMF turn) is left out of that stage's figures.
 * - `tools`: `call.tool_result` events; a result whose `ok` is not true is a failure.
 * - `transfers`: `call.transfer_started` / `_completed` / `_failed` events.
 * - `endedBy`: calls whose end reason is one of `agentEndReasons`.
 */
import type Database from 'better-sqlite3';
import type { Db } from '../database.js';

/** Nearest-rank summary of a set of numbers; all null (count 0) when the set is empty. */
export interface Distribution {
  count: number;
  average: number | null;
  p50: number | null;
  p95: number | null;
  max: number | null;
}

/** The latency stages of one turn, named as in `metrics.turns` without the `Ms`. */
export const turnStages = ['sttFinal', 'llmFirstToken', 'ttsFirstAudio', 'firstAudioOut'] as const;
type TurnStage = (typeof turnStages)[number];

/**
 * End reasons that are the agent's doing. `transferred` is the reason a transferred call ends
 * with (the transfer work adds it to `endReasons`); it counts 0 until then.
 */
export const agentEndReasons = ['agent_hangup', 'max_duration', 'transferred'] as const;
type AgentEndReason = (typeof agentEndReasons)[number];

export interface AgentFigures {
  turns: number;
  turnLatencyMs: Distribution;
  turnStagesMs: Record<TurnStage, Distribution>;
  tools: { calls: number; failures: number; errorRate: number | null };
  transfers: { started: number; completed: number; failed: number };
  endedBy: Record<AgentEndReason, number>;
}

/** The calls of the range, written as in analytics.ts (named parameters tenantId, mode, from, to). */
const inRange = 'c.tenant_id = @tenantId AND c.mode = @mode AND c.started_at >= @from AND c.started_at < @to';

/** The series one distributions query computes: 'turnLatency' and one per stage. */
type Series = 'turnLatency' | TurnStage;

const stageRows = turnStages.map((s) => `('${s}', '$.${s}Ms')`).join(', ');

/**
 * count, average, max and nearest-rank p50/p95 (the value at rank ceil(p/100 × n)) of every
 * series, per group `key`: one pass over the calls of the range.
 */
const distributionsSql = (key: string) => `
  WITH stages(s, p) AS (VALUES ${stageRows}),
  d AS (
    SELECT ${key} AS k, 'turnLatency' AS s, j.value AS v FROM calls c, json_each(c.metrics, '$.turnLatencyMs') j WHERE ${inRange}
    UNION ALL
    SELECT ${key} AS k, st.s AS s, json_extract(t.value, st.p) AS v
    FROM calls c, json_each(c.metrics, '$.turns') t, stages st WHERE ${inRange}
  ),
  r AS (
    SELECT k, s, v, row_number() OVER (PARTITION BY k, s ORDER BY v) AS rn, count(*) OVER (PARTITION BY k, s) AS n
    FROM d WHERE v IS NOT NULL
  )
  SELECT k, s, count(*) AS count, avg(v) AS average, max(v) AS max,
    max(CASE WHEN rn = (50 * n + 99) / 100 THEN v END) AS p50,
    max(CASE WHEN rn = (95 * n + 99) / 100 THEN v END) AS p95
  FROM r GROUP BY k, s`;

const arrayLength = (path: string) => `coalesce(json_array_length(c.metrics, '${path}'), 0)`;

const callsSql = (key: string) => `
  SELECT ${key} AS k, coalesce(sum(max(${arrayLength('$.turns')}, ${arrayLength('$.turnLatencyMs')})), 0) AS turns,
    ${agentEndReasons.map((r) => `coalesce(sum(c.end_reason = '${r}'), 0) AS ${r}`).join(', ')}
  FROM calls c WHERE ${inRange} GROUP BY k`;

const eventTypes = ['call.tool_result', 'call.transfer_started', 'call.transfer_completed', 'call.transfer_failed'] as const;

/** The call's own events (same tenant and mode), found through events_call_id. */
const eventsSql = (key: string) => `
  SELECT ${key} AS k,
    coalesce(sum(e.type = 'call.tool_result'), 0) AS toolCalls,
    coalesce(sum(e.type = 'call.tool_result' AND json_extract(e.data, '$.ok') IS NOT 1), 0) AS toolFailures,
    coalesce(sum(e.type = 'call.transfer_started'), 0) AS started,
    coalesce(sum(e.type = 'call.transfer_completed'), 0) AS completed,
    coalesce(sum(e.type = 'call.transfer_failed'), 0) AS failed
  FROM calls c JOIN events e ON e.call_id = c.id
  WHERE ${inRange} AND e.tenant_id = c.tenant_id AND e.mode = c.mode AND e.type IN (${eventTypes.map((t) => `'${t}'`).join(', ')})
  GROUP BY k`;

type Key = string | null;
type DistributionRow = Distribution & { k: Key; s: Series };
type CallsRow = { k: Key; turns: number } & Record<AgentEndReason, number>;
interface EventsRow {
  k: Key;
  toolCalls: number;
  toolFailures: number;
  started: number;
  completed: number;
  failed: number;
}

const emptyDistribution = (): Distribution => ({ count: 0, average: null, p50: null, p95: null, max: null });

/** The figures of a group without calls, turns or events: zero counts, null percentiles. */
export const emptyAgentFigures = (): AgentFigures => ({
  turns: 0,
  turnLatencyMs: emptyDistribution(),
  turnStagesMs: Object.fromEntries(turnStages.map((s) => [s, emptyDistribution()])) as Record<TurnStage, Distribution>,
  tools: { calls: 0, failures: 0, errorRate: null },
  transfers: { started: 0, completed: 0, failed: 0 },
  endedBy: Object.fromEntries(agentEndReasons.map((r) => [r, 0])) as Record<AgentEndReason, number>,
});

/** The three statements for one grouping; `key` is an SQL expression over the calls row `c`. */
export class AgentFiguresQuery {
  readonly #distributions: Database.Statement<[Record<string, unknown>], DistributionRow>;
  readonly #calls: Database.Statement<[Record<string, unknown>], CallsRow>;
  readonly #events: Database.Statement<[Record<string, unknown>], EventsRow>;

  constructor(db: Db, key: string) {
    this.#distributions = db.prepare(distributionsSql(key));
    this.#calls = db.prepare(callsSql(key));
    this.#events = db.prepare(eventsSql(key));
  }

  /**
   * The figures of every group that has calls in the range, by key (null for calls without
   * one). `params` holds tenantId, mode, from and to; other names are ignored.
   */
  byKey(params: Record<string, unknown>): Map<Key, AgentFigures> {
    const p = { tenantId: params.tenantId, mode: params.mode, from: params.from, to: params.to };
    const out = new Map<Key, AgentFigures>();
    const of = (k: Key) => {
      let f = out.get(k);
      if (!f) out.set(k, (f = emptyAgentFigures()));
      return f;
    };
    for (const { k, turns, ...ends } of this.#calls.all(p)) {
      const f = of(k);
      f.turns = turns;
      for (const r of agentEndReasons) f.endedBy[r] = ends[r];
    }
    for (const { k, s, count, average, p50, p95, max } of this.#distributions.all(p)) {
      const d = { count, average, p50, p95, max };
      if (s === 'turnLatency') of(k).turnLatencyMs = d;
      else of(k).turnStagesMs[s] = d;
    }
    for (const { k, toolCalls, toolFailures, started, completed, failed } of this.#events.all(p)) {
      const f = of(k);
      f.tools = { calls: toolCalls, failures: toolFailures, errorRate: toolCalls ? toolFailures / toolCalls : null };
      f.transfers = { started, completed, failed };
    }
    return out;
  }
}
