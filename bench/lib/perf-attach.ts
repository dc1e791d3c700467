/**
 * `perf` attached to a running process for one window (Linux, root or `perf_event_paranoid` low
 * enough): its system calls counted on the kernel's syscall tracepoints (`perf stat`), or its
 * samples with call chains, kernel included (`perf record -g`). Counting is cheaper than strace,
 * whose ptrace stop per call slows the traced loop so much that its work changes shape; neither is
 * free, so a run that counts or records is not a run whose CPU figures count.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Socket writes: what one delivery costs at least once, unless writes are joined. */
export const WRITE_CALLS = ['write', 'writev', 'sendto', 'sendmsg'] as const;

/** A running count; `stop` ends it and resolves with calls by name (missing: none counted). */
export interface SyscallCount {
  stop(): Promise<Record<string, number>>;
}

/** Waits this long after starting `perf` for it to attach (it prints nothing when it has). */
const ATTACH_MS = 300;

/** A `perf` child attached to `pid`, stopped with SIGINT (it then writes its output). */
async function attach(args: string[]): Promise<{ stop(): Promise<{ code: number | null; stderr: string }> }> {
  const perf = spawn('perf', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  perf.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => {
    perf.once('exit', (code) => resolve(code));
    perf.once('error', (err) => {
      stderr += err.message;
      resolve(-1);
    });
  });
  await new Promise((r) => setTimeout(r, ATTACH_MS));
  return {
    async stop() {
      perf.kill('SIGINT');
      return { code: await exited, stderr };
    },
  };
}

export async function countSyscalls(pid: number, calls: readonly string[]): Promise<SyscallCount> {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'as-syscalls-')), 'perf.csv');
  const events = calls.map((c) => `syscalls:sys_enter_${c}`).join(',');
  const perf = await attach(['stat', '-x,', '-e', events, '-p', String(pid), '-o', out]);
  return {
    async stop() {
      const { code, stderr } = await perf.stop();
      const text = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
      fs.rmSync(path.dirname(out), { recursive: true, force: true });
      const counts: Record<string, number> = {};
      for (const line of text.split('\n')) {
        const [value, , event] = line.split(',');
        if (event?.startsWith('syscalls:sys_enter_') && value !== undefined && /^\d+$/.test(value)) counts[event.slice(19)] = Number(value);
      }
      if (!Object.keys(counts).length) throw new Error(`perf stat counted nothing (exit ${code}): ${stderr.trim().slice(0, 500)}`);
      return counts;
    },
  };
}

/** Records `pid` with call chains into `file` (`perf report -i <file>`) until `stop`. */
export async function recordPerf(pid: number, file: string): Promise<{ stop(): Promise<void> }> {
  const perf = await attach(['record', '-g', '-p', String(pid), '-o', file]);
  return {
    async stop() {
      const { code, stderr } = await perf.stop();
      if (!fs.existsSync(file)) throw new Error(`perf record wrote nothing (exit ${code}): ${stderr.trim().slice(0, 500)}`);
    },
  };
}
