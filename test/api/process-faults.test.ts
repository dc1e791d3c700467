/**
 * What the engine process does with an error that escaped every boundary: it is logged with its
 * origin and survived; a burst of them stops the process gracefully with exit code 70. Run in a
 * real child process, since an escaped error is exactly what ends one.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const faultsJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../api/process-faults.js');

/** A process that installs the policy, then throws `throws` errors and rejects one promise. */
function run(throws: number): Promise<{ code: number | null; out: string }> {
  const script = `
    import pino from 'pino';
    import { ProcessFaults, EX_SOFTWARE } from ${JSON.stringify(faultsJs)};
    const log = pino({ level: 'info' }, process.stdout);
    new ProcessFaults({ log, maxFaults: 3, onTooMany: () => { console.log('STOPPING'); setTimeout(() => process.exit(EX_SOFTWARE), 10); } }).install();
    Promise.reject(new Error('rejected on purpose'));
    for (let i = 0; i < ${throws}; i++) setTimeout(() => { throw new Error('thrown on purpose ' + i); }, 20 * (i + 1));
    setTimeout(() => { console.log('ALIVE'); process.exit(0); }, 20 * (${throws} + 2));
  `;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: path.dirname(faultsJs), stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

const fatalLines = (out: string) =>
  out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string; origin?: string; err?: { message: string } });

test('escaped errors are logged with their origin and the process keeps running', async (t) => {
  const { code, out } = await run(2);
  t.is(code, 0);
  t.true(out.includes('ALIVE'));
  const lines = fatalLines(out).filter((l) => l.msg === 'error escaped every boundary; still serving');
  t.deepEqual(lines.map((l) => l.origin).sort(), ['uncaughtException', 'uncaughtException', 'unhandledRejection']);
  t.true(lines.every((l) => l.level === 60 && typeof l.err?.message === 'string'));
});

test('more escaped errors than the policy allows in its window: one graceful stop, exit 70', async (t) => {
  const { code, out } = await run(6);
  t.is(code, 70);
  t.false(out.includes('ALIVE'));
  t.is(out.split('STOPPING').length - 1, 1);
  t.truthy(fatalLines(out).find((l) => l.msg === 'too many escaped errors; stopping gracefully'));
});
