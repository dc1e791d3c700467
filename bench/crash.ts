/**
 * Crash recovery under load, the hardening issue's full run: the engine process (real SQLite
 * file, WAL) is SIGKILLed `kills` times while SIPp holds `calls` concurrent calls with RTP, at
 * set-up, during media and during teardown in turn, and restarted on the same file each time.
 * After each restart: `PRAGMA integrity_check`, every call closed with a reason, every event an
 * SSE client received still in the log (same id, type, call, no gap), every call the API showed
 * still there as shown, every call SIPp got a 200 for recorded as answered. The cycle is the
 * test suite's (test/helpers/crash-cycle.ts; the suite runs 5 kills). There is no peer to run
 * side by side: the figures are losses (all must be 0) and the time from SIGKILL to ready.
 *
 * `npm run bench -- crash [kills=20] [calls=50] [rate=25] [server=embedded|thread]`
 */
import { crashCycle, figures, timelinesWhole, type CycleReport } from '../test/helpers/crash-cycle.js';
import { CrashEngine } from '../test/helpers/crash-engine.js';
import { keyValues } from './lib/args.js';
import { median, table } from './lib/stats.js';

export async function run(args: string[]): Promise<void> {
  const o = keyValues(args);
  const kills = Number(o['kills'] ?? 20);
  const calls = Number(o['calls'] ?? 50);
  const rate = Number(o['rate'] ?? 25);
  const started = performance.now();
  const engine = await CrashEngine.create(o['server'] ? { AS_SIP_SERVER: o['server'] } : {});
  const reports: CycleReport[] = [];
  try {
    for (let cycle = 0; cycle < kills; cycle++) {
      const r = await crashCycle(engine, { cycle, calls, rate });
      reports.push(r);
      process.stdout.write(`kill ${cycle + 1}/${kills} ${figures(r)}\n`);
      for (const v of r.violations) process.stdout.write(`  VIOLATION ${v}\n`);
    }
  } finally {
    const code = await engine.stop();
    process.stdout.write(`graceful stop: exit ${code}\n`);
  }
  const view = engine.view();
  const open = view.calls.filter((c) => c.ended_at === null || c.end_reason === null).length;
  const broken = timelinesWhole(view);
  table(
    reports.map((r, i) => ({
      kill: i + 1,
      moment: r.moment,
      placed: r.placed,
      answered: r.answered,
      'events acked': r.eventsAcked,
      'open at kill': r.openAtKill,
      'engine_restart': r.closedAsRestart,
      'BYE 481': r.bye481,
      'workers left': r.workersLeft,
      'restart killed at ms': `${r.restartKillMs}${r.restartKilledReady ? ' (ready)' : r.restartKilledRecovered ? ' (recovered)' : ''}`,
      'restart->ready ms': r.recoveryMs,
      violations: r.violations.length,
    })),
  );
  const sum = (f: (r: CycleReport) => number) => reports.reduce((a, r) => a + f(r), 0);
  const recovery = reports.map((r) => r.recoveryMs).sort((a, b) => a - b);
  process.stdout.write(
    [
      `${kills} kills in ${Math.round((performance.now() - started) / 1000)} s: ${sum((r) => r.placed)} calls placed, ${sum((r) => r.answered)} answered, ` +
        `${sum((r) => r.openAtKill)} cut by a kill (all closed as engine_restart: ${sum((r) => r.closedAsRestart)}), ${sum((r) => r.bye481)} BYEs answered 481`,
      `${sum((r) => r.eventsAcked)} events acknowledged; file at the end: ${view.calls.length} calls, ${view.events.length} events, integrity_check ${view.integrity}, ` +
        `${open} calls open, ${broken.length} incomplete timelines`,
      `restart (spawn) -> ready: median ${median(recovery)} ms, max ${recovery.at(-1)} ms`,
      `violations: ${sum((r) => r.violations.length) + broken.length + (open ? 1 : 0) + (view.integrity === 'ok' ? 0 : 1)}`,
      '',
    ].join('\n'),
  );
  if (sum((r) => r.violations.length) || broken.length || open || view.integrity !== 'ok') throw new Error('crash recovery lost or broke something (see above)');
}
