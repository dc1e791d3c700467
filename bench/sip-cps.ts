/**
 * Call setup rate: SIPp places INVITE (G.711 offer) -> 200 -> ACK -> 1 s hold with RTP from the
 * caller -> BYE at a ramp of rates against the engine (a process with production settings, media
 * workers = cores, seeded through the REST API) and against Kamailio answering statelessly (the
 * C ceiling, no media), in the same run. A step is clean when at most 0.1 % of its calls fail,
 * at most 0.1 % of the engine's calls end without RTP echoed both ways, and the calls are
 * answered at the rate asked (90 %); the ramp stops at the first step that is not.
 * Reported per step: INVITE -> 200 (p50/p99), CPU of the whole process tree (engine + mediasoup
 * workers; Kamailio + children) per call, CPU pressure, and for the engine the call records with
 * media (RTP received from the caller and echoed back by mediasoup), the peak of open media legs,
 * the event loop's delay (p50/p99/max) and the per-call budget: SQLite statements and commits,
 * mediasoup channel requests, drachtio frames and log lines per answered call
 * (`lib/budget-hook.ts`, preloaded into the engine process).
 *
 * `npm run bench -- sip-cps [rates=50,100,200,...] [seconds=10] [hold=1000] [rounds=1] [only=engine|kamailio]
 *   [sip=embedded,thread] [prof=<dir>] [engine=<main.js>] [node="<node flags>"]`
 * sip: where the engine runs its SIP server (`sip.server`); each mode listed is an engine of its
 * own in the ramp. prof: the engines run with --cpu-prof, profiles written to <dir> at exit.
 * engine: another build's dist/api/main.js, for before/after figures. node: flags for the engines'
 * Node processes (e.g. `node=--trace-gc`, written to each engine's log).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { keyValues } from './lib/args.js';
import { fmt, median, table } from './lib/stats.js';
import { engineErrors, mediaLegs, seedEchoNumber, startEngine, tallyCalls, type CallTally, type EngineProcess } from './lib/engine.js';
import { startKamailio } from './lib/kamailio.js';
import { budgetLoad, budgetSnapshot, perCall, type StepBudget } from './lib/budget-probe.js';
import { CpuMeter, cpuPressure, loadAverage, processTree } from './lib/procfs.js';
import { quantile, runSippStep, type SippResult } from './lib/sipp.js';

const scenario = 'uac-cps.xml';
const pcap = '/usr/share/sip-tester/g711a.pcap';
/** Failed calls tolerated in a clean step (the issue's 0.1 %). */
const maxFailRatio = 0.001;
/** A step whose calls are answered slower than this share of the asked rate is not clean. */
const minPace = 0.9;
/** The rate at which INVITE -> 200 is timed to the microsecond (-trace_msg). */
const latencyRate = 100;

interface Step {
  /** `engine/<sip mode>` or `kamailio`. */
  target: string;
  round: number;
  rate: number;
  sipp: SippResult;
  cpuSeconds: number;
  /** CPU of the root process alone (the engine's Node process; Kamailio's main process). */
  rootCpuSeconds: number;
  clean: boolean;
  media?: CallTally;
  peakLegs?: number;
  /** The engine's per-call budget and event-loop delay in the step (`budget-hook.ts`). */
  budget?: StepBudget;
  /** CPU pressure at the end of the step (`some avg10`). */
  pressure: string;
  /** The last call record of the step (the next step reads those after it). */
  lastRowid?: number;
}

interface Target {
  name: string;
  address: string;
  pids: number[];
  engine?: EngineProcess;
  budgetFile?: string;
}

