/**
 * Call setup rate: SIPp places INVITE (G.711 offer) -> 200 -> ACK -> 1 s hold with RTP from the
 * caller -> BYE at a ramp of rates against the engine (a process with production settings, media
 * workers = cores, seeded through the REST API) and against Kamailio answering statelessly (the
 * C ceiling, no media), in the same run. A step is clean when at most 0.1 % of its calls fail,
 * at most 0.1 % of the engine's calls end without RTP echoed both ways or without their events
 * (`call.started`, `call.answered`, `call.ended`, in order), and the calls are answered at the
 * rate asked (90 %); the ramp stops at the first step that is not.
 * The engine's signalling floor runs the same ramp in the same run (`peers/sip-floor.ts`: the
 * embedded SIP server and a minimal drachtio-srf app answering with a fixed SDP; no media, no
 * store), so that each figure is also a ratio to it. The stack floor (`only=...,stack`,
 * `peers/stack-floor.ts`) adds what no engine on this stack can skip, done with the least code:
 * per call a mediasoup echo (transport, Producer, Consumer, two counters, close) and the call's
 * record in the engine's SQLite schema (three transactions); the engine's figures against it are
 * what the engine's own code costs.
 * Reported per step: INVITE -> 200 (p50/p99), CPU of the whole process tree (engine + mediasoup
 * workers; Kamailio + children) per call, the Node process's CPU per call split into user and
 * system time, CPU pressure and load average, and for the engine the call records with
 * media (RTP received from the caller and echoed back by mediasoup), the peak of open media legs,
 * the event loop's delay (p50/p99/max) and the per-call budget: SQLite statements and commits,
 * mediasoup channel requests, drachtio frames, log lines and write system calls per answered call
 * (`lib/budget-hook.ts`, preloaded into the engine process; into the floor too, for its loop
 * delay, frames and log lines). Printed by `lib/cps-report.ts`.
 *
 * `npm run bench -- sip-cps [rates=50,100,200,...] [seconds=10] [hold=1000] [rounds=1] [warmup=40]
 *   [only=engine,floor,stack,kamailio] [sip=embedded,thread] [floor=<sip modes>] [prof=<dir>] [engine=<main.js>] [node="<node flags>"]`
 * warmup: seconds of calls at the ramp's lowest rate before the first step, per target, not
 * counted (0: none; see `warmUp`). only: the targets run (a list; default engine, floor and kamailio). sip: where the engine runs its SIP server
 * (`sip.server`); each mode listed is an engine of its own in the ramp. floor: the floors' SIP
 * server modes, the stack floor's too (default: those of `sip`); each engine mode is compared with the floor of its own
 * mode. prof: the engines and floors run with --cpu-prof, profiles written to <dir> at exit.
 * engine: another build's dist/api/main.js, for before/after figures. node: flags for every target's
 * Node process, engines and floors alike (e.g. `node=--trace-gc`, written to each one's log).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { keyValues } from './lib/args.js';
import { engineErrors, mediaLegs, seedEchoNumber, startEngine, tallyCalls, type CallTally, type EngineProcess } from './lib/engine.js';
import { startFloor, type FloorProcess } from './lib/floor.js';
import { startKamailio } from './lib/kamailio.js';
import { pcapSsrc } from './lib/pcap.js';
import { budgetLoad, budgetSnapshot, perCall } from './lib/budget-probe.js';
import { cpuSplit } from './lib/cpu-time.js';
import { latencyRate, printStep, report, type Step } from './lib/cps-report.js';
import { CpuMeter, cpuPressure, loadAverage, processTree } from './lib/procfs.js';
import { runSippStep } from './lib/sipp.js';

const scenario = 'uac-cps.xml';
const pcap = '/usr/share/sip-tester/g711a.pcap';
/** Failed calls tolerated in a clean step (the issue's 0.1 %). */
const maxFailRatio = 0.001;
/** A step whose calls are answered slower than this share of the asked rate is not clean. */
const minPace = 0.9;
const targetKinds = ['engine', 'floor', 'stack', 'kamailio'];
/** `warmup=`: seconds of calls before the first step (see `warmUp`). */
const defaultWarmupSeconds = 40;
const defaultKinds = ['engine', 'floor', 'kamailio'];

