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

/**
 * One row per call of the range (through calls_tenant_started): its group, end reason and
 * metrics. The percentiles are computed in JS, not with window functions over json_each: on a
 * file of 100,000 calls and 1,000,000 events (2 loaded cores), the five distributions of
 * 85,000 calls (1.9 M values) took 22 s in SQL and 3.2 s this way; 20,000 calls 3.8 s and
 * 0.6 s. Calls with empty metrics are not parsed.
 */
const callsSql = (key: string) => `
  SELECT ${key} AS k, c.end_reason AS endReason, c.metrics AS metrics FROM calls c WHERE ${inRange}`;

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
type CallsRow = [k: Key, endReason: string | null, metrics: string];
interface EventsRow {
  k: Key;
  toolCalls: number;
  toolFailures: number;
  started: number;
  completed: number;
  failed: number;
}

const emptyDistribution = (): Distribution => ({ count: 0, average: null, p50: null, p95: null, max: null });

/** The value at rank ceil(p/100 × n) of the ascending `sorted` (as the SQL helper in analytics.ts). */
const nearestRank = (sorted: Float64Array, p: number) => sorted[Math.floor((p * sorted.length + 99) / 100) - 1]!;

/** count, average, nearest-rank p50 and p95, and max of `values`. */
function summarize(values: number[]): Distribution {
  if (!values.length) return emptyDistribution();
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of values) sum += v;
  return { count: values.length, average: sum / values.length, p50: nearestRank(sorted, 50), p95: nearestRank(sorted, 95), max: sorted[sorted.length - 1]! };
}

/** The numbers (finite ones only) of one group, as they are read from the calls' metrics. */
class Samples {
  turns = 0;
  readonly turnLatency: number[] = [];
  readonly stages: Record<TurnStage, number[]> = { sttFinal: [], llmFirstToken: [], ttsFirstAudio: [], firstAudioOut: [] };

  /** Adds one call's metrics; anything that is not the recorded shape is ignored, never thrown. */
  add(metrics: unknown): void {
    if (!isRecord(metrics)) return;
    const latencies = Array.isArray(metrics.turnLatencyMs) ? metrics.turnLatencyMs : [];
    const turns = Array.isArray(metrics.turns) ? metrics.turns : [];
    this.turns += Math.max(latencies.length, turns.length);
    for (const v of latencies) if (isNumber(v)) this.turnLatency.push(v);
    for (const t of turns) {
      if (!isRecord(t)) continue;
      for (const s of turnStages) {
        const v = t[`${s}Ms`];
        if (isNumber(v)) this.stages[s].push(v);
      }
    }
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The figures of a group without calls, turns or events: zero counts, null percentiles. */
export const emptyAgentFigures = (): AgentFigures => ({
  turns: 0,
  turnLatencyMs: emptyDistribution(),
  turnStagesMs: Object.fromEntries(turnStages.map((s) => [s, emptyDistribution()])) as Record<TurnStage, Distribution>,
  tools: { calls: 0, failures: 0, errorRate: null },
  transfers: { started: 0, completed: 0, failed: 0 },
  endedBy: Object.fromEntries(agentEndReasons.map((r) => [r, 0])) as Record<AgentEndReason, number>,
});

/** The two statements for one grouping; `key` is an SQL expression over the calls row `c`. */
export class AgentFiguresQuery {
  readonly #calls: Database.Statement<[Record<string, unknown>], CallsRow>;
  readonly #events: Database.Statement<[Record<string, unknown>], EventsRow>;

  constructor(db: Db, key: string) {
    this.#calls = db.prepare<[Record<string, unknown>], CallsRow>(callsSql(key)).raw(true);
    this.#events = db.prepare(eventsSql(key));
  }

  /**
   * The figures of every group that has calls in the range, by key (null for calls without
   * one). `params` holds tenantId, mode, from and to; other names are ignored.
   */
  byKey(params: Record<string, unknown>): Map<Key, AgentFigures> {
    const p = { tenantId: params.tenantId, mode: params.mode, from: params.from, to: params.to };
    const out = new Map<Key, AgentFigures>();
    const samples = new Map<Key, Samples>();
    const of = (k: Key) => {
      let f = out.get(k);
      if (!f) out.set(k, (f = emptyAgentFigures()));
      return f;
    };
    for (const [k, endReason, metrics] of this.#calls.iterate(p)) {
      const f = of(k);
      if ((agentEndReasons as readonly (string | null)[]).includes(endReason)) f.endedBy[endReason as AgentEndReason]++;
      if (metrics === '{}') continue;
      let group = samples.get(k);
      if (!group) samples.set(k, (group = new Samples()));
      group.add(JSON.parse(metrics));
    }
    for (const [k, group] of samples) {
      const f = of(k);
      f.turns = group.turns;
      f.turnLatencyMs = summarize(group.turnLatency);
      for (const s of turnStages) f.turnStagesMs[s] = summarize(group.stages[s]);
    }
    for (const { k, toolCalls, toolFailures, started, completed, failed } of this.#events.all(p)) {
      const f = of(k);
      f.tools = { calls: toolCalls, failures: toolFailures, errorRate: toolCalls ? toolFailures / toolCalls : null };
      f.transfers = { started, completed, failed };
    }
    return out;
  }
}
