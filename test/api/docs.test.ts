/**
 * The documentation pages load everything from us: every asset their HTML references is served
 * from our own paths with a sensible content type and caching, and nothing points elsewhere.
 */
import { spawn, spawnSync } from 'node:child_process';
import test from 'ava';
import { assertError } from '../helpers/envelope.js';
import { useApp } from '../helpers/app.js';

const r = useApp(test);

/** Every URL in src= or href= attributes of the page. */
function referenced(html: string): string[] {
  return [...html.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/gi)].map((m) => m[1]!);
}

const expectedType = (url: string) =>
  url.includes('.js?') ? 'text/javascript; charset=utf-8' : url.includes('.css?') ? 'text/css; charset=utf-8' : url.includes('.png?') ? 'image/png' : 'unknown';

for (const [page, minimum] of [
  ['/docs', ['swagger-ui-bundle.js', 'swagger-ui.css', 'swagger-initializer.js']],
  ['/redoc', ['redoc.standalone.js']],
] as const) {
  test(`${page} loads every asset locally`, async (t) => {
    const res = await fetch(r.base + page);
    t.is(res.status, 200);
    t.is(res.headers.get('content-type'), 'text/html; charset=utf-8');
    t.is(res.headers.get('cache-control'), 'no-cache');
    const html = await res.text();
    const urls = referenced(html);
    for (const name of minimum) t.true(urls.some((u) => u.includes(`/${name}?`)), `${page} references ${name}`);
    for (const url of urls) {
      t.true(url.startsWith(`${page}/assets/`), `${url} is one of ours (no CDN)`);
      const asset = await fetch(new URL(url, r.base));
      const body = Buffer.from(await asset.arrayBuffer());
      t.is(asset.status, 200, url);
      t.is(asset.headers.get('content-type'), expectedType(url), url);
      t.is(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable', url);
      t.is(asset.headers.get('x-content-type-options'), 'nosniff', url);
      t.true(body.length > 0, url);
      if (url.includes('.png?')) t.deepEqual([...body.subarray(1, 4)], [0x50, 0x4e, 0x47]);
    }
    t.false(/https?:\/\//.test(html.replace(/<!DOCTYPE[^>]*>/, '')), 'no absolute URL in the page');
  });
}

test('the Swagger UI start-up script reads our document', async (t) => {
  const html = await (await fetch(`${r.base}/docs`)).text();
  const init = referenced(html).find((u) => u.includes('swagger-initializer.js'))!;
  const js = await (await fetch(new URL(init, r.base))).text();
  t.regex(js, /url: "\/openapi\.json"/);
  t.notRegex(js, /petstore/);
});

test('ReDoc reads our document', async (t) => {
  const html = await (await fetch(`${r.base}/redoc`)).text();
  t.regex(html, /<redoc spec-url="\/openapi\.json"><\/redoc>/);
});

test('an asset fetched without its current version is not cached for long', async (t) => {
  const res = await fetch(`${r.base}/redoc/assets/redoc.standalone.js`);
  t.is(res.status, 200);
  t.is(res.headers.get('cache-control'), 'no-cache');
  await res.arrayBuffer();
});

test('unknown assets and paths outside the list answer not_found in the envelope', async (t) => {
  for (const path of ['/docs/assets/package.json', '/docs/assets/..%2Fpackage.json', '/redoc/assets/swagger-ui.css', '/docs/assets/oauth2-redirect.html']) {
    const res = await r.req('GET', path);
    assertError(t, res, 'not_found', /^No (docs|redoc) asset /);
  }
  assertError(t, await r.req('GET', '/docs/assets/a/b'), 'not_found', 'No route for GET /docs/assets/a/b');
});

test('/openapi.json is OpenAPI 3 with both security schemes', async (t) => {
  const res = await r.req<{ openapi: string; components: { securitySchemes: Record<string, unknown> } }>('GET', '/openapi.json');
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'application/json; charset=utf-8');
  t.regex(res.body.openapi, /^3\.0\./);
  t.deepEqual(res.body.components.securitySchemes, {
    bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
    apiKeyAuth: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
  });
});

/** Debian's chromium, when installed (the softphone tests need it too; set-up does not install it yet). */
const chromium = ['chromium', 'chromium-browser'].find((bin) => spawnSync(bin, ['--version']).status === 0);

/** The page's DOM after its scripts ran, in a real browser that cannot resolve any host but ours. */
function render(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(chromium!, [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      '--virtual-time-budget=15000',
      '--dump-dom',
      url,
    ]);
    let dom = '';
    child.stdout.on('data', (d: Buffer) => (dom += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(dom) : reject(new Error(`chromium exited ${code}`))));
  });
}

const inBrowser = chromium ? test : test.skip;
const why = chromium ? '' : ' (skipped: chromium is not installed)';

inBrowser(`Swagger UI renders our operations in a browser with no internet${why}`, async (t) => {
  const dom = await render(`${r.base}/docs`);
  t.regex(dom, /class="opblock-summary-path" data-path="\/api\/v1\/api-keys"/);
  t.regex(dom, /Create an API key; the response holds the whole key, shown this once/);
});

inBrowser(`ReDoc renders our operations in a browser with no internet${why}`, async (t) => {
  const dom = await render(`${r.base}/redoc`);
  t.regex(dom, /Sign in with e-mail and password: an access token and a refresh token/);
  t.regex(dom, /operation\/createApiKey/);
});
