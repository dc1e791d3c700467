/**
 * Concurrent calls with RTP echo, through the whole engine: N callers (bench/peers/sip-callers,
 * a separate process) each set up a SIP call to the engine (a process with production settings,
 * media workers = cores, seeded through the REST API), stream 50 packets/s of G.711 to the
 * answer's address and time the echo the engine's agent sends back through mediasoup. Each
 * step holds its N calls for `seconds` (60 by default, the issue's figure) after a warm-up in
 * which every leg latches; loss is sent vs echoed over that window. The peer, in the same run and
 * at the same N, is SIPp as a UAS answering the same calls with its C RTP echo (-rtp_echo).
 * A step is clean when every call is answered, the callers kept 95 % of their 50 packets/s (else
 * the generator, not the callee, was measured) and under 0.1 % of packets are lost; each side's
 * ramp stops at its first step that is not.
 *
 * `npm run bench -- sip-concurrent [calls=200,400,600,800,1000] [seconds=60] [only=engine|sipp] [engine=<main.js>]`
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { keyValues } from './lib/args.js';
import { freePort } from './lib/proc.js';
import { engineErrors, mediaLegs, seedEchoNumber, startEngine, tallyCalls, type CallTally } from './lib/engine.js';
import { CpuMeter, loadAverage, processTree } from './lib/procfs.js';
import { fmt, table } from './lib/stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Seconds of RTP before measuring: every leg has latched by then. */
const warmup = 5;
/** Calls set up per second at the start of a step (well inside the engine's clean rate). */
const setupCps = 100;
/** Packet loss tolerated in a clean step (the issue's 0.1 %). */
const maxLoss = 0.001;

interface Figures {
  calls: number;
  up: number;
  sent: number;
  received: number;
  silentCalls: number;
  rttP50: number;
  rttP99: number;
  ended: number;
}

interface Step {
  target: 'engine' | 'sipp';
  n: number;
  setup: { up: number; failed: number; p50: number; p99: number };
  f: Figures;
  /** CPU seconds over the measured window: the callee's root process, and its children. */
  rootCpu: number;
  childCpu: number;
  wall: number;
  legs?: number;
  media?: CallTally;
  clean: boolean;
}

/** Runs the callers against `target` and measures `pids` over the measured window. */
function drive(target: string, n: number, seconds: number, pids: number[], onSetup: () => Promise<void>) {
  return new Promise<Omit<Step, 'target' | 'n' | 'clean'>>((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, 'peers/sip-callers.js'), JSON.stringify({ target, calls: n, setupCps, warmup, seconds })], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    let setup: Step['setup'] | undefined;
    let meter: CpuMeter | undefined;
    let window: { root: number; child: number; wall: number } | undefined;
    let startAt = 0;
    let afterSetup: Promise<void> = Promise.resolve();
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('setup ')) {
          setup = JSON.parse(line.slice(6)) as Step['setup'];
          afterSetup = onSetup();
        } else if (line === 'measuring') {
          meter = new CpuMeter(pids);
          startAt = performance.now();
        } else if (line.startsWith('{')) {
          const lap = meter?.lap();
          const root = lap?.byPid.get(pids[0]!) ?? 0;
          window = { root, child: (lap?.total ?? 0) - root, wall: (performance.now() - startAt) / 1000 };
          const f = JSON.parse(line) as Figures;
          void afterSetup.then(() => resolve({ setup: setup!, f, rootCpu: window!.root, childCpu: window!.child, wall: window!.wall }));
        }
      }
    });
    child.on('exit', (code) => {
      if (code !== 0 || !window) reject(new Error(`sip-callers exited ${code}`));
    });
  });
}

function startSippUas(port: number, mediaPort: number): ChildProcess {
  return spawn('sipp', ['-sn', 'uas', '-i', '127.0.0.1', '-p', String(port), '-mi', '127.0.0.1', '-mp', String(mediaPort), '-rtp_echo', '-nostdin'], {
    stdio: ['ignore', 'ignore', 'ignore'],
  });
}

