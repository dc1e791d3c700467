/**
 * What `sip-cps` prints: one line per step as it ends, then the table of every step, the summary
 * per target (medians of rounds), with several rounds the median and spread of each rate over
 * rounds, the ratios of each engine mode to its signalling floor (`peers/sip-floor.ts`) and to
 * Kamailio.
 */
import os from 'node:os';
import type { StepBudget } from './budget-probe.js';
import type { CallTally } from './engine.js';
import { quantile, type SippResult } from './sipp.js';
import { fmt, median, table } from './stats.js';

/** The rate at which INVITE -> 200 is timed to the microsecond (-trace_msg). */
export const latencyRate = 100;

export interface Step {
  /** `engine/<sip mode>`, `floor/<sip mode>`, `stack/<sip mode>` or `kamailio`. */
  target: string;
  round: number;
  rate: number;
  sipp: SippResult;
  cpuSeconds: number;
  /** CPU of the root process alone (the engine's or the floor's Node process, all threads; Kamailio's main process). */
  rootCpuSeconds: number;
  /** The root process's CPU split: user code, and the kernel's work for it (system calls, loopback TCP and UDP). */
  rootUserSeconds: number;
  rootSystemSeconds: number;
  clean: boolean;
  media?: CallTally;
  peakLegs?: number;
  /** The per-call budget and event-loop delay in the step (`budget-hook.ts`, engines and floors). */
  budget?: StepBudget;
  /** CPU pressure at the end of the step (`some avg10`). */
  pressure: string;
  /** The machine's 1-minute load average at the end of the step. */
  load: string;
  /** The last call record of the step (the next step reads those after it). */
  lastRowid?: number;
}

/** A Node target: the engine or its floor (their root process is the Node process). */
const isNode = (s: Step) => !s.target.startsWith('kamailio');
const perCallMs = (seconds: number, s: Step) => (1000 * seconds) / Math.max(1, s.sipp.successful);
const digitsAt = (s: Step) => (s.sipp.inviteTo200Ms.length && s.rate === latencyRate ? 2 : 0);
const cpuMs = (s: Step) => perCallMs(s.cpuSeconds, s);
const nodeMs = (s: Step) => perCallMs(s.rootCpuSeconds, s);
const p99 = (s: Step) => quantile(s.sipp.inviteTo200Ms, 0.99);

function row(s: Step) {
  const x = s.sipp;
  const node = (seconds: number) => (isNode(s) ? fmt(perCallMs(seconds, s), 2) : '-');
  return {
    target: s.target,
    round: s.round,
    'cps asked': s.rate,
    'cps answered': fmt(x.answeredCps, 0),
    calls: x.created,
    failed: x.failed,
    'fail %': fmt((100 * x.failed) / Math.max(1, x.asked), 2),
    retrans: x.retransmissions,
    'p50 ms': fmt(quantile(x.inviteTo200Ms, 0.5), digitsAt(s)),
    'p99 ms': fmt(p99(s), digitsAt(s)),
    'cpu ms/call': fmt(cpuMs(s), 2),
    'node ms/call': node(s.rootCpuSeconds),
    'user ms/call': node(s.rootUserSeconds),
    'sys ms/call': node(s.rootSystemSeconds),
    'cpu % (1 core)': fmt((100 * s.cpuSeconds) / x.wallSeconds, 0),
    'with media': s.media ? `${s.media.withMedia}/${s.media.calls}` : '-',
    'with events': s.media ? `${s.media.withEvents}/${s.media.calls}` : '-',
    'peak legs': s.peakLegs ?? '-',
    'loop p50/p99/max ms': s.budget ? `${fmt(s.budget.loop.p50, 1)}/${fmt(s.budget.loop.p99, 1)}/${fmt(s.budget.loop.max, 0)}` : '-',
    'sql/call': s.budget ? fmt(s.budget.sql, 1) : '-',
    'commits/call': s.budget ? fmt(s.budget.commits, 1) : '-',
    'mediasoup/call': s.budget ? fmt(s.budget.mediasoup, 1) : '-',
    'drachtio/call': s.budget ? fmt(s.budget.drachtio, 1) : '-',
    'logs/call': s.budget ? fmt(s.budget.logs, 1) : '-',
    'writes/call': s.budget ? fmt(s.budget.writes, 1) : '-',
    load: s.load,
    psi: s.pressure,
    clean: s.clean ? 'yes' : 'NO',
  };
}

export function printStep(s: Step): void {
  const r = row(s);
  console.log(Object.entries(r).map(([k, v]) => `${k}=${v}`).join(' '));
  if (s.media && s.media.withMedia < s.media.calls) console.log(`  end reasons: ${JSON.stringify(s.media.endReasons)}`);
  // Calls SIPp never placed: its own words say why (a port it could not bind, a scenario error).
  if (s.sipp.created < s.sipp.asked) console.log(`  SIPp created ${s.sipp.created} of ${s.sipp.asked} calls; its output ends:\n${s.sipp.output.trim().split('\n').slice(-15).join('\n')}`);
}

