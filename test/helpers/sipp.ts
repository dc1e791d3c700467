/**
 * Runs SIPp (Debian sip-tester 3.6) against a stack on loopback and reads its message trace back
 * as a ladder seen from SIPp: `-> INVITE`, `<- 100 INVITE`, ...
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './config.js';
import { sippMediaPort } from '../../bench/lib/proc.js';
import { freePort } from './engine-process.js';

/** Scenario files live in the source tree (test/engine/sip/scenarios), not in dist. */
const scenarioDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/engine/sip/scenarios');

/** Why SIPp cannot run here, or null when it can. */
export function sippMissing(): string | null {
  const r = spawnSync('sipp', ['-v'], { encoding: 'utf8' });
  if (r.error) return `sipp not runnable: ${r.error.message}`;
  return /SIPp v3/.test(`${r.stdout}${r.stderr}`) ? null : 'sipp -v did not print a version';
}

export interface SippRun {
  /** `u1` (UDP) or `t1` (TCP, one connection). */
  transport: 'u1' | 't1';
  /** Host:port SIPp sends to. */
  target: string;
  /** A built-in scenario (`uac`), a file in `scenarioDir`, or a file anywhere (`path`). */
  scenario: { builtin: string } | { file: string } | { path: string };
  calls?: number;
  /** Extra arguments (e.g. `-lost 10`, `-s cancel`). */
  args?: string[];
  timeoutSeconds?: number;
  /** SIPp's own address (`-i`): another loopback address is another source. Default 127.0.0.1. */
  localIp?: string;
}

export interface SippResult {
  code: number | null;
  /** One line per message, in order, as SIPp saw it. */
  ladder: string[];
  /** SIPp's -trace_msg file, whole (for Call-IDs and headers the ladder leaves out). */
  messages: string;
  output: string;
  errors: string;
}

/**
 * Runs SIPp once. Its port comes from `freePort` (a TCP port free a moment ago); SIPp binds it
 * over UDP too, where another process of the machine may hold it: SIPp then exits at once
 * ("Unable to bind main socket") having sent nothing, and it is started again on another port.
 */
export async function runSipp(run: SippRun): Promise<SippResult> {
  for (let attempt = 1; ; attempt++) {
    const r = await runSippOnce(run);
    if (attempt >= 3 || !/Unable to bind main socket/.test(r.output) || r.messages) return r;
  }
}

async function runSippOnce(run: SippRun): Promise<SippResult> {
  const dir = tempDir('as-sipp-');
  const messages = path.join(dir, 'messages.log');
  const errors = path.join(dir, 'errors.log');
  const s = run.scenario;
  const scenario = 'builtin' in s ? ['-sn', s.builtin] : ['-sf', 'path' in s ? s.path : path.join(scenarioDir, s.file)];
  const args = [
    run.target,
    ...scenario,
    '-m', String(run.calls ?? 1),
    '-t', run.transport,
    '-i', run.localIp ?? '127.0.0.1',
    '-p', String(await freePort()),
    // A caller's own -mp wins (SIPp takes the last one given).
    '-mp', String(await sippMediaPort(run.localIp)),
    '-nostdin',
    '-timeout', `${run.timeoutSeconds ?? 30}s`,
    '-timeout_error',
    '-trace_msg', '-message_file', messages,
    '-trace_err', '-error_file', errors,
    ...(run.args ?? []),
  ];
  const child = spawn('sipp', args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
  const trace = read(messages);
  return { code, ladder: ladderOf(trace), messages: trace, output, errors: read(errors) };
}

/**
 * The ladder without retransmissions: a line equal to the one before it goes (a request resent
 * because its response was late, a 200 resent until its ACK came; RFC 3261 §17). On a loaded
 * machine these come and go, and the order of the distinct messages is what a test means.
 */
export function withoutRetransmissions(ladder: readonly string[]): string[] {
  return ladder.filter((l, i) => i === 0 || l !== ladder[i - 1]);
}

/** `-> INVITE`, `<- 180 INVITE` from SIPp's -trace_msg file. */
function ladderOf(log: string): string[] {
  const out: string[] = [];
  const blocks = log.split(/^-{10,}.*$/m);
  for (const b of blocks) {
    const head = /(?:UDP|TCP|TLS) message (sent|received)/.exec(b);
    if (!head) continue;
    const lines = b.split(/\r?\n/).map((l) => l.trim());
    const start = lines.find((l) => /^(SIP\/2\.0 \d{3}|[A-Z]+ \S+ SIP\/2\.0)/.test(l));
    const cseq = lines.find((l) => /^CSeq:/i.test(l))?.split(/\s+/)[2] ?? '';
    if (!start) continue;
    const arrow = head[1] === 'sent' ? '->' : '<-';
    out.push(start.startsWith('SIP/2.0') ? `${arrow} ${start.split(' ')[1]} ${cseq}` : `${arrow} ${start.split(' ')[0]}`);
  }
  return out;
}
