/** Health, liveness and readiness. No auth: orchestrators and load balancers call these. */
import { z } from 'zod';
import type { Health } from '../../engine/health/health.js';
import { then } from '../../lib/maybe.js';
import { Reply, route, type RouteDef } from '../http/route.js';

const componentSchema = z
  .object({ status: z.enum(['up', 'down']), error: z.string().optional() })
  .catchall(z.unknown())
  .meta({ id: 'ComponentHealth' });

const healthSchema = z
  .object({
    status: z.enum(['ok', 'down']),
    version: z.string(),
    uptimeSeconds: z.number().int(),
    components: z.record(z.string(), componentSchema),
  })
  .meta({ id: 'Health' });

const liveSchema = z.object({ status: z.literal('ok') }).meta({ id: 'Liveness' });

const readySchema = z
  .object({ status: z.enum(['ready', 'not_ready']), down: z.array(z.string()) })
  .meta({ id: 'Readiness' });

export function healthRoutes(health: Health): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/health',
      auth: false,
      summary: 'Overall status and each component (database, media workers, SIP server); 503 when any is down',
      tags: ['Health'],
      operationId: 'getHealth',
      response: healthSchema,
      errors: ['service_unavailable'],
      handler: () => then(health.report(), (report) => new Reply(report.status === 'ok' ? 200 : 503, report)),
    }),
    route({
      method: 'get',
      path: '/api/v1/health/live',
      auth: false,
      summary: 'Liveness: the process answers',
      tags: ['Health'],
      operationId: 'getLiveness',
      response: liveSchema,
      handler: () => ({ status: 'ok' as const }),
    }),
    route({
      method: 'get',
      path: '/api/v1/health/ready',
      auth: false,
      summary: 'Readiness: 200 when every component is up, 503 naming those that are down',
      tags: ['Health'],
      operationId: 'getReadiness',
      response: readySchema,
      errors: ['service_unavailable'],
      handler: () =>
        then(health.report(), (report) => {
          const down = Object.entries(report.components).filter(([, c]) => c.status !== 'up').map(([n]) => n);
          return new Reply(down.length ? 503 : 200, { status: down.length ? 'not_ready' : 'ready', down });
        }),
    }),
  ];
}
