/**
 * The dashboard's static serving: the page and its hashed assets with the right types, caching
 * and Content-Security-Policy; redirects from / and /app; and hostile paths (traversal in every
 * spelling, NUL, huge names) answered 404 in the envelope, never a file outside the build, never
 * a crash.
 */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { contentSecurityPolicy, dashboardRoutes, defaultDashboardDir } from '../../api/dashboard/dashboard-pages.js';
import { AppError } from '../../api/http/errors.js';
import type { RouteDef } from '../../api/http/route.js';
import { useApp } from '../helpers/app.js';
import { tempDir } from '../helpers/config.js';
import { assertError } from '../helpers/envelope.js';
import { rawGet } from '../helpers/raw-http.js';

const r = useApp(test);

const built = fs.existsSync(path.join(defaultDashboardDir, 'index.html'));
const whenBuilt = built ? test : test.skip;
const why = built ? '' : ' (skipped: dist/web is not built; run node scripts/build-web.mjs)';

/** Secrets and files a traversal would reach: none of their bytes may ever come back. */
const outside = [path.resolve('package.json'), '/etc/passwd', path.resolve('dist/api/app.js')].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f));

test('/ and /app redirect to /app/', async (t) => {
  for (const p of ['/', '/app']) {
    const res = await fetch(r.base + p, { redirect: 'manual' });
    t.is(res.status, 302, p);
    t.is(res.headers.get('location'), '/app/', p);
    await res.arrayBuffer();
  }
});

