/**
 * Analytics over the caller's calls (tenant and mode), for a range on `started_at` that
 * defaults to the last 7 days (`to` = now). How each figure is computed is documented in
 * `engine/store/repositories/analytics.ts`: counts and talk-time durations of calls started in
 * the range, nearest-rank percentiles, peak concurrency from call intervals; and, in
 * `engine/store/repositories/agent-analytics.ts`, what the agent runtime records: turns, turn
 * latency and its stages, tool calls and failures, transfer outcomes and the calls the agent
 * ended, for the whole range and per group of the statistics.
 */
import { z } from 'zod';
import { callStatuses } from '../../engine/calls/call-record.js';
import { agentEndReasons, turnStages } from '../../engine/store/repositories/agent-analytics.js';
import { statisticsGroups } from '../../engine/store/repositories/analytics.js';
import { errorKinds } from '../../engine/store/repositories/error-logs.js';
import type { Store } from '../../engine/store/store.js';
import { page, paged, pageShape, rangeQuery } from '../http/pagination.js';
import { route, type RouteDef } from '../http/route.js';
import { readAccess } from './access.js';

/** The default window: a week shows weekday patterns without a slow query. */
const DEFAULT_DAYS = 7;

const distribution = (id: string) =>
  z
    .object({
      count: z.number().int(),
      average: z.number().nullable(),
      p50: z.number().nullable(),
      p95: z.number().nullable(),
      max: z.number().nullable(),
    })
    .meta({ id });

const latency = distribution('LatencyDistribution');

const stageDescriptions: Record<(typeof turnStages)[number], string> = {
  sttFinal: 'End of caller speech to the final transcript',
  llmFirstToken: "End of caller speech to the LLM's first token",
  ttsFirstAudio: 'Speech request to the first synthesised audio',
  firstAudioOut: 'End of caller speech to the first audio frame sent (the turn latency)',
};

/** What the agent runtime recorded on the calls of the range (or of one group). */
const agentFigures = {
  turns: z.number().int().meta({ description: 'Agent turns (entries of the calls’ metrics.turns)' }),
  turnLatencyMs: latency.meta({
    description: 'End of caller speech to first agent audio, per turn (metrics.turnLatencyMs)',
  }),
  turnStagesMs: z
    .object(Object.fromEntries(turnStages.map((s) => [s, latency.meta({ description: stageDescriptions[s] })])) as Record<(typeof turnStages)[number], typeof latency>)
    .meta({ description: 'Per latency stage of metrics.turns, in ms; a turn without the stage (null) is left out of it' }),
  tools: z
    .object({
      calls: z.number().int().meta({ description: 'Tool results (call.tool_result events)' }),
      failures: z.number().int().meta({ description: 'Tool results that were not ok' }),
      errorRate: z.number().nullable().meta({ description: 'failures / calls (0–1); null without tool calls' }),
    })
    .meta({ id: 'ToolCallFigures' }),
  transfers: z
    .object({
      started: z.number().int().meta({ description: 'call.transfer_started events' }),
      completed: z.number().int().meta({ description: 'call.transfer_completed events' }),
      failed: z.number().int().meta({ description: 'call.transfer_failed events' }),
    })
    .meta({ id: 'TransferFigures' }),
  endedBy: z
    .object(Object.fromEntries(agentEndReasons.map((r) => [r, z.number().int()])) as Record<(typeof agentEndReasons)[number], z.ZodNumber>)
    .meta({ description: 'Calls that ended with these end reasons' }),
};

const metricsSchema = z
  .object({
    from: z.iso.datetime(),
    to: z.iso.datetime(),
    totalCalls: z.number().int(),
    answeredCalls: z.number().int(),
    answerRate: z.number().nullable().meta({ description: 'answered / total (0–1); null without calls' }),
    byDirection: z.object({ inbound: z.number().int(), outbound: z.number().int(), web: z.number().int() }),
    byStatus: z.partialRecord(z.enum(callStatuses), z.number().int()),
    durationMs: distribution('DurationDistribution').meta({ description: 'Talk time of answered calls that ended' }),
    peakConcurrency: z.number().int().meta({ description: 'Most calls open at one instant in the range' }),
    peakAt: z.iso.datetime().nullable(),
    ...agentFigures,
  })
  .meta({
    id: 'CallAnalytics',
    description: 'Calls started in the range; events count with the call they happened on',
  });

const statisticsSchema = z
  .object({
    key: z.string().nullable().meta({ description: 'Agent id, UTC day (YYYY-MM-DD) or end reason; null when the call has none' }),
    label: z.string().nullable().meta({ description: "The agent's name when grouping by agent" }),
    totalCalls: z.number().int(),
    answeredCalls: z.number().int(),
    answerRate: z.number(),
    averageDurationMs: z.number().nullable(),
    totalDurationMs: z.number().int(),
    ...agentFigures,
  })
  .meta({ id: 'CallStatistics' });

const errorLogSchema = z
  .object({
    id: z.number().int(),
    kind: z.enum(errorKinds),
    callId: z.string().nullable(),
    code: z.string().nullable(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'ErrorLog' });

export function analyticsRoutes(store: Store): RouteDef[] {
  const read = readAccess('analytics');
  return [
    route({
      method: 'get',
      path: '/api/v1/analytics/metrics',
      auth: read,
      summary: 'Call counts, answer rate, durations, peak concurrency, agent turns and their latency stages, tool errors and transfer outcomes for a time range',
      tags: ['Analytics'],
      operationId: 'getCallMetrics',
      query: rangeQuery('started_at', DEFAULT_DAYS, {}),
      response: metricsSchema,
      handler: ({ auth, query }) => ({ from: query.from, to: query.to, ...store.analytics.metrics(auth, query) }),
    }),
    route({
      method: 'get',
      path: '/api/v1/analytics/statistics',
      auth: read,
      summary: 'Call statistics grouped by agent, UTC day or end reason, with the agent figures of each group',
      tags: ['Analytics'],
      operationId: 'getCallStatistics',
      query: rangeQuery('started_at', DEFAULT_DAYS, { ...pageShape, groupBy: z.enum(statisticsGroups).default('day') }),
      response: page(statisticsSchema, 'CallStatisticsPage'),
      handler: ({ auth, query }) => paged(store.analytics.statistics(auth, query, query.groupBy, query.limit, query.offset), query),
    }),
    route({
      method: 'get',
      path: '/api/v1/analytics/errors',
      auth: read,
      summary: 'Error logs (SIP, tool, provider, media, internal), newest first',
      tags: ['Analytics'],
      operationId: 'listErrorLogs',
      query: rangeQuery('created_at', DEFAULT_DAYS, { ...pageShape, kind: z.enum(errorKinds).optional(), callId: z.string().optional() }),
      response: page(errorLogSchema, 'ErrorLogPage'),
      handler: ({ auth, query }) => {
        const r = store.errorLogs.list(auth, query, query.limit, query.offset);
        return paged({ items: r.items.map(({ tenantId: _, mode: __, ...e }) => e), total: r.total }, query);
      },
    }),
  ];
}