export async function run(argv: string[]): Promise<void> {
  const a = keyValues(argv);
  const rates = (a.rates ?? '50,100,200,300,400,500,600,800,1000,1500,2000,3000').split(',').map(Number);
  const seconds = Number(a.seconds ?? 10);
  const holdMs = Number(a.hold ?? 1000);
  const rounds = Number(a.rounds ?? 1);
  const only = a.only;
  const dir = path.join(os.tmpdir(), `as-sip-cps-${process.pid}`);

  const modes = only === 'kamailio' ? [] : (a.sip ?? 'embedded,thread').split(',');
  const engines: { mode: string; engine: EngineProcess; budgetFile: string }[] = [];
  fs.mkdirSync(dir, { recursive: true });
  for (const mode of modes) {
    const budget = budgetLoad(dir, mode);
    const engine = await startEngine({
      nodeArgs: [...budget.nodeArgs, ...(a.node ? a.node.split(' ') : []), ...(a.prof ? ['--cpu-prof', `--cpu-prof-dir=${a.prof}`] : [])],
      ...(a.engine ? { mainJs: a.engine } : {}),
      env: { AS_SIP_SERVER: mode, ...budget.env },
    });
    engines.push({ mode, engine, budgetFile: budget.file });
  }
  const kamailio = only === 'engine' ? undefined : await startKamailio();
  const targets: Target[] = [];
  const steps: Step[] = [];
  const lastRowid = new Map<string, number>();
  try {
    for (const { mode, engine, budgetFile } of engines) {
      await seedEchoNumber(engine);
      // Warm-up (JIT, SQLite pages, worker routers): not counted.
      await runSippStep({ target: `127.0.0.1:${engine.sipPort}`, scenario, rate: 50, calls: 250, holdMs, dir, keys: { pcap } });
      lastRowid.set(`engine/${mode}`, tallyCalls(engine, 0).lastRowid);
      targets.push({ name: `engine/${mode}`, address: `127.0.0.1:${engine.sipPort}`, pids: processTree(engine.pid), engine, budgetFile });
    }
    if (kamailio) targets.push({ name: 'kamailio', address: `127.0.0.1:${kamailio.port}`, pids: processTree(kamailio.pid) });
    console.log(`load average before: ${loadAverage()}`);
    for (let round = 1; round <= rounds; round++) {
      for (const t of targets) {
        for (const rate of rates) {
          const step = await runStep(t, round, rate, { seconds, holdMs, dir, sinceRowid: lastRowid.get(t.name) ?? 0 });
          if (step.lastRowid !== undefined) lastRowid.set(t.name, step.lastRowid);
          steps.push(step);
          printStep(step);
          if (!step.clean) break;
        }
      }
    }
  } finally {
    await Promise.all([...engines.map((e) => e.engine.stop()), kamailio?.stop()]);
  }
  report(steps, rounds, { seconds, holdMs });
  for (const { mode, engine } of engines) {
    const errors = engineErrors(engine);
    console.log(`engine/${mode} log: ${errors.count} error lines${errors.count ? `: ${errors.messages.join('; ')}` : ''} (${engine.logPath})`);
  }
  console.log(`load average after: ${loadAverage()}`);
}