whenBuilt(`/app/ is the page: HTML, no-cache, a strict CSP, and every asset it names is ours, hashed and immutable${why}`, async (t) => {
  const res = await fetch(`${r.base}/app/`);
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'text/html; charset=utf-8');
  t.is(res.headers.get('cache-control'), 'no-cache');
  t.is(res.headers.get('x-content-type-options'), 'nosniff');
  t.is(res.headers.get('x-frame-options'), 'DENY');
  t.is(res.headers.get('referrer-policy'), 'no-referrer');
  const host = new URL(r.base).host;
  t.is(res.headers.get('content-security-policy'), contentSecurityPolicy(host));
  t.regex(res.headers.get('content-security-policy')!, new RegExp(`connect-src 'self' ws://${host.replace(/\./g, '\\.')} wss://`));
  const html = await res.text();
  t.false(/https?:\/\//.test(html), 'no absolute URL: nothing from a CDN');
  t.false(/<script>(?!<)|\son\w+=/.test(html), 'no inline script or handler (the CSP would refuse it)');
  const all = [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
  t.deepEqual(all.filter((u) => u.startsWith('data:')), ['data:,'], 'an empty icon: no /favicon.ico request');
  const urls = all.filter((u) => !u.startsWith('data:'));
  t.deepEqual(urls.map((u) => u.replace(/-[0-9a-f]{12}\./, '-<hash>.')).sort(), ['assets/app-<hash>.css', 'assets/app-<hash>.js']);
  for (const u of urls) {
    const a = await fetch(new URL(u, `${r.base}/app/`));
    const body = Buffer.from(await a.arrayBuffer());
    t.is(a.status, 200, u);
    t.is(a.headers.get('content-type'), u.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8', u);
    t.is(a.headers.get('cache-control'), 'public, max-age=31536000, immutable', u);
    t.true(body.length > 1000, u);
    if (u.endsWith('.css')) t.notRegex(body.toString(), /url\(\s*['"]?(https?:)?\/\//i, 'no remote URL in the stylesheet');
  }
});

test('the CSP takes only a plain Host: anything else cannot add directives', (t) => {
  t.regex(contentSecurityPolicy('127.0.0.1:8000'), /connect-src 'self' ws:\/\/127\.0\.0\.1:8000 wss:\/\/127\.0\.0\.1:8000;/);
  t.regex(contentSecurityPolicy('[::1]:8000'), /ws:\/\/\[::1\]:8000/);
  for (const evil of ["x; script-src 'unsafe-inline'", 'a b', 'x,y', '', 'a'.repeat(300), "evil.example 'unsafe-eval'"]) {
    const csp = contentSecurityPolicy(evil);
    t.regex(csp, /connect-src 'self'; /, evil);
    t.notRegex(csp, /unsafe/, evil);
  }
  t.regex(contentSecurityPolicy(undefined), /^default-src 'none'; script-src 'self'; style-src 'self';/);
});

test('unknown assets, traversal and deeper paths are not_found in the envelope', async (t) => {
  for (const p of ['/app/assets/package.json', '/app/assets/index.html', '/app/assets/..%2F..%2Fpackage.json', '/app/assets/.fingerprint', '/app/assets/app.js%00.css']) {
    assertError(t, await r.req('GET', p), 'not_found', 'No dashboard asset with this name');
  }
  // fetch() resolves dot segments itself (%2e%2e included): these go over a bare socket, as sent.
  for (const p of ['/app/assets/%2e%2e', '/app/assets/..', '/app/assets/../../package.json', '/app/assets/%2e%2e/%2e%2e/package.json']) {
    const res = await rawGet(r.app.http.port, p);
    t.is(res.status, 404, p);
    t.is(res.headers['content-type'], 'application/json; charset=utf-8', p);
    t.is((JSON.parse(res.body.toString()) as { error: { code: string } }).error.code, 'not_found', p);
  }
  assertError(t, await r.req('GET', '/app/assets/a/b'), 'not_found', 'No route for GET /app/assets/a/b');
  assertError(t, await r.req('GET', '/app/index.html'), 'not_found', 'No route for GET /app/index.html');
  assertError(t, await r.req('POST', '/app/'), 'method_not_allowed', 'POST is not allowed on /app/');
});

/** The build's own asset names, so some generated paths are real hits. */
const builtAssets = built ? fs.readdirSync(defaultDashboardDir).filter((f) => /^app-/.test(f)) : [];

/** Path pieces a traversal is made of, in many spellings. */
const piece = fc.oneof(
  fc.constantFrom('..%2f..%2f', '%2e%2e%2f%2e%2e%2f', '..%2F..%2F..%2F', '..%5c..%5c', '..%2f', '..', '.', '%2e%2e', '%2E%2E', '.%2e', '%2e.', '..%2f', '..%2F', '%2f', '%5c', '..\\', '%00', '%c0%af', '%252e%252e', '%', '%zz', '~', ''),
  fc.constantFrom('package.json', 'etc', 'passwd', 'dist', 'api', 'app.js', 'index.html', 'web', '.fingerprint', '.git', 'config', ...builtAssets),
  fc.string({ maxLength: 12 }).map((s) => encodeURIComponent(s)),
  fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/),
);

/** A traversal in one of its spellings: (dot-dot, slash) x depth, then a file outside the build. */
const traversal = fc
  .tuple(
    fc.constantFrom('/app/assets/', '/app/', '/app/assets/x/'),
    fc.constantFrom('..', '%2e%2e', '%2E%2E', '.%2e', '%2e.', '%252e%252e', '..%00'),
    fc.constantFrom('/', '%2f', '%2F', '%5c', '\\', '%c0%af', '%252f'),
    fc.integer({ min: 1, max: 5 }),
    fc.constantFrom('package.json', 'etc/passwd', 'etc%2fpasswd', 'api/app.js', 'api%2fapp.js'),
  )
  .map(([prefix, up, slash, depth, file]) => prefix + `${up}${slash}`.repeat(depth) + file);

test('property: no request path under /app reaches a file outside the build or crashes the engine', async (t) => {
  const port = r.app.http.port;
  const assets = new Set(fs.existsSync(defaultDashboardDir) ? fs.readdirSync(defaultDashboardDir) : []);
  let runs = 0;
  let hits = 0;
  let travs = 0;
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('/app/', '/app/assets/', '/app/assets/x/', '/'), fc.array(piece, { minLength: 1, maxLength: 6 }), fc.constantFrom('/', '%2f', '%2F'), fc.nat(7), fc.option(traversal, { freq: 2 }), async (prefix, parts, sep, exact, trav) => {
      runs++;
      // One case in eight asks for a real asset by its exact name: those must be served.
      const target = exact === 0 && builtAssets.length ? `/app/assets/${builtAssets[parts.length % builtAssets.length]}` : (trav ?? prefix + parts.join(sep));
      if (trav && !(exact === 0 && builtAssets.length)) travs++;
      if (exact === 0 && builtAssets.length) {
        hits++;
        return (await rawGet(port, target)).status === 200;
      }
      const res = await rawGet(port, target);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      for (const secret of outside) if (res.body.length > 0 && res.body.includes(secret.subarray(0, 64))) return false;
      if (res.status === 200) {
        // Only the page itself, or an asset of the build by its exact name.
        const name = target.startsWith('/app/assets/') ? decodeURIComponent(target.slice('/app/assets/'.length)) : null;
        return target === '/app/' || (name !== null && assets.has(name) && name !== 'index.html' && !name.startsWith('.'));
      }
      return [302, 404, 400, 405].includes(res.status) || res.status === 0;
    }),
    { numRuns: 300, seed: 10_101 },
  );
  t.log(`${runs} paths (${hits} exact asset names, ${travs} spelled traversals); statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.is((await fetch(`${r.base}/api/v1/health/live`)).status, 200, 'the engine still answers');
});

test('huge and odd paths: an answer or a closed connection, never a crash', async (t) => {
  const port = r.app.http.port;
  const answers: number[] = [];
  for (const target of [`/app/assets/${'a'.repeat(100_000)}`, `/app/assets/${'%2e%2e%2f'.repeat(5000)}etc/passwd`, '/app/assets/\u0001\u007f', `/app/${'../'.repeat(1000)}`]) {
    const res = await rawGet(port, target);
    answers.push(res.status);
    t.not(res.status, 200, target.slice(0, 60));
    t.not(res.status, 500, target.slice(0, 60));
  }
  t.log(`statuses: ${answers.join(', ')} (0: connection closed by the server)`);
  t.is((await fetch(`${r.base}/api/v1/health/live`)).status, 200);
});

/** A route's handler, called as the adapter would (these routes need no auth and no body). */
function call(routes: RouteDef[], p: string, params: Record<string, string> = {}): { status: number; headers: Record<string, string>; body: unknown } {
  const route = routes.find((x) => x.path === p)!;
  const reply = route.handler({ params, query: {}, body: undefined, auth: undefined as never, req: { method: 'GET', url: p, query: '', headers: {}, ip: '127.0.0.1', requestId: 'x' }, log: undefined as never });
  return reply as { status: number; headers: Record<string, string>; body: unknown };
}

test('only regular files of the build folder are served: no symlink, dot-file, folder or unknown type', (t) => {
  const dir = tempDir('as-web-');
  fs.writeFileSync(path.join(dir, 'index.html'), '<!DOCTYPE html><title>x</title>');
  fs.writeFileSync(path.join(dir, 'app-0123456789ab.js'), 'console.log(1)');
  fs.writeFileSync(path.join(dir, '.secret.js'), 'no');
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'no');
  fs.mkdirSync(path.join(dir, 'sub.js'));
  fs.symlinkSync(path.resolve('package.json'), path.join(dir, 'leak.js'));
  const routes = dashboardRoutes(dir);
  const ok = call(routes, '/app/assets/:file', { file: 'app-0123456789ab.js' });
  t.is(ok.status, 200);
  t.is(ok.headers['content-type'], 'text/javascript; charset=utf-8');
  t.is(String(ok.body), 'console.log(1)');
  for (const file of ['.secret.js', 'notes.txt', 'sub.js', 'leak.js', 'index.html', '../index.html']) {
    const e = t.throws(() => call(routes, '/app/assets/:file', { file }), { instanceOf: AppError }, file);
    t.is(e?.code, 'not_found', file);
  }
});

test('before the build exists, the page is service_unavailable naming the build command', (t) => {
  const routes = dashboardRoutes(path.join(tempDir('as-web-'), 'missing'));
  const e = t.throws(() => call(routes, '/app/'), { instanceOf: AppError });
  t.is(e?.code, 'service_unavailable');
  t.is(e?.message, 'The dashboard is not built: run node scripts/build-web.mjs');
});
