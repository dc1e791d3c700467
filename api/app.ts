/**
 * The composition root: the engine plus its HTTP surface. `main.ts` runs it as a process; tests
 * start it in-process on port 0.
 */
import type { Logger } from '../config/logger.js';
import type { Config } from '../config/schema.js';
import { Engine, engineVersion } from '../engine/engine.js';
import { Reply, route, type RouteDef } from './http/route.js';
import { buildOpenApi } from './openapi.js';
import { bootstrapFirstTenant } from './auth/accounts.js';
import { createAuthenticator } from './auth/authenticator.js';
import { Sessions } from './auth/sessions.js';
import { TokenService } from './auth/tokens.js';
import { dashboardRoutes } from './dashboard/dashboard-pages.js';
import { docsRoutes } from './docs/docs-pages.js';
import { idempotency } from './middleware/idempotency.js';
import { RateLimiter, rateLimit } from './middleware/rate-limit.js';
import { apiKeyRoutes } from './routes/api-keys.js';
import { authRoutes } from './routes/auth.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoute } from './routes/metrics.js';
import { sessionRoutes } from './routes/sessions.js';
import { tenantRoutes } from './routes/tenants.js';
import { userRoutes } from './routes/users.js';
import { resourceRoutes } from './routes/resources.js';
import { sipUserRoutes } from './routes/sip-users.js';
import { webhookRoutes } from './routes/webhooks.js';
import type { CommandDeps } from './realtime/commands.js';
import { documentRealtime } from './realtime/openapi-realtime.js';
import { documentExternalAgent } from './openapi-external-agent.js';
import { Realtime } from './realtime/realtime.js';
import { startHttpServer, type HttpServer } from './server.js';
import { mountSipWebSocket, type SipWebSocketEndpoint } from './sip-websocket.js';

/** Requests per minute for callers without a limit of their own (the reference's default). */
export const DEFAULT_RATE_LIMIT = 100;

export interface App {
  readonly engine: Engine;
  readonly tokens: TokenService;
  readonly sessions: Sessions;
  readonly http: HttpServer;
  /** The private metrics listener (`metrics.listen`), or null. */
  readonly metricsHttp: HttpServer | null;
  /** WebSocket and SSE: the event hub, tickets and open connections. */
  readonly realtime: Realtime;
  /** SIP over WebSocket at `sip.wsPath`, or null when not served. */
  readonly sipWebSocket: SipWebSocketEndpoint | null;
  readonly routes: readonly RouteDef[];
  /** Graceful stop: HTTP first (no new work), then the engine. Idempotent. */
  close(): Promise<void>;
}