/** Median and range of xs: `m (lo–hi)`, or `m` alone when every value is the same. */
function spread(xs: number[], digits: number): string {
  const ok = xs.filter((x) => Number.isFinite(x));
  if (!ok.length) return '-';
  const lo = Math.min(...ok);
  const hi = Math.max(...ok);
  return lo === hi ? fmt(lo, digits) : `${fmt(median(ok), digits)} (${fmt(lo, digits)}–${fmt(hi, digits)})`;
}

interface Summary {
  maxCps: number;
  cpsSpread: string;
  /** Clean at the top of the ramp in some round: its max clean rate is a lower bound of its capacity. */
  cleanAtTop: boolean;
  p50: number;
  p99: number;
  cpuMs: number;
  nodeMs: number | null;
  loopP99: number | null;
  budget: string | null;
}

function summarize(steps: Step[], who: string, rounds: number, top: number): Summary {
  const mine = steps.filter((s) => s.target === who);
  const at = mine.filter((s) => s.rate === latencyRate);
  const perRound = Array.from({ length: rounds }, (_, i) => Math.max(0, ...mine.filter((s) => s.round === i + 1 && s.clean).map((s) => s.rate)));
  const budgets = at.flatMap((s) => (s.budget ? [s.budget] : []));
  const med = (f: (b: StepBudget) => number) => fmt(median(budgets.map(f)), 1);
  return {
    maxCps: median(perRound),
    cpsSpread: `${Math.min(...perRound)}–${Math.max(...perRound)}`,
    cleanAtTop: perRound.some((r) => r === top),
    p50: median(at.map((s) => quantile(s.sipp.inviteTo200Ms, 0.5))),
    p99: median(at.map(p99)),
    cpuMs: median(at.map(cpuMs)),
    nodeMs: at.length && isNode(at[0]!) ? median(at.map(nodeMs)) : null,
    loopP99: budgets.length ? median(budgets.map((b) => b.loop.p99)) : null,
    budget: budgets.length
      ? `per call: ${med((b) => b.sql)} SQL statements, ${med((b) => b.commits)} commits, ${med((b) => b.mediasoup)} mediasoup requests, ` +
        `${med((b) => b.drachtio)} drachtio frames, ${med((b) => b.logs)} log lines, ${med((b) => b.writes)} write system calls`
      : null,
  };
}

/** Per target and rate, over rounds: median (min–max) of the figures that move most on a shared machine. */
function printSpread(steps: Step[], targets: string[], rates: number[]): void {
  console.log('\nPer target and rate over rounds: median (min–max)');
  const rows: Record<string, string | number>[] = [];
  for (const who of targets) {
    for (const rate of rates) {
      const at = steps.filter((s) => s.target === who && s.rate === rate);
      if (!at.length) continue;
      rows.push({
        target: who,
        'cps asked': rate,
        'clean rounds': `${at.filter((s) => s.clean).length}/${at.length}`,
        'cps answered': spread(at.map((s) => s.sipp.answeredCps), 0),
        'cpu ms/call': spread(at.map(cpuMs), 2),
        'node ms/call': isNode(at[0]!) ? spread(at.map(nodeMs), 2) : '-',
        'p99 ms': spread(at.map(p99), rate === latencyRate ? 2 : 0),
        'loop p99 ms': at.some((s) => s.budget) ? spread(at.flatMap((s) => (s.budget ? [s.budget.loop.p99] : [])), 1) : '-',
        psi: spread(at.map((s) => Number(s.pressure)), 2),
      });
    }
  }
  table(rows);
}

/**
 * The floor of a kind (`floor`: signalling; `stack`: with the echo and the record) an engine mode
 * is measured against: the one of the same SIP server mode, else the embedded one.
 */