async function runStep(
  t: Target,
  round: number,
  rate: number,
  o: { seconds: number; holdMs: number; dir: string; sinceRowid: number },
): Promise<Step> {
  const meter = new CpuMeter(t.pids);
  const snapshot = () => (t.engine && t.budgetFile ? budgetSnapshot(t.engine.pid, t.budgetFile, t.engine.logPath) : Promise.resolve(null));
  // Also resets the event-loop histogram: the step's figures start here.
  const before = await snapshot();
  let peakLegs = 0;
  let polling = true;
  const poll = (async () => {
    while (t.engine && polling) {
      peakLegs = Math.max(peakLegs, await mediaLegs(t.engine).catch(() => 0));
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  const sipp = await runSippStep({
    target: t.address,
    scenario,
    rate,
    calls: Math.round(rate * o.seconds),
    holdMs: o.holdMs,
    dir: path.join(o.dir, t.name),
    traceMsg: rate === latencyRate,
    keys: { pcap },
  });
  const atEnd = await snapshot();
  polling = false;
  await poll;
  let media: CallTally | undefined;
  let lastRowid: number | undefined;
  if (t.engine) {
    // Let the last BYEs close their legs and write their records.
    for (let i = 0; i < 50 && (await mediaLegs(t.engine)) > 0; i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 200));
    ({ tally: media, lastRowid } = tallyCalls(t.engine, o.sinceRowid));
  }
  const after = await snapshot();
  const budget = before && atEnd && after ? { ...perCall(before, after, sipp.successful), loop: atEnd.loopDelayMs } : undefined;
  const cpu = meter.lap();
  const cpuSeconds = cpu.total;
  const rootCpuSeconds = cpu.byPid.get(t.pids[0]!) ?? 0;
  // With media: every answered call's record shows RTP both ways (a leg still setting up its
  // transport when the BYE came counts against the step, as a failed call does).
  const withoutMedia = media ? media.calls - media.withMedia : 0;
  const clean =
    sipp.failed <= maxFailRatio * sipp.created &&
    withoutMedia <= maxFailRatio * sipp.created &&
    sipp.successful > 0 &&
    sipp.answeredCps >= minPace * rate;
  return {
    target: t.name,
    round,
    rate,
    sipp,
    cpuSeconds,
    rootCpuSeconds,
    clean,
    pressure: cpuPressure(),
    ...(media ? { media, peakLegs, lastRowid } : {}),
    ...(budget ? { budget } : {}),
  };
}

function row(s: Step) {
  const x = s.sipp;
  return {
    target: s.target,
    round: s.round,
    'cps asked': s.rate,
    'cps answered': fmt(x.answeredCps, 0),
    calls: x.created,
    failed: x.failed,
    'fail %': fmt((100 * x.failed) / Math.max(1, x.created), 2),
    retrans: x.retransmissions,
    'p50 ms': fmt(quantile(x.inviteTo200Ms, 0.5), x.inviteTo200Ms.length && s.rate === latencyRate ? 2 : 0),
    'p99 ms': fmt(quantile(x.inviteTo200Ms, 0.99), x.inviteTo200Ms.length && s.rate === latencyRate ? 2 : 0),
    'cpu ms/call': fmt((1000 * s.cpuSeconds) / Math.max(1, x.successful), 2),
    'node ms/call': s.target.startsWith('engine') ? fmt((1000 * s.rootCpuSeconds) / Math.max(1, x.successful), 2) : '-',
    'cpu % (1 core)': fmt((100 * s.cpuSeconds) / x.wallSeconds, 0),
    'with media': s.media ? `${s.media.withMedia}/${s.media.calls}` : '-',
    'peak legs': s.peakLegs ?? '-',
    'loop p50/p99/max ms': s.budget ? `${fmt(s.budget.loop.p50, 1)}/${fmt(s.budget.loop.p99, 1)}/${fmt(s.budget.loop.max, 0)}` : '-',
    'sql/call': s.budget ? fmt(s.budget.sql, 1) : '-',
    'commits/call': s.budget ? fmt(s.budget.commits, 1) : '-',
    'mediasoup/call': s.budget ? fmt(s.budget.mediasoup, 1) : '-',
    'drachtio/call': s.budget ? fmt(s.budget.drachtio, 1) : '-',
    'logs/call': s.budget ? fmt(s.budget.logs, 1) : '-',
    psi: s.pressure,
    clean: s.clean ? 'yes' : 'NO',
  };
}

function printStep(s: Step): void {
  const r = row(s);
  console.log(Object.entries(r).map(([k, v]) => `${k}=${v}`).join(' '));
  if (s.media && s.media.withMedia < s.media.calls) console.log(`  end reasons: ${JSON.stringify(s.media.endReasons)}`);
}

function report(steps: Step[], rounds: number, o: { seconds: number; holdMs: number }): void {
  console.log(`\nSIP call setup rate — SIPp ${scenario}: INVITE(SDP) -> 200 -> ACK -> ${o.holdMs} ms hold with RTP -> BYE,`);
  console.log(`${o.seconds} s per step, ${rounds} round(s), ${os.availableParallelism()} cores; p50/p99 at ${latencyRate} cps from -trace_msg (µs), elsewhere SIPp's ms clock`);
  table(steps.map(row));
  const maxClean = (who: string, round: number) =>
    Math.max(0, ...steps.filter((s) => s.target === who && s.round === round && s.clean).map((s) => s.rate));
  const summary = new Map<string, { maxCps: number; cpsSpread: string; p50: number; p99: number; cpuMs: number; loopP99: number | null; budget: string | null }>();
  for (const who of [...new Set(steps.map((s) => s.target))]) {
    const at = steps.filter((s) => s.target === who && s.rate === latencyRate);
    const perRound = Array.from({ length: rounds }, (_, i) => maxClean(who, i + 1));
    const budgets = at.flatMap((s) => (s.budget ? [s.budget] : []));
    const med = (f: (b: StepBudget) => number) => fmt(median(budgets.map(f)), 1);
    summary.set(who, {
      maxCps: median(perRound),
      cpsSpread: `${Math.min(...perRound)}–${Math.max(...perRound)}`,
      p50: median(at.map((s) => quantile(s.sipp.inviteTo200Ms, 0.5))),
      p99: median(at.map((s) => quantile(s.sipp.inviteTo200Ms, 0.99))),
      cpuMs: median(at.map((s) => (1000 * s.cpuSeconds) / Math.max(1, s.sipp.successful))),
      loopP99: budgets.length ? median(budgets.map((b) => b.loop.p99)) : null,
      budget: budgets.length
        ? `per call: ${med((b) => b.sql)} SQL statements, ${med((b) => b.commits)} commits, ${med((b) => b.mediasoup)} mediasoup requests, ` +
          `${med((b) => b.drachtio)} drachtio frames, ${med((b) => b.logs)} log lines`
        : null,
    });
  }
  console.log('');
  for (const [who, s] of summary) {
    console.log(
      `${who.padEnd(15)}: max clean ${s.maxCps} cps (median of rounds, spread ${s.cpsSpread}); at ${latencyRate} cps INVITE->200 p50 ${fmt(s.p50)} ms, p99 ${fmt(s.p99)} ms; ` +
        `CPU ${fmt(s.cpuMs)} ms/call${s.loopP99 === null ? '' : `; event-loop delay p99 ${fmt(s.loopP99, 1)} ms`}`,
    );
    if (s.budget) console.log(`${''.padEnd(15)}  ${s.budget} (at ${latencyRate} cps, median of rounds)`);
  }
  for (const s of steps) {
    if (s.rate !== latencyRate || s.round !== 1 || !s.budget) continue;
    console.log(`\n${s.target} at ${latencyRate} cps, the statements that ran most, per call:`);
    for (const [sql, n] of s.budget.topSql) console.log(`  ${fmt(n, 2).padStart(6)}  ${sql.replace(/\s+/g, ' ').slice(0, 150)}`);
  }
  const k = summary.get('kamailio');
  for (const [who, e] of summary) {
    if (!k || who === 'kamailio') continue;
    console.log(`ratio ${who}/kamailio: max cps ${fmt(e.maxCps / k.maxCps)}×, p99 ${fmt(e.p99 / k.p99)}×, CPU per call ${fmt(e.cpuMs / k.cpuMs)}×`);
  }
  const top = Math.max(...steps.map((s) => s.rate));
  for (const who of summary.keys()) {
    if (steps.some((s) => s.target === who && s.rate === top && s.clean)) console.log(`${who} stayed clean at the top of the ramp (${top} cps): its figure is a floor.`);
  }
}
