/**
 * The composition root: the engine plus its HTTP surface. `main.ts` runs it as a process; tests
 * start it in-process on port 0.
 */
import type { Logger } from '../config/logger.js';
import type { Config } from '../config/schema.js';
import { Engine, engineVersion } from '../engine/engine.js';
import { Reply, route, type RouteDef } from './http/route.js';
import { buildOpenApi } from './openapi.js';
import { createAuthenticator } from './auth/authenticator.js';
import { TokenService } from './auth/tokens.js';
import { authRoutes } from './routes/auth.js';
import { healthRoutes } from './routes/health.js';
import { resourceRoutes } from './routes/resources.js';
import { startHttpServer, type HttpServer } from './server.js';

/** Requests per minute for callers without a limit of their own (the reference's default). */
export const DEFAULT_RATE_LIMIT = 100;

export interface App {
  readonly engine: Engine;
  readonly tokens: TokenService;
  readonly http: HttpServer;
  readonly routes: readonly RouteDef[];
  /** Graceful stop: HTTP first (no new work), then the engine. Idempotent. */
  close(): Promise<void>;
}

export async function startApp(config: Config, log: Logger): Promise<App> {
  const engine = await Engine.start(config, log);
  let tokens: TokenService;
  try {
    tokens = await TokenService.create(config);
  } catch (e) {
    await engine.close();
    throw e;
  }
  const authenticate = createAuthenticator({ store: engine.store, tokens, defaultRateLimit: DEFAULT_RATE_LIMIT });
  const routes: RouteDef[] = [...healthRoutes(engine.health), ...authRoutes(engine.store)];
  routes.push(...resourceRoutes(engine.store));
  const openapi = JSON.stringify(
    buildOpenApi(routes, { title: 'Agent Studio API', version: engineVersion }),
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
  );
  let http: HttpServer;
  try {
    http = await startHttpServer(config.http, routes, {
      log: log.child({ component: 'http' }),
      maxBodyBytes: config.http.maxBodyBytes,
      authenticate,
      validateResponses: config.env !== 'production',
    });
  } catch (e) {
    await engine.close();
    throw e;
  }
  log.info({ host: config.http.host, port: http.port }, 'http listening');
  let closing: Promise<void> | undefined;
  return {
    engine,
    tokens,
    http,
    routes,
    close: () =>
      (closing ??= (async () => {
        http.close();
        await engine.close();
      })()),
  };
}
