/** CPU time of one process from /proc (Linux): what a server spent, whatever else ran beside it. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ). */
const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** utime + stime of `pid` (all its threads) so far, in seconds. */
export function cpuSeconds(pid: number): number {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  return (Number(rest[11]) + Number(rest[12])) / ticksPerSecond;
}

/** utime and stime of `pid` (all its threads) so far, in seconds: user code against the kernel's work for it (syscalls, loopback TCP). */
export function cpuSplit(pid: number): { user: number; system: number } {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { user: Number(rest[11]) / ticksPerSecond, system: Number(rest[12]) / ticksPerSecond };
}
