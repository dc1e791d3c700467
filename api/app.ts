/**
 * The composition root: the engine plus its HTTP surface. `main.ts` runs it as a process; tests
 * start it in-process on port 0.
 */
import type { Logger } from '../config/logger.js';
import type { Config } from '../config/schema.js';
import { Engine, engineVersion } from '../engine/engine.js';
import { Reply, route, type RouteDef } from './http/route.js';
import { buildOpenApi } from './openapi.js';
import { healthRoutes } from './routes/health.js';
import { startHttpServer, type HttpServer } from './server.js';

export interface App {
  readonly engine: Engine;
  readonly http: HttpServer;
  readonly routes: readonly RouteDef[];
  /** Graceful stop: HTTP first (no new work), then the engine. Idempotent. */
  close(): Promise<void>;
}

export async function startApp(config: Config, log: Logger): Promise<App> {
  const engine = await Engine.start(config, log);
  const routes: RouteDef[] = [...healthRoutes(engine.health)];
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
    http,
    routes,
    close: () =>
      (closing ??= (async () => {
        http.close();
        await engine.close();
      })()),
  };
}