interface Target {
  name: string;
  address: string;
  pids: number[];
  engine?: EngineProcess;
  /** A database with the target's call records (the engine's, the stack floor's), tallied after each step. */
  records?: { dbPath: string };
  /** Where to ask for the budget hook's counts (engines and floors). */
  budget?: { pid: number; file: string; logPath: string };
}

export async function run(argv: string[]): Promise<void> {
  const a = keyValues(argv);
  const rates = (a.rates ?? '50,100,200,300,400,500,600,800,1000,1500,2000,3000').split(',').map(Number);
  const seconds = Number(a.seconds ?? 10);
  const holdMs = Number(a.hold ?? 1000);
  const rounds = Number(a.rounds ?? 1);
  const warmupSeconds = Number(a.warmup ?? defaultWarmupSeconds);
  const warmupRate = Math.min(...rates);
  const only = (a.only ?? defaultKinds.join(',')).split(',');
  const unknown = only.filter((k) => !targetKinds.includes(k));
  if (unknown.length) throw new Error(`only: unknown target(s) ${unknown.join(', ')} (expected ${targetKinds.join(', ')})`);
  const dir = path.join(os.tmpdir(), `as-sip-cps-${process.pid}`);

  const modes = only.includes('engine') ? (a.sip ?? 'embedded,thread').split(',') : [];
  const floorModes = only.includes('floor') ? (a.floor ?? a.sip ?? 'embedded,thread').split(',') : [];
  const stackModes = only.includes('stack') ? (a.floor ?? a.sip ?? 'embedded,thread').split(',') : [];
  const engines: { mode: string; engine: EngineProcess; budgetFile: string }[] = [];
  const floors: { name: string; floor: FloorProcess; budgetFile: string }[] = [];
  let kamailio: Awaited<ReturnType<typeof startKamailio>> | undefined;
  fs.mkdirSync(dir, { recursive: true });
  const targets: Target[] = [];
  const steps: Step[] = [];
  const lastRowid = new Map<string, number>();
  const prof = a.prof ? ['--cpu-prof', `--cpu-prof-dir=${a.prof}`] : [];
  const nodeFlags = a.node ? a.node.split(' ') : [];
  try {
    for (const mode of modes) {
      const budget = budgetLoad(dir, mode);
      const engine = await startEngine({
        nodeArgs: [...budget.nodeArgs, ...nodeFlags, ...prof],
        ...(a.engine ? { mainJs: a.engine } : {}),
        env: { AS_SIP_SERVER: mode, ...budget.env },
      });
      engines.push({ mode, engine, budgetFile: budget.file });
    }
    for (const mode of floorModes) {
      const budget = budgetLoad(dir, `floor-${mode}`);
      floors.push({ name: `floor/${mode}`, floor: await startFloor({ mode, nodeArgs: [...budget.nodeArgs, ...nodeFlags, ...prof], env: budget.env }), budgetFile: budget.file });
    }
    for (const mode of stackModes) {
      const budget = budgetLoad(dir, `stack-${mode}`);
      const floor = await startFloor({ mode, nodeArgs: [...budget.nodeArgs, ...nodeFlags, ...prof], env: budget.env, stack: { ssrc: pcapSsrc(pcap) } });
      floors.push({ name: `stack/${mode}`, floor, budgetFile: budget.file });
    }
    if (only.includes('kamailio')) kamailio = await startKamailio();
    for (const { mode, engine, budgetFile } of engines) {
      await seedEchoNumber(engine);
      await warmUp(`127.0.0.1:${engine.sipPort}`, warmupRate, warmupSeconds, holdMs, dir);
      lastRowid.set(`engine/${mode}`, tallyCalls(engine, 0).lastRowid);
      const budget = { pid: engine.pid, file: budgetFile, logPath: engine.logPath };
      targets.push({ name: `engine/${mode}`, address: `127.0.0.1:${engine.sipPort}`, pids: processTree(engine.pid), engine, records: engine, budget });
    }
    for (const { name, floor, budgetFile } of floors) {
      await warmUp(`127.0.0.1:${floor.sipPort}`, warmupRate, warmupSeconds, holdMs, dir);
      const records = floor.dbPath ? { dbPath: floor.dbPath } : undefined;
      if (records) lastRowid.set(name, tallyCalls(records, 0).lastRowid);
      const budget = { pid: floor.pid, file: budgetFile, logPath: floor.logPath };
      targets.push({ name, address: `127.0.0.1:${floor.sipPort}`, pids: processTree(floor.pid), ...(records ? { records } : {}), budget });
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
    await Promise.all([...engines.map((e) => e.engine.stop()), ...floors.map((f) => f.floor.stop()), kamailio?.stop()]);
  }
  report(steps, { rounds, seconds, holdMs, scenario });
  for (const { mode, engine } of engines) {
    const errors = engineErrors(engine);
    console.log(`engine/${mode} log: ${errors.count} error lines${errors.count ? `: ${errors.messages.join('; ')}` : ''} (${engine.logPath})`);
  }
  for (const { name, floor } of floors) {
    const errors = engineErrors({ logPath: floor.logPath });
    console.log(`${name} log: ${errors.count} error lines${errors.count ? `: ${errors.messages.join('; ')}` : ''} (${floor.logPath})`);
  }
  console.log(`load average after: ${loadAverage()}`);
}

/**
 * Warm-up, not counted: `seconds` of calls at the ramp's lowest rate. Steady state takes longer
 * than the JIT's warm-up: the SIP stack holds each call's transactions for 32 s after its last
 * message (RFC 6026's Timer L, RFC 3261's Timer J), so the heap grows, and the old generation is
 * collected more often, until 32 s of calls have turned over. At 100 calls/s (2026-12-05, 7
 * consecutive rounds after the old 5-s warm-up) the engine's Node CPU per call fell from 7.5 to
 * 4.5 ms and its event-loop delay p99 from 5.3 to 2.7-3.3 ms over the first 40 s, while its heap
 * after each mark-compact grew from 33 to 56 MB and then stayed there.
 */
async function warmUp(target: string, rate: number, seconds: number, holdMs: number, dir: string): Promise<void> {
  if (seconds <= 0) return;
  await runSippStep({ target, scenario, rate, calls: Math.max(1, Math.round(rate * seconds)), holdMs, dir, keys: { pcap } });
}

async function runStep(
  t: Target,
  round: number,
  rate: number,
  o: { seconds: number; holdMs: number; dir: string; sinceRowid: number },
): Promise<Step> {
  const meter = new CpuMeter(t.pids);
  const root = t.pids[0]!;
  const split0 = cpuSplit(root);
  const snapshot = () => (t.budget ? budgetSnapshot(t.budget.pid, t.budget.file, t.budget.logPath) : Promise.resolve(null));
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
  if (t.records) {
    // Let the last BYEs close their legs and write their records.
    for (let i = 0; t.engine && i < 50 && (await mediaLegs(t.engine)) > 0; i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, t.engine ? 200 : 500));
    ({ tally: media, lastRowid } = tallyCalls(t.records, o.sinceRowid));
  }
  const after = await snapshot();
  const budget = before && atEnd && after ? { ...perCall(before, after, sipp.successful), loop: atEnd.loopDelayMs } : undefined;
  const cpu = meter.lap();
  const split1 = cpuSplit(root);
  // With media: every answered call's record shows RTP both ways (a leg still setting up its
  // transport when the BYE came counts against the step, as a failed call does).
  const withoutMedia = media ? media.calls - media.withMedia : 0;
  // With events: every answered call's events are all in the event log, in order.
  const withoutEvents = media ? media.calls - media.withEvents : 0;
  const clean =
    sipp.failed <= maxFailRatio * sipp.asked &&
    withoutMedia <= maxFailRatio * sipp.asked &&
    withoutEvents <= maxFailRatio * sipp.asked &&
    sipp.successful > 0 &&
    sipp.answeredCps >= minPace * rate;
  return {
    target: t.name,
    round,
    rate,
    sipp,
    cpuSeconds: cpu.total,
    rootCpuSeconds: cpu.byPid.get(root) ?? 0,
    rootUserSeconds: split1.user - split0.user,
    rootSystemSeconds: split1.system - split0.system,
    clean,
    pressure: cpuPressure(),
    load: loadAverage().split(' ')[0]!,
    ...(media ? { media, peakLegs, lastRowid } : {}),
    ...(budget ? { budget } : {}),
  };
}
