/**
 * Call analytics, computed in SQL over the calls table for one tenant and mode and a time
 * range (`from` inclusive, `to` exclusive, on `started_at`).
 *
 * - Counts and durations cover calls that started in the range. Durations are talk time
 *   (answer to end) of answered calls that have ended.
 * - Percentiles use the nearest-rank method: the value at rank ceil(p/100 × n).
 * - Peak concurrency is the largest number of calls open at one instant inside the range,
 *   from each call's [started_at, ended_at) interval clipped to the range, so a call that
 *   began before `from` and was still up counts. Open calls run until now (or `to`). A call
 *   that ends at the instant another starts does not overlap it.
 * - What the agent runtime records (turns, turn latency and its stages, tools, transfers, calls
 *   the agent ended) is summed up in `agent-analytics.ts`, for the whole range and per group.
 */
import type Database from 'better-sqlite3';
import type { CallDirection, CallStatus } from '../../calls/call-record.js';
import type { Db } from '../database.js';
import type { Mode } from '../mode.js';
import { AgentFiguresQuery, emptyAgentFigures, type AgentFigures, type Distribution } from './agent-analytics.js';
import type { Scope } from './scoped.js';

interface Range {
  from: string;
  to: string;
}

interface CallMetricsSummary extends AgentFigures {
  totalCalls: number;
  answeredCalls: number;
  /** answered / total, 0–1; null when there were no calls. */
  answerRate: number | null;
  byDirection: Record<CallDirection, number>;
  byStatus: Partial<Record<CallStatus, number>>;
  durationMs: Distribution;
  peakConcurrency: number;
  /** When the peak was first reached; null when there were no calls. */
  peakAt: string | null;
}

export const statisticsGroups = ['agent', 'day', 'end_reason'] as const;
type StatisticsGroup = (typeof statisticsGroups)[number];

interface StatisticsRow extends AgentFigures {
  /** Agent id, UTC day (YYYY-MM-DD) or end reason; null for calls without one. */
  key: string | null;
  /** The agent's name when grouping by agent; null otherwise. */
  label: string | null;
  totalCalls: number;
  answeredCalls: number;
  answerRate: number;
  averageDurationMs: number | null;
  totalDurationMs: number;
}

const inRange = 'c.tenant_id = @tenantId AND c.mode = @mode AND c.started_at >= @from AND c.started_at < @to';

/** count, average, max and nearest-rank p50/p95 of the values `source` selects (as column v). */
const distributionSql = (source: string) => `
  WITH d AS (${source}),
  r AS (SELECT v, row_number() OVER (ORDER BY v) AS rn, count(*) OVER () AS n FROM d)
  SELECT (SELECT count(*) FROM d) AS count, (SELECT avg(v) FROM d) AS average, (SELECT max(v) FROM d) AS max,
    (SELECT v FROM r WHERE rn = (50 * n + 99) / 100) AS p50,
    (SELECT v FROM r WHERE rn = (95 * n + 99) / 100) AS p95`;

const groupKey: Record<StatisticsGroup, { key: string; label: string; order: string }> = {
  agent: { key: 'c.agent_id', label: 'a.name', order: 'totalCalls DESC, key' },
  day: { key: 'substr(c.started_at, 1, 10)', label: 'NULL', order: 'key' },
  end_reason: { key: 'c.end_reason', label: 'NULL', order: 'totalCalls DESC, key' },
};

type Params = Scope & Range & Record<string, unknown>;
const params = (scope: Scope, range: Range, extra: Record<string, unknown> = {}): Params => ({
  tenantId: scope.tenantId,
  mode: scope.mode as Mode,
  from: range.from,
  to: range.to,
  ...extra,
});

interface GroupStatements {
  list: Database.Statement<[Params], Omit<StatisticsRow, keyof AgentFigures>>;
  count: Database.Statement<[Params], { n: number }>;
  figures: AgentFiguresQuery;
}

export class AnalyticsRepo {
  readonly #counts;
  readonly #byStatus;
  readonly #durations;
  readonly #figures;
  readonly #peak;
  readonly #groups: Record<StatisticsGroup, GroupStatements>;

