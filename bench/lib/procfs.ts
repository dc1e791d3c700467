/**
 * CPU time of a process tree from /proc (Linux): utime + stime of a process and of every live
 * descendant (the engine and its mediasoup workers, Kamailio and its children). Children that
 * exited during a measurement are not counted, so measure over spans in which the tree is stable.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** Clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on Linux x86). */
const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

interface Stat {
  ppid: number;
  /** utime + stime, seconds. */
  cpu: number;
}

function readStat(pid: number): Stat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { ppid: Number(rest[1]), cpu: (Number(rest[11]) + Number(rest[12])) / ticksPerSecond };
}

/** Pids of `root` and all its live descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const s = readStat(pid);
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(pid);
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** CPU seconds used so far by each pid (0 for one that is gone). */
function cpuByPid(pids: number[]): Map<number, number> {
  return new Map(pids.map((p) => [p, readStat(p)?.cpu ?? 0]));
}

/** A CPU meter over a fixed set of pids: `lap()` returns the seconds used since the last lap. */
export class CpuMeter {
  #last: Map<number, number>;

  constructor(readonly pids: number[]) {
    this.#last = cpuByPid(pids);
  }

  /** CPU seconds since the previous lap (or construction), in total and by pid. */
  lap(): { total: number; byPid: Map<number, number> } {
    const now = cpuByPid(this.pids);
    const byPid = new Map<number, number>();
    let total = 0;
    for (const [pid, cpu] of now) {
      const d = Math.max(0, cpu - (this.#last.get(pid) ?? 0));
      byPid.set(pid, d);
      total += d;
    }
    this.#last = now;
    return { total, byPid };
  }
}

/** The machine's 1, 5 and 15 minute load averages. */
export function loadAverage(): string {
  return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** CPU pressure (PSI): the `some avg10` share of time in which a runnable task waited for a CPU, or '-' without PSI. */
export function cpuPressure(): string {
  try {
    const some = fs.readFileSync('/proc/pressure/cpu', 'utf8').split('\n')[0] ?? '';
    return /avg10=([\d.]+)/.exec(some)?.[1] ?? '-';
  } catch {
    return '-';
  }
}
