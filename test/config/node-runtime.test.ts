import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import fc from 'fast-check';
import { startCommandNodeFlags } from '../../bench/lib/engine.js';
import { maxSemiSpaceMb, START_SEMI_SPACE_MB } from '../../config/node-runtime.js';

const packageJson = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../package.json');

test('npm start runs the engine with the semi-space size the engine documents', (t) => {
  const start = (JSON.parse(fs.readFileSync(packageJson, 'utf8')) as { scripts: { start: string } }).scripts.start;
  t.regex(start, new RegExp(`\\bnode .*--max-semi-space-size=${START_SEMI_SPACE_MB} .*dist/api/main\\.js`));
});

test('the benchmarks start the engine and its floors with the flags of npm start', (t) => {
  const flags = startCommandNodeFlags();
  t.true(flags.includes(`--max-semi-space-size=${START_SEMI_SPACE_MB}`), flags.join(' '));
  t.true(flags.includes('--enable-source-maps'), flags.join(' '));
  t.false(flags.some((f) => f.endsWith('main.js')), flags.join(' '));
});

test('the semi-space flag is read from NODE_OPTIONS and the command line, the command line winning', (t) => {
  t.is(maxSemiSpaceMb([], ''), null);
  t.is(maxSemiSpaceMb(['--enable-source-maps'], '--max-old-space-size=512'), null);
  t.is(maxSemiSpaceMb([], '--max-semi-space-size=4'), 4);
  t.is(maxSemiSpaceMb(['--max-semi-space-size=2'], '--max-semi-space-size=8'), 2);
  t.is(maxSemiSpaceMb(['--max_semi_space_size=8'], ''), 8);
  t.is(maxSemiSpaceMb(['--max-semi-space-size=2', '--max-semi-space-size=16'], ''), 16);
});

test('any command line or NODE_OPTIONS is read without throwing', (t) => {
  fc.assert(
    fc.property(fc.array(fc.string()), fc.string(), (argv, opts) => {
      const mb = maxSemiSpaceMb(argv, opts);
      t.true(mb === null || (Number.isInteger(mb) && mb >= 0));
    }),
  );
});