  constructor(db: Db) {
    this.#counts = db.prepare<[Params], { total: number; answered: number; inbound: number; outbound: number; web: number }>(
      `SELECT count(*) AS total, count(c.answered_at) AS answered,
         coalesce(sum(c.direction = 'inbound'), 0) AS inbound, coalesce(sum(c.direction = 'outbound'), 0) AS outbound,
         coalesce(sum(c.direction = 'web'), 0) AS web
       FROM calls c WHERE ${inRange}`,
    );
    this.#byStatus = db.prepare<[Params], { status: CallStatus; n: number }>(
      `SELECT c.status, count(*) AS n FROM calls c WHERE ${inRange} GROUP BY c.status`,
    );
    this.#durations = db.prepare<[Params], Distribution>(
      distributionSql(`SELECT c.duration_ms AS v FROM calls c WHERE ${inRange} AND c.duration_ms IS NOT NULL`),
    );
    this.#figures = new AgentFiguresQuery(db, 'NULL');
    // Ends sort before starts at the same instant (d = -1 first): back-to-back calls do not overlap.
    this.#peak = db.prepare<[Params], { c: number; t: string }>(
      `WITH iv AS (
         SELECT max(c.started_at, @from) AS s, min(coalesce(c.ended_at, @openEnd), @to) AS e FROM calls c
         WHERE c.tenant_id = @tenantId AND c.mode = @mode AND c.started_at < @to AND coalesce(c.ended_at, @openEnd) > @from
       ),
       ev AS (SELECT s AS t, 1 AS d FROM iv WHERE e > s UNION ALL SELECT e AS t, -1 AS d FROM iv WHERE e > s),
       run AS (SELECT t, sum(d) OVER (ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS c FROM ev)
       SELECT c, t FROM run ORDER BY c DESC, t LIMIT 1`,
    );
    this.#groups = Object.fromEntries(
      Object.entries(groupKey).map(([group, g]) => {
        const from = `FROM calls c LEFT JOIN agents a ON a.id = c.agent_id WHERE ${inRange} GROUP BY ${g.key}`;
        const list = db.prepare<[Params], Omit<StatisticsRow, keyof AgentFigures>>(
          `SELECT ${g.key} AS key, ${g.label} AS label, count(*) AS totalCalls, count(c.answered_at) AS answeredCalls,
             CAST(count(c.answered_at) AS REAL) / count(*) AS answerRate,
             avg(c.duration_ms) AS averageDurationMs, coalesce(sum(c.duration_ms), 0) AS totalDurationMs
           ${from} ORDER BY ${g.order} LIMIT @limit OFFSET @offset`,
        );
        const count = db.prepare<[Params], { n: number }>(`SELECT count(*) AS n FROM (SELECT 1 ${from})`);
        return [group, { list, count, figures: new AgentFiguresQuery(db, g.key) }];
      }),
    ) as Record<StatisticsGroup, GroupStatements>;
  }

  metrics(scope: Scope, range: Range, now: string = new Date().toISOString()): CallMetricsSummary {
    const p = params(scope, range, { openEnd: now < range.to ? now : range.to });
    const counts = this.#counts.get(p)!;
    const peak = this.#peak.get(p);
    return {
      totalCalls: counts.total,
      answeredCalls: counts.answered,
      answerRate: counts.total ? counts.answered / counts.total : null,
      byDirection: { inbound: counts.inbound, outbound: counts.outbound, web: counts.web },
      byStatus: Object.fromEntries(this.#byStatus.all(p).map((r) => [r.status, r.n])),
      durationMs: this.#durations.get(p)!,
      peakConcurrency: peak?.c ?? 0,
      peakAt: peak?.t ?? null,
      ...(this.#figures.byKey(p).get(null) ?? emptyAgentFigures()),
    };
  }

  /** One row per agent, UTC day or end reason, paginated, each with its agent figures. */
  statistics(scope: Scope, range: Range, groupBy: StatisticsGroup, limit: number, offset: number): { items: StatisticsRow[]; total: number } {
    const g = this.#groups[groupBy];
    const p = params(scope, range, { limit, offset });
    const rows = g.list.all(p);
    const figures = rows.length ? g.figures.byKey(p) : new Map<string | null, AgentFigures>();
    return { items: rows.map((r) => ({ ...r, ...(figures.get(r.key) ?? emptyAgentFigures()) })), total: g.count.get(p)!.n };
  }
}
