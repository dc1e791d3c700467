/**
 * The dashboard's build step (`scripts/build-web.mjs`, run by set-up): it refuses a web/ that does
 * not type-check (and leaves the last build in place), writes content-hashed assets that the page
 * names, and does nothing when the sources are unchanged.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';

const script = path.resolve('scripts/build-web.mjs');

function build(args: string[]): Promise<{ code: number | null; output: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => resolve({ code, output, ms: Date.now() - t0 }));
  });
}

test.serial('a copy of web/: it builds hashed assets the page names; unchanged, it is skipped; a type error fails the build and keeps the last one', async (t) => {
  // Inside the clone, so the copy resolves preact and sip.js from its node_modules.
  const work = fs.mkdtempSync(path.resolve('dist', 'test-web-build-'));
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  const src = path.join(work, 'web');
  const out = path.join(work, 'out');
  fs.cpSync(path.resolve('web'), src, { recursive: true });
  const args = [`--src=${src}`, `--out=${out}`];

  const first = await build(args);
  t.is(first.code, 0, first.output);
  const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
  const named = [...html.matchAll(/"assets\/(app-[0-9a-f]{12}\.(?:js|css))"/g)].map((m) => m[1]!);
  t.is(named.length, 2, html);
  t.deepEqual(fs.readdirSync(out).filter((f) => !f.startsWith('.')).sort(), [...named, 'index.html'].sort());
  t.log(`first build ${first.ms} ms`);

  const again = await build(args);
  t.is(again.code, 0);
  t.regex(again.output, /up to date/);
  t.log(`unchanged: ${again.ms} ms`);

  const router = path.join(src, 'src', 'router.ts');
  fs.writeFileSync(router, `${fs.readFileSync(router, 'utf8')}\nexport const broken: number = 'not a number';\n`);
  const bad = await build(args);
  t.is(bad.code, 1);
  t.regex(bad.output, /error TS2322/);
  t.regex(bad.output, /web\/ does not type-check/);
  t.is(fs.readFileSync(path.join(out, 'index.html'), 'utf8'), html, 'the last good build stays');
});
