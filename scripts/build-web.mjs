#!/usr/bin/env node
/**
 * Builds the dashboard (`web/`) into `dist/web/`: type-checks it (`tsc -p web --noEmit`), bundles
 * `web/src/main.tsx` (preact, sip.js) and `web/styles.css` with esbuild into content-hashed files,
 * and writes `index.html` naming them. Nothing is fetched from a CDN: the bundle holds every
 * dependency, as these machines and many customer networks have no internet.
 *
 * Quick when nothing changed: a fingerprint of web/'s sources, this script and the bundled
 * packages' versions is kept in `dist/web/.fingerprint`; the same fingerprint skips the build.
 * `--force` builds anyway; `--src=<dir>` and `--out=<dir>` build another copy (the tests).
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** `--src=<dir>` and `--out=<dir>` (tests build a copy); web/ and dist/web/ by default. */
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const webDir = path.resolve(arg('src') ?? path.join(root, 'web'));
const outDir = path.resolve(arg('out') ?? path.join(root, 'dist', 'web'));
const stampFile = path.join(outDir, '.fingerprint');
const force = process.argv.includes('--force');

const log = (msg) => process.stderr.write(`[build-web] ${msg}\n`);

/** Every file under `dir`, sorted (a stable order for the fingerprint). */
function files(dir) {
  return fs.readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .sort();
}

function fingerprint() {
  const h = createHash('sha256');
  for (const f of [...files(webDir), fileURLToPath(import.meta.url)]) {
    h.update(path.relative(root, f)).update('\0').update(fs.readFileSync(f)).update('\0');
  }
  for (const pkg of ['esbuild', 'preact', 'sip.js', 'typescript']) h.update(`${pkg}@${require(`${pkg}/package.json`).version}\0`);
  return h.digest('hex');
}

/** The stamp matches and every file the page names is there. */
function upToDate(print) {
  try {
    if (fs.readFileSync(stampFile, 'utf8') !== print) return false;
    const html = fs.readFileSync(path.join(outDir, 'index.html'), 'utf8');
    const named = [...html.matchAll(/"assets\/([^"]+)"/g)].map((m) => m[1]);
    return named.length > 0 && named.every((n) => fs.existsSync(path.join(outDir, n)));
  } catch {
    return false;
  }
}

const hash8 = (buf) => createHash('sha256').update(buf).digest('hex').slice(0, 12);

async function build() {
  const print = fingerprint();
  if (!force && upToDate(print)) {
    log('up to date');
    return;
  }
  const t0 = Date.now();
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', webDir, '--noEmit'], { stdio: 'inherit', cwd: root });
  if (tsc.status !== 0) throw new Error('web/ does not type-check');
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [path.join(webDir, 'src', 'main.tsx'), path.join(webDir, 'styles.css')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox110', 'safari16'],
    minify: true,
    sourcemap: false,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    write: false,
    outdir: outDir,
    logLevel: 'warning',
  });
  const out = new Map();
  for (const f of result.outputFiles) {
    const ext = path.extname(f.path);
    const name = `${ext === '.css' ? 'app' : 'app'}-${hash8(f.contents)}${ext}`;
    out.set(ext, { name, contents: f.contents });
  }
  const js = out.get('.js');
  const css = out.get('.css');
  if (!js || !css) throw new Error('esbuild did not produce a .js and a .css file');
  const template = fs.readFileSync(path.join(webDir, 'index.html'), 'utf8');
  const html = template.replaceAll('{{js}}', `assets/${js.name}`).replaceAll('{{css}}', `assets/${css.name}`);
  // A fresh folder: old hashed files are never served again.
  const tmp = `${outDir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  fs.writeFileSync(path.join(tmp, js.name), js.contents);
  fs.writeFileSync(path.join(tmp, css.name), css.contents);
  fs.writeFileSync(path.join(tmp, 'index.html'), html);
  fs.writeFileSync(path.join(tmp, '.fingerprint'), print);
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.renameSync(tmp, outDir);
  log(`built ${js.name} (${js.contents.length} bytes), ${css.name} (${css.contents.length} bytes) in ${Date.now() - t0} ms`);
}

build().catch((e) => {
  log(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
