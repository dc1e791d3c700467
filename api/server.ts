/**
 * The HTTP/WebSocket server on uWebSockets.js: one app, the routes mounted through the adapter.
 */
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { mountRoutes, type AdapterOptions } from './http/adapter.js';
import type { RouteDef } from './http/route.js';
import { loadUws } from './uws.js';

export interface HttpServer {
  readonly app: TemplatedApp;
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** Stops accepting connections and closes open ones. Idempotent. */
  close(): void;
}

export async function startHttpServer(
  listen: { host: string; port: number },
  routes: readonly RouteDef[],
  adapter: AdapterOptions,
  /** Extra mounting (WebSocket endpoints, SIP over WebSocket) before the catch-all. */
  mountExtra?: (app: TemplatedApp) => void,
): Promise<HttpServer> {
  const uws = loadUws();
  const app = uws.App();
  mountExtra?.(app);
  mountRoutes(app, routes, adapter);
  const token = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(listen.host, listen.port, (t) => {
      if (t) resolve(t);
      else reject(new Error(`cannot listen on ${listen.host}:${listen.port} (in use or not permitted)`));
    });
  });
  let closed = false;
  return {
    app,
    port: uws.us_socket_local_port(token as never),
    close() {
      if (closed) return;
      closed = true;
      uws.us_listen_socket_close(token);
      // Present in the v20.30 binary, missing from its typings: closes open connections too.
      (app as TemplatedApp & { close(): void }).close();
    },
  };
}
