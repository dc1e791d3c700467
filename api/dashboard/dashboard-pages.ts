/**
 * The dashboard (`web/`, built by `scripts/build-web.mjs` into `dist/web/`), served at `/app/`,
 * with `/` and `/app` redirecting there. The pages route with the URL's fragment (`#/agents`), so
 * the server knows exactly three kinds of URL: the page (`/app/`), its assets
 * (`/app/assets/<name>`) and the redirects.
 *
 * Static serving is hostile-input territory, so no request path ever reaches the file system:
 * the build's folder is listed once (flat: its regular files, no dot-files, no folders) into a
 * table, and an asset is answered only when its decoded name is a key of that table. `..`,
 * `%2e%2e`, encoded slashes, NUL, huge names: none is a key, all are `not_found` in the API's
 * envelope (as are paths with more segments, from the catch-all route).
 *
 * Asset names carry a hash of their content, so they are cached for a year as immutable; the
 * page is revalidated on every load (`no-cache`). Every answer carries a Content-Security-Policy
 * allowing only this origin (scripts, styles, fetch, EventSource, and the softphone's WebSocket
 * to the same host), plus `nosniff`, `no-referrer` and a refusal to be framed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { AppError } from '../http/errors.js';
import { Reply, route, type RouteDef } from '../http/route.js';

/** Where the build writes the dashboard: `dist/web/`, beside this file's `dist/api/`. */
export const defaultDashboardDir = fileURLToPath(new URL('../../web/', import.meta.url));

/** The page's base path. */
export const DASHBOARD_BASE = '/app';

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

/** Types of what the build writes; a file of any other type is not served. */
const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

/** A name the build writes: `app-<hash>.js`. Longer names, dot-files and paths are never listed. */
const assetName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * `Host` as the browser sent it, when it is a plain host[:port] (anything else could smuggle
 * directives into the policy); the softphone's WebSocket goes to this host.
 */
const plainHost = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/**
 * The policy: this origin only. `connect-src` names ws:/wss: to the same host as well, as browsers
 * before CSP 3 do not count them as 'self'. Media may come from blob: URLs (a recording fetched
 * with the access token) and MediaStreams (the softphone's audio).
 */
export function contentSecurityPolicy(host: string | undefined): string {
  const sockets = host !== undefined && plainHost.test(host) ? ` ws://${host} wss://${host}` : '';
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "media-src 'self' blob: mediastream:",
    `connect-src 'self'${sockets}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

interface Asset {
  body: Buffer;
  type: string;
}

/** The build's files, read once; `null` until the build exists (re-checked on each request until then). */
class BuiltDashboard {
  #assets: Map<string, Asset> | null = null;
  #index: Buffer | null = null;

  constructor(private readonly dir: string) {}

  /** The page, or null when the dashboard is not built. */
  index(): Buffer | null {
    this.#load();
    return this.#index;
  }

  asset(name: string): Asset | undefined {
    this.#load();
    return this.#assets?.get(name);
  }

  #load(): void {
    if (this.#assets) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(this.dir, { withFileTypes: true });
    } catch {
      return; // not built (yet)
    }
    const assets = new Map<string, Asset>();
    for (const e of entries) {
      const type = contentTypes[path.extname(e.name)];
      if (!e.isFile() || !assetName.test(e.name) || !type) continue;
      assets.set(e.name, { body: fs.readFileSync(path.join(this.dir, e.name)), type });
    }
    const index = assets.get('index.html');
    if (!index) return;
    assets.delete('index.html');
    this.#index = index.body;
    this.#assets = assets;
  }
}

function securityHeaders(host: string | undefined): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(host),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  };
}

const redirect = (to: string) => new Reply(302, undefined, { location: to, 'cache-control': REVALIDATE });

/** Routes for the dashboard (hidden from the OpenAPI document). `dir` is the build's folder. */
export function dashboardRoutes(dir = defaultDashboardDir): RouteDef[] {
  const built = new BuiltDashboard(dir);
  const common = { auth: false as const, hidden: true, tags: ['Dashboard'] };
  return [
    route({
      ...common,
      method: 'get',
      path: '/',
      summary: 'To the dashboard',
      operationId: 'getRoot',
      handler: () => redirect(`${DASHBOARD_BASE}/`),
    }),
    route({
      ...common,
      method: 'get',
      path: DASHBOARD_BASE,
      summary: 'To the dashboard',
      operationId: 'getDashboardRedirect',
      handler: () => redirect(`${DASHBOARD_BASE}/`),
    }),
    route({
      ...common,
      method: 'get',
      path: `${DASHBOARD_BASE}/`,
      summary: 'The dashboard',
      operationId: 'getDashboard',
      produces: 'text/html',
      errors: ['service_unavailable'],
      handler: ({ req }) => {
        const html = built.index();
        if (!html) throw new AppError('service_unavailable', 'The dashboard is not built: run node scripts/build-web.mjs');
        return Reply.raw(html, contentTypes['.html']!, 200, { 'cache-control': REVALIDATE, ...securityHeaders(req.headers['host']) });
      },
    }),
    route({
      ...common,
      method: 'get',
      path: `${DASHBOARD_BASE}/assets/:file`,
      summary: 'Dashboard assets',
      operationId: 'getDashboardAsset',
      params: z.object({ file: z.string() }),
      produces: 'application/octet-stream',
      handler: ({ params, req }) => {
        const a = built.asset(params.file);
        if (!a) throw new AppError('not_found', 'No dashboard asset with this name');
        return Reply.raw(a.body, a.type, 200, { 'cache-control': IMMUTABLE, ...securityHeaders(req.headers['host']) });
      },
    }),
  ];
}
