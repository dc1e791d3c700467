/**
 * The benchmark's side of `budget-hook.ts`: the node flag and environment that load the hook into
 * an engine process, snapshots of its counts (SIGUSR2, then the file), and the per-call budget of
 * a step: what each counter moved, divided by the calls the step answered, plus the step's log
 * lines per call (counted in the engine's log file), its write system calls per call (read from
 * `/proc/<pid>/io`) and its event-loop delay.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BudgetCounts } from './budget-hook.js';

const hookUrl = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'budget-hook.js')).href;

/** What `startEngine` needs to load the hook: node flags and environment. */
export function budgetLoad(dir: string, name: string): { nodeArgs: string[]; env: Record<string, string>; file: string } {
  const file = path.join(dir, `budget-${name}.json`);
  return { nodeArgs: ['--import', hookUrl], env: { BENCH_BUDGET_FILE: file }, file };
}

export interface BudgetSnapshot extends BudgetCounts {
  logLines: number;
  /**
   * The process's write system calls so far, every thread (`syscw` in `/proc/<pid>/io`: write,
   * writev, pwrite; SQLite's WAL and checkpoint pages, the media workers' pipes, log lines).
   * Datagrams (`sendmsg`) are not counted.
   */
  writeCalls: number;
}

/** Asks the engine `pid` for its counts; null when it does not answer within 2 s. */
export async function budgetSnapshot(pid: number, file: string, logPath: string): Promise<BudgetSnapshot | null> {
  const before = read(file)?.seq ?? 0;
  try {
    process.kill(pid, 'SIGUSR2');
  } catch {
    return null;
  }
  for (let i = 0; i < 100; i++) {
    const now = read(file);
    if (now && now.seq > before) return { ...now, logLines: countLines(logPath), writeCalls: writeCalls(pid) };
    await new Promise((r) => setTimeout(r, 20));
  }
  return null;
}

export interface StepBudget {
  sql: number;
  commits: number;
  mediasoup: number;
  drachtio: number;
  logs: number;
  /** Write system calls (see `BudgetSnapshot.writeCalls`). */
  writes: number;
  /** The statements that ran most in the step, per call: [SQL, count per call], most first. */
  topSql: [string, number][];
  /** mediasoup requests in the step by method, per call, most first. */
  mediasoupMethods: [string, number][];
  /** Event-loop delay during the step, ms. */
  loop: BudgetCounts['loopDelayMs'];
}

/** Counts moved between two snapshots, per answered call. */
export function perCall(a: BudgetSnapshot, b: BudgetSnapshot, calls: number): StepBudget {
  const n = Math.max(1, calls);
  return {
    sql: (b.sqlStatements - a.sqlStatements) / n,
    commits: (b.sqlCommits - a.sqlCommits) / n,
    mediasoup: (b.mediasoupRequests + b.mediasoupNotifications - a.mediasoupRequests - a.mediasoupNotifications) / n,
    drachtio: (b.drachtioFramesIn + b.drachtioFramesOut - a.drachtioFramesIn - a.drachtioFramesOut) / n,
    logs: (b.logLines - a.logLines) / n,
    writes: (b.writeCalls - a.writeCalls) / n,
    topSql: Object.entries(b.sqlBySource)
      .map(([sql, c]): [string, number] => [sql, (c - (a.sqlBySource[sql] ?? 0)) / n])
      .filter(([, c]) => c > 0)
      .sort((x, y) => y[1] - x[1])
      .slice(0, 12),
    mediasoupMethods: Object.entries(b.mediasoupByMethod ?? {})
      .map(([m, c]): [string, number] => [m, (c - (a.mediasoupByMethod?.[m] ?? 0)) / n])
      .filter(([, c]) => c > 0)
      .sort((x, y) => y[1] - x[1]),
    loop: b.loopDelayMs,
  };
}

function writeCalls(pid: number): number {
  try {
    return Number(/^syscw: (\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

function read(file: string): BudgetCounts | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as BudgetCounts;
  } catch {
    return null;
  }
}

function countLines(file: string): number {
  try {
    const b = fs.readFileSync(file);
    let n = 0;
    for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++;
    return n;
  } catch {
    return 0;
  }
}