export async function run(argv: string[]): Promise<void> {
  const a = keyValues(argv);
  const ns = (a.calls ?? '200,400,600,800,1000').split(',').map(Number);
  const seconds = Number(a.seconds ?? 60);
  const steps: Step[] = [];
  const engine =
    a.only === 'sipp'
      ? undefined
      : await startEngine({ env: { AS_SIP_MAX_CALLS: String(Math.max(1000, ...ns) + 100) }, ...(a.engine ? { mainJs: a.engine } : {}) });
  const sippPort = await freePort();
  const sipp = a.only === 'engine' ? undefined : startSippUas(sippPort, await freePort());
  let lastRowid = 0;
  console.log(`load average before: ${loadAverage()}`);
  try {
    if (engine) await seedEchoNumber(engine);
    const live = { engine: Boolean(engine), sipp: Boolean(sipp) };
    for (const n of ns) {
      if (engine && live.engine) {
        let legs = 0;
        const r = await drive(`127.0.0.1:${engine.sipPort}`, n, seconds, processTree(engine.pid), async () => {
          await new Promise((res) => setTimeout(res, 1000));
          legs = await mediaLegs(engine);
        });
        for (let i = 0; i < 50 && (await mediaLegs(engine)) > 0; i++) await new Promise((res) => setTimeout(res, 100));
        const t = tallyCalls(engine, lastRowid);
        lastRowid = t.lastRowid;
        const step: Step = { target: 'engine', n, ...r, legs, media: t.tally, clean: isClean(n, seconds, r.f) };
        steps.push(step);
        printStep(step);
        live.engine = step.clean;
      }
      if (sipp && live.sipp) {
        const r = await drive(`127.0.0.1:${sippPort}`, n, seconds, [sipp.pid!], async () => undefined);
        const step: Step = { target: 'sipp', n, ...r, clean: isClean(n, seconds, r.f) };
        steps.push(step);
        printStep(step);
        live.sipp = step.clean;
      }
      if (!live.engine && !live.sipp) break;
    }
  } finally {
    sipp?.kill('SIGKILL');
    await engine?.stop();
  }
  report(steps, seconds);
  if (engine) {
    const errors = engineErrors(engine);
    console.log(`engine log: ${errors.count} error lines${errors.count ? `: ${errors.messages.join('; ')}` : ''} (${engine.logPath})`);
  }
  console.log(`load average after: ${loadAverage()}`);
}

/** A step whose callers sent less than this share of 50 packets/s per call measured the generator, not the callee. */
const minPace = 0.95;

const isClean = (n: number, seconds: number, f: Figures) =>
  f.up === n && f.sent >= minPace * n * 50 * seconds && (f.sent - f.received) / f.sent < maxLoss;

function row(s: Step) {
  const lossPct = (100 * (s.f.sent - s.f.received)) / Math.max(1, s.f.sent);
  return {
    callee: s.target === 'engine' ? 'engine' : 'sipp -rtp_echo',
    calls: s.n,
    'set up': `${s.setup.up}/${s.n}`,
    'setup p99 ms': fmt(s.setup.p99, 1),
    echoed: `${s.f.received}/${s.f.sent}`,
    'sent % of 50/s': fmt((100 * s.f.sent) / (s.n * 50 * s.wall), 1),
    'loss %': fmt(lossPct, 3),
    'silent calls': s.f.silentCalls,
    'rtt p50 ms': fmt(s.f.rttP50),
    'rtt p99 ms': fmt(s.f.rttP99),
    'node/main cpu %': fmt((100 * s.rootCpu) / s.wall, 1),
    'workers cpu %': s.target === 'engine' ? fmt((100 * s.childCpu) / s.wall, 1) : '-',
    'legs open': s.legs ?? '-',
    'records with media': s.media ? `${s.media.withMedia}/${s.media.calls}` : '-',
    ended: `${s.f.ended}/${s.f.up}`,
    clean: s.clean ? 'yes' : 'NO',
  };
}

function printStep(s: Step): void {
  console.log(Object.entries(row(s)).map(([k, v]) => `${k}=${v}`).join(' '));
}

function report(steps: Step[], seconds: number): void {
  console.log(`\nConcurrent calls with RTP echo — SIP setup at ${setupCps} cps, ${warmup} s warm-up, ${seconds} s measured, 50 packets/s per call, ${os.availableParallelism()} cores`);
  table(steps.map(row));
  const best = (who: Step['target']) => Math.max(0, ...steps.filter((s) => s.target === who && s.clean).map((s) => s.n));
  const e = best('engine');
  const p = best('sipp');
  console.log(`\nlargest clean N: engine ${e}, sipp -rtp_echo ${p}${p ? `; ratio engine/sipp = ${fmt(e / p)}×` : ''}`);
  for (const n of [...new Set(steps.map((s) => s.n))]) {
    const es = steps.find((s) => s.target === 'engine' && s.n === n);
    const ps = steps.find((s) => s.target === 'sipp' && s.n === n);
    if (!es || !ps) continue;
    const ecpu = (es.rootCpu + es.childCpu) / es.wall;
    const pcpu = (ps.rootCpu + ps.childCpu) / ps.wall;
    console.log(`N=${n}: CPU engine (node + workers) ${fmt(100 * ecpu, 1)} %, sipp ${fmt(100 * pcpu, 1)} % of one core; ratio ${fmt(ecpu / pcpu)}×`);
  }
  if (e === Math.max(...steps.map((s) => s.n))) console.log('the engine stayed clean at the top of the ramp: its figure is a floor.');
}