function floorOf(engine: string, summary: Map<string, Summary>, kind: 'floor' | 'stack'): string | undefined {
  const same = engine.replace(/^engine\//, `${kind}/`);
  return summary.has(same) ? same : summary.has(`${kind}/embedded`) ? `${kind}/embedded` : undefined;
}

/** Each engine mode against its floor: max clean rate, and per rate both ran, CPU per call and p99 (medians of rounds). */
function printFloorRatios(steps: Step[], summary: Map<string, Summary>, rates: number[]): void {
  const rows: Record<string, string | number>[] = [];
  const pairs = [...summary.keys()].flatMap((who) =>
    who.startsWith('engine/')
      ? (['floor', 'stack'] as const).flatMap((kind) => {
          const floor = floorOf(who, summary, kind);
          return floor ? [[who, floor] as const] : [];
        })
      : [],
  );
  if (pairs.length) console.log('\nEach engine mode against its floors, signalling (floor/) and stack (stack/) (medians of rounds):');
  for (const [who, floor] of pairs) {
    const e = summary.get(who)!;
    const f = summary.get(floor)!;
    const bound = f.cleanAtTop ? ' (the floor was clean at the top of the ramp: the ratio is at most this)' : '';
    console.log(`ratio ${who} / ${floor}: max clean cps ${e.maxCps} / ${f.maxCps} = ${fmt(e.maxCps / f.maxCps)}×${bound}`);
    for (const rate of rates) {
      const a = steps.filter((s) => s.target === who && s.rate === rate);
      const b = steps.filter((s) => s.target === floor && s.rate === rate);
      if (!a.length || !b.length) continue;
      const r = (f: (s: Step) => number, digits = 2) => {
        const x = median(a.map(f));
        const y = median(b.map(f));
        return `${fmt(x, digits)} / ${fmt(y, digits)} = ${fmt(x / y, 1)}×`;
      };
      rows.push({
        engine: who,
        floor,
        'cps asked': rate,
        'cps answered': r((s) => s.sipp.answeredCps, 0),
        'cpu ms/call': r(cpuMs),
        'node ms/call': r(nodeMs),
        'user ms/call': r((s) => perCallMs(s.rootUserSeconds, s)),
        'sys ms/call': r((s) => perCallMs(s.rootSystemSeconds, s)),
        'p99 ms': r(p99, rate === latencyRate ? 2 : 0),
      });
    }
  }
  if (rows.length) table(rows);
}

export function report(steps: Step[], o: { rounds: number; seconds: number; holdMs: number; scenario: string }): void {
  console.log(`\nSIP call setup rate — SIPp ${o.scenario}: INVITE(SDP) -> 200 -> ACK -> ${o.holdMs} ms hold with RTP -> BYE,`);
  console.log(
    `${o.seconds} s per step, ${o.rounds} round(s), ${os.availableParallelism()} cores; p50/p99 at ${latencyRate} cps from -trace_msg (µs), elsewhere SIPp's ms clock`,
  );
  table(steps.map(row));
  const targets = [...new Set(steps.map((s) => s.target))];
  const rates = [...new Set(steps.map((s) => s.rate))].sort((a, b) => a - b);
  const top = Math.max(...rates);
  const summary = new Map(targets.map((who) => [who, summarize(steps, who, o.rounds, top)]));
  if (o.rounds > 1) printSpread(steps, targets, rates);
  console.log('');
  for (const [who, s] of summary) {
    console.log(
      `${who.padEnd(15)}: max clean ${s.maxCps} cps (median of rounds, spread ${s.cpsSpread}); at ${latencyRate} cps INVITE->200 p50 ${fmt(s.p50)} ms, p99 ${fmt(s.p99)} ms; ` +
        `CPU ${fmt(s.cpuMs)} ms/call${s.nodeMs === null ? '' : ` (node ${fmt(s.nodeMs)})`}${s.loopP99 === null ? '' : `; event-loop delay p99 ${fmt(s.loopP99, 1)} ms`}`,
    );
    if (s.budget) console.log(`${''.padEnd(15)}  ${s.budget} (at ${latencyRate} cps, median of rounds)`);
  }
  for (const s of steps) {
    if (s.rate !== latencyRate || s.round !== 1 || !s.budget) continue;
    if (s.target.startsWith('engine/')) {
      console.log(`\n${s.target} at ${latencyRate} cps, the statements that ran most, per call:`);
      for (const [sql, n] of s.budget.topSql) console.log(`  ${fmt(n, 2).padStart(6)}  ${sql.replace(/\s+/g, ' ').slice(0, 150)}`);
    }
    if (s.budget.mediasoupMethods.length) {
      console.log(`${s.target} at ${latencyRate} cps, mediasoup requests per call: ${s.budget.mediasoupMethods.map(([m, n]) => `${m} ${fmt(n, 2)}`).join(', ')}`);
    }
  }
  printFloorRatios(steps, summary, rates);
  const k = summary.get('kamailio');
  if (k) console.log('');
  for (const [who, e] of summary) {
    if (!k || who === 'kamailio') continue;
    console.log(`ratio ${who}/kamailio: max cps ${fmt(e.maxCps / k.maxCps)}×, p99 ${fmt(e.p99 / k.p99)}×, CPU per call ${fmt(e.cpuMs / k.cpuMs)}×`);
  }
  for (const [who, s] of summary) if (s.cleanAtTop) console.log(`${who} stayed clean at the top of the ramp (${top} cps): its figure is a floor.`);
}
