/**
 * The HTTP/WebSocket server on uWebSockets.js: one app, the routes mounted through the adapter.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { mountRoutes, type AdapterOptions } from './http/adapter.js';
import type { RouteDef } from './http/route.js';
import { loadUws } from './uws.js';

/**
 * An HTTPS/WSS app. uWS refuses a certificate or key it cannot use with no more than "App
 * construction failed": the files are read and checked here first, for a start-up error that
 * names the file and the problem.
 */
function secureApp(uws: ReturnType<typeof loadUws>, certFile: string, keyFile: string): TemplatedApp {
  try {
    new X509Certificate(fs.readFileSync(certFile));
    createPrivateKey(fs.readFileSync(keyFile));
  } catch (err) {
    throw new Error(`http TLS: ${certFile} / ${keyFile}: ${(err as Error).message}`);
  }
  return uws.SSLApp({ cert_file_name: certFile, key_file_name: keyFile });
}

export interface HttpServer {
  readonly app: TemplatedApp;
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** Stops accepting connections and closes open ones. Idempotent. */
  close(): void;
}

export async function startHttpServer(
  listen: { host: string; port: number; tlsCertFile?: string | undefined; tlsKeyFile?: string | undefined },
  routes: readonly RouteDef[],
  adapter: AdapterOptions,
  /** Extra mounting (WebSocket endpoints, SIP over WebSocket) before the catch-all. */
  mountExtra?: (app: TemplatedApp) => void,
): Promise<HttpServer> {
  const uws = loadUws();
  const app = listen.tlsCertFile && listen.tlsKeyFile ? secureApp(uws, listen.tlsCertFile, listen.tlsKeyFile) : uws.App();
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
