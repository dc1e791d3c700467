/**
 * `GET /metrics`: the engine's Prometheus metrics in the text exposition format. On the API
 * listener it needs a super-admin (the figures cover every tenant); on the private metrics
 * listener (`metrics.listen`) it needs nothing, as a node exporter does.
 */
import type { EngineMetrics } from '../../engine/metrics/engine-metrics.js';
import { Reply, route, type AuthRequirement, type RouteDef } from '../http/route.js';

/** The route, with the given auth (`{ superAdmin: true }` on the API, `false` on the private listener). */
export function metricsRoute(metrics: EngineMetrics, auth: AuthRequirement): RouteDef {
  return route({
    method: 'get',
    path: '/metrics',
    auth,
    hidden: auth === false,
    summary: 'Prometheus metrics of the whole installation (super-admins only)',
    description:
      'Text exposition format 0.0.4: calls by state and end reason, call setup latency, SIP messages by method and ' +
      'response class, SIP abuse counters, media workers, event-log transaction time, event-loop delay and process ' +
      'figures. For a Prometheus scraper, `AS_METRICS_LISTEN=true` serves the same on a private listener without credentials.',
    tags: ['Health'],
    operationId: 'getMetrics',
    produces: metrics.contentType,
    handler: async () => Reply.raw(await metrics.scrape(), metrics.contentType, 200, { 'cache-control': 'no-store' }),
  });
}
