/**
 * The API's documentation pages: Swagger UI at /docs and ReDoc at /redoc, both reading
 * /openapi.json. Every asset comes from the npm packages (swagger-ui-dist, redoc) and is served
 * from our own paths: no CDN, because these machines, and many customers' networks, have no
 * internet.
 *
 * Asset URLs carry a version (`?v=`: the package's version, or a hash of content we generate),
 * so an asset fetched with its current version is cached for a year as immutable, and an upgrade
 * changes the URL. The pages themselves are revalidated on every load (`no-cache`).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { z } from 'zod';
import { AppError } from '../http/errors.js';
import { Reply, route, type RouteDef } from '../http/route.js';

const require = createRequire(import.meta.url);

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

const contentTypes: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.html': 'text/html; charset=utf-8',
};

interface Asset {
  /** Where it comes from: a file in a package, or text we generate. */
  source: { file: string } | { text: string };
  version: string;
}

/** One page and its assets, served under `<base>` and `<base>/assets/<name>`. */
interface Page {
  base: string;
  operationId: string;
  summary: string;
  assets: Record<string, Asset>;
  html: (asset: (name: string) => string) => string;
}

function packageDir(name: string): { dir: string; version: string } {
  const pkg = require.resolve(`${name}/package.json`);
  return { dir: path.dirname(pkg), version: (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version };
}

const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

function generated(text: string): Asset {
  return { source: { text }, version: hash(text) };
}

/** The two pages, for an API document at `specUrl`. */
function docsPages(specUrl: string, title: string): Page[] {
  const swagger = packageDir('swagger-ui-dist');
  const redoc = packageDir('redoc');
  const fromSwagger = (f: string): Asset => ({ source: { file: path.join(swagger.dir, f) }, version: swagger.version });
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  // Our own start-up script, as a file rather than inline, so the page works under a strict CSP.
  const swaggerInit = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: ${JSON.stringify(specUrl)},
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'BaseLayout',
  });
};
`;
  return [
    {
      base: '/docs',
      operationId: 'getSwaggerUi',
      summary: 'Swagger UI',
      assets: {
        'swagger-ui.css': fromSwagger('swagger-ui.css'),
        'index.css': fromSwagger('index.css'),
        'swagger-ui-bundle.js': fromSwagger('swagger-ui-bundle.js'),
        'favicon-32x32.png': fromSwagger('favicon-32x32.png'),
        'favicon-16x16.png': fromSwagger('favicon-16x16.png'),
        'swagger-initializer.js': generated(swaggerInit),
      },
      html: (a) => `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>${esc(title)} — Swagger UI</title>
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <link rel="stylesheet" type="text/css" href="${a('swagger-ui.css')}">
    <link rel="stylesheet" type="text/css" href="${a('index.css')}">
    <link rel="icon" type="image/png" href="${a('favicon-32x32.png')}" sizes="32x32">
    <link rel="icon" type="image/png" href="${a('favicon-16x16.png')}" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${a('swagger-ui-bundle.js')}" charset="utf-8"></script>
    <script src="${a('swagger-initializer.js')}" charset="utf-8"></script>
  </body>
</html>
`,
    },
    {
      base: '/redoc',
      operationId: 'getRedoc',
      summary: 'ReDoc',
      assets: {
        'redoc.standalone.js': { source: { file: path.join(redoc.dir, 'bundles', 'redoc.standalone.js') }, version: redoc.version },
      },
      // ReDoc's standalone bundle finds the <redoc spec-url> element itself: no inline script.
      html: (a) => `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>${esc(title)} — ReDoc</title>
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <style>body { margin: 0; padding: 0; }</style>
  </head>
  <body>
    <redoc spec-url="${esc(specUrl)}"></redoc>
    <script src="${a('redoc.standalone.js')}"></script>
  </body>
</html>
`,
    },
  ];
}

/** Routes for the pages and their assets (hidden from the OpenAPI document). */
export function docsRoutes(specUrl: string, title: string): RouteDef[] {
  return docsPages(specUrl, title).flatMap((page) => {
    const url = (name: string) => `${page.base}/assets/${name}?v=${page.assets[name]!.version}`;
    const html = page.html(url);
    /** Package files are read on first request, then kept (a few MB for both pages). */
    const loaded = new Map<string, Buffer | string>();
    const body = (name: string, a: Asset) => {
      let b = loaded.get(name);
      if (b === undefined) {
        b = 'text' in a.source ? a.source.text : fs.readFileSync(a.source.file);
        loaded.set(name, b);
      }
      return b;
    };
    const tag = page.base.slice(1);
    return [
      route({
        method: 'get',
        path: page.base,
        auth: false,
        hidden: true,
        summary: page.summary,
        tags: ['Docs'],
        operationId: page.operationId,
        produces: 'text/html',
        handler: () =>
          Reply.raw(html, contentTypes['.html']!, 200, { 'cache-control': REVALIDATE, 'x-content-type-options': 'nosniff' }),
      }),
      route({
        method: 'get',
        path: `${page.base}/assets/:file`,
        auth: false,
        hidden: true,
        summary: `${page.summary} assets`,
        tags: ['Docs'],
        operationId: `${page.operationId}Asset`,
        params: z.object({ file: z.string() }),
        query: z.object({ v: z.string().optional() }),
        produces: 'application/octet-stream',
        handler: ({ params, query }) => {
          const a = Object.hasOwn(page.assets, params.file) ? page.assets[params.file] : undefined;
          if (!a) throw new AppError('not_found', `No ${tag} asset ${params.file}`);
          return Reply.raw(body(params.file, a), contentTypes[path.extname(params.file)]!, 200, {
            'cache-control': query.v === a.version ? IMMUTABLE : REVALIDATE,
            'x-content-type-options': 'nosniff',
          });
        },
      }),
    ];
  });
}
