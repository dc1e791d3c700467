/**
 * SIPp (Debian sip-tester 3.6) as the load generator of SIP benchmarks: one run at a fixed call
 * rate of a scenario in bench/scenarios, and its figures read back from SIPp's own files:
 * successful and failed calls from the final statistics screen, INVITE -> 200 times from
 * `-trace_rtt` (whole milliseconds, SIPp's clock) or, with `traceMsg`, from the microsecond
 * timestamps of `-trace_msg` (costlier for SIPp, so used at modest rates only).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, sippMediaPort } from './proc.js';

/** Scenario files live in the source tree, not in dist. */
const scenarioDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bench/scenarios');

interface SippStep {
  /** host:port SIPp sends to. */
  target: string;
  scenario: string;
  /** Calls per second, and calls in all. */
  rate: number;
  calls: number;
  /** Hold between ACK and BYE, ms (SIPp's -d). */
  holdMs: number;
  /** Folder for SIPp's files. */
  dir: string;
  /** Timestamped message trace, for microsecond INVITE -> 200 times. */
  traceMsg?: boolean;
  /** `-key name value` pairs for the scenario. */
  keys?: Record<string, string>;
  /** SIPp's address (`-i`, `-mi`): another loopback address is another source. Default 127.0.0.1. */
  localIp?: string;
}

export interface SippResult {
  /** Calls asked for (`-m`); `failed` counts those SIPp never created too. */
  asked: number;
  created: number;
  successful: number;
  failed: number;
  retransmissions: number;
  /** INVITE -> 200 per answered call, ms. */
  inviteTo200Ms: number[];
  /** Calls answered per second while calls were being placed. */
  answeredCps: number;
  wallSeconds: number;
  output: string;
}

export async function runSippStep(s: SippStep): Promise<SippResult> {
  fs.mkdirSync(s.dir, { recursive: true });
  for (const f of fs.readdirSync(s.dir)) fs.rmSync(path.join(s.dir, f), { force: true });
  const keys = Object.entries(s.keys ?? {}).flatMap(([k, v]) => ['-key', k, v]);
  const args = [
    s.target,
    '-sf', path.join(scenarioDir, s.scenario),
    '-s', 'service',
    '-i', s.localIp ?? '127.0.0.1',
    '-mi', s.localIp ?? '127.0.0.1',
    '-p', String(await freePort()),
    // Media ports probed free (another process on the machine may hold SIPp's default 6000).
    '-mp', String(await sippMediaPort(s.localIp ?? '127.0.0.1')),
    '-r', String(s.rate),
    '-m', String(s.calls),
    // Open loop: SIPp keeps placing calls at the rate however many are in progress.
    '-l', String(Math.max(100, s.rate * 30)),
    '-d', String(s.holdMs),
    // A message not answered within 5 s fails the call (after SIPp's own retransmissions).
    '-recv_timeout', '5000',
    '-timeout', `${Math.ceil(s.calls / s.rate) + 60}s`,
    '-timeout_error',
    '-nostdin',
    '-trace_rtt', '-rtt_freq', '1',
    ...(s.traceMsg ? ['-trace_msg'] : []),
    ...keys,
  ];
  const started = performance.now();
  const child = spawn('sipp', args, { cwd: s.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const wallSeconds = (performance.now() - started) / 1000;
  const counter = (name: string) => {
    const all = [...output.matchAll(new RegExp(`^\\s+${name}\\s+\\|[^|\\n]*\\|\\s+(\\d+)`, 'gm'))];
    return Number(all.at(-1)?.[1] ?? NaN);
  };
  const created = counter('Total Calls created');
  if (!Number.isFinite(created)) throw new Error(`sipp exited ${code} without statistics:\n${output.slice(-3000)}`);
  const files = fs.readdirSync(s.dir);
  const rtt = files.find((f) => f.endsWith('_rtt.csv'));
  const rows = rtt
    ? fs
        .readFileSync(path.join(s.dir, rtt), 'utf8')
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map((l) => l.split(';').map(Number) as [number, number, number])
    : [];
  const msgLog = files.find((f) => f.endsWith('_messages.log'));
  const inviteTo200Ms = s.traceMsg && msgLog ? inviteTimes(fs.readFileSync(path.join(s.dir, msgLog), 'utf8')) : rows.map((r) => r[1]);
  const at = rows.map((r) => r[0]);
  const span = at.length > 1 ? (Math.max(...at) - Math.min(...at)) / 1000 : 0;
  const retrans = [...output.matchAll(/^\s+(?:INVITE|BYE) -+>\s+(?:B-RTD1\s+)?\d+\s+(\d+)/gm)].slice(-2);
  return {
    asked: s.calls,
    created,
    successful: counter('Successful call'),
    failed: counter('Failed call') + Math.max(0, s.calls - created),
    retransmissions: retrans.reduce((a, m) => a + Number(m[1]), 0),
    inviteTo200Ms,
    answeredCps: span > 0 ? (at.length - 1) / span : 0,
    wallSeconds,
    output,
  };
}

/**
 * INVITE -> 200 times from a `-trace_msg` file: from the first sending of each call's INVITE
 * to the first 200 for it, in ms with microsecond resolution.
 */
function inviteTimes(log: string): number[] {
  const sent = new Map<string, number>();
  const out: number[] = [];
  const answered = new Set<string>();
  for (const block of log.split(/^-{20,} /m)) {
    const stamp = /^(\d{4}-\d\d-\d\d) (\d\d):(\d\d):(\d\d\.\d+)/.exec(block);
    if (!stamp) continue;
    const t = (Number(stamp[2]) * 3600 + Number(stamp[3]) * 60 + Number(stamp[4])) * 1000;
    const callId = /^Call-ID:\s*(\S+)/im.exec(block)?.[1];
    const cseq = /^CSeq:\s*\d+\s+(\w+)/im.exec(block)?.[1];
    if (!callId || cseq !== 'INVITE') continue;
    if (/message sent/.test(block) && /^INVITE /m.test(block)) {
      if (!sent.has(callId)) sent.set(callId, t);
    } else if (/message received/.test(block) && /^SIP\/2\.0 200 /m.test(block) && !answered.has(callId)) {
      const t0 = sent.get(callId);
      if (t0 === undefined) continue;
      answered.add(callId);
      out.push(t - t0);
    }
  }
  return out;
}

/** The p-th quantile (0..1) of xs, nearest rank. */
export function quantile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}