export async function startApp(config: Config, log: Logger): Promise<App> {
  const engine = await Engine.start(config, log);
  let tokens: TokenService;
  try {
    tokens = await TokenService.create(config);
    await bootstrapFirstTenant(engine.store, config.bootstrap, log);
  } catch (e) {
    await engine.close();
    throw e;
  }
  const authenticate = createAuthenticator({ store: engine.store, tokens, defaultRateLimit: DEFAULT_RATE_LIMIT });
  const sessions = new Sessions(engine.store, tokens, authenticate, log.child({ component: 'auth' }));
  const limiter = new RateLimiter();
  const commands: CommandDeps = {
    store: engine.store,
    hangup: (callId) => engine.calls.hangup(callId),
    actions: (callId) => {
      const call = engine.calls.calls.get(callId);
      return call && !call.ended ? call.actions : undefined;
    },
  };
  const realtime = new Realtime({
    events: engine.events,
    store: engine.store,
    commands,
    authenticate,
    settings: config.realtime,
    defaultRateLimit: DEFAULT_RATE_LIMIT,
    limiter,
    validate: config.env !== 'production',
    log,
  });
  const routes: RouteDef[] = [
    ...healthRoutes(engine.health),
    ...authRoutes(engine.store),
    ...sessionRoutes(sessions),
    ...apiKeyRoutes(engine.store, DEFAULT_RATE_LIMIT),
    ...tenantRoutes(engine.store, engine.recordings, engine.audioFiles),
    ...userRoutes(engine.store, sessions, DEFAULT_RATE_LIMIT),
    ...resourceRoutes(engine.store, engine.events, commands, engine.recordings, engine.audioFiles, {
      place: (r) => engine.calls.outbound.place(r),
      queueInfo: (id) => engine.calls.outbound.queueInfo(id),
      cancel: (id) => engine.calls.outbound.cancel(id),
    }),
    ...webhookRoutes(engine.store, () => engine.webhooks.kick()),
    ...sipUserRoutes(engine.store, engine.registrar),
    ...realtime.routes(),
    metricsRoute(engine.metrics, { superAdmin: true }),
  ];
  const openapi = JSON.stringify(
    documentExternalAgent(documentRealtime(
      buildOpenApi(routes, {
        title: 'Agent Studio API',
        version: engineVersion,
        description:
          'Real time: `GET /api/v1/ws` (WebSocket; frames under its `x-websocket`) and `GET /api/v1/events` ' +
          '(Server-Sent Events). Events are the `RealtimeEvent` schema, one component per type. ' +
          'Agents of kind `websocket`: the engine connects to them (`x-external-agent`, `ExternalAgent*` components).',
      }),
    ), config.externalAgents),
  );
  routes.push(
    route({
      method: 'get',
      path: '/openapi.json',
      auth: false,
      hidden: true,
      summary: 'This document',
      tags: ['Docs'],
      operationId: 'getOpenApi',
      handler: () => Reply.raw(openapi, 'application/json; charset=utf-8'),
    }),
    ...docsRoutes('/openapi.json', 'Agent Studio API'),
    ...dashboardRoutes(),
  );
  let http: HttpServer;
  let sipWs: SipWebSocketEndpoint | null = null;
  try {
    http = await startHttpServer(
      config.http,
      routes,
      {
        log: log.child({ component: 'http' }),
        maxBodyBytes: config.http.maxBodyBytes,
        authenticate: realtime.authenticator(),
        // Rate limiting first, so every request counts, even one that idempotency answers.
        middlewares: [rateLimit({ publicLimit: DEFAULT_RATE_LIMIT, limiter }), idempotency(engine.store)],
        validateResponses: config.env !== 'production',
      },
      (app) => {
        realtime.mount(app);
        const gateway = engine.sipWebSocket();
        if (gateway) {
          const { wsPath, wsMaxConnections, wsMaxMessageBytes, wsIdleTimeoutSeconds } = config.sip;
          const opts = { path: wsPath, maxConnections: wsMaxConnections, maxMessageBytes: wsMaxMessageBytes, idleTimeoutSeconds: wsIdleTimeoutSeconds };
          sipWs = mountSipWebSocket(app, gateway, opts, log.child({ component: 'sip-ws' }));
        }
      },
    );
    (sipWs as SipWebSocketEndpoint | null)?.serve({ address: config.http.host, port: http.port });
    // RFC 7118 §5: a binding reached through a WebSocket goes with it.
    (sipWs as SipWebSocketEndpoint | null)?.onClosed((flow) => engine.registrar.flowClosed({ protocol: 'ws', ...flow }));
  } catch (e) {
    realtime.close();
    await engine.close();
    throw e;
  }
  log.info({ host: config.http.host, port: http.port }, 'http listening');
  let metricsHttp: HttpServer | null = null;
  if (config.metrics.listen) {
    try {
      // Only /metrics, without credentials: the listener's address is its protection.
      metricsHttp = await startHttpServer(config.metrics, [metricsRoute(engine.metrics, false)], {
        log: log.child({ component: 'metrics-http' }),
        maxBodyBytes: 1024,
      });
    } catch (e) {
      realtime.close();
      http.close();
      await engine.close();
      throw e;
    }
    log.info({ host: config.metrics.host, port: metricsHttp.port }, 'metrics listening');
  }
  let closing: Promise<void> | undefined;
  return {
    engine,
    tokens,
    sessions,
    http,
    metricsHttp,
    realtime,
    sipWebSocket: sipWs,
    routes,
    close: () =>
      (closing ??= (async () => {
        realtime.close();
        http.close();
        metricsHttp?.close();
        await engine.close();
      })()),
  };
}
