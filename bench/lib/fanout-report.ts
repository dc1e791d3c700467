/**
 * What the event fan-out benchmark prints: one line per measured window, then per target the
 * medians of its windows (and their range), the ratios the issue asks for, and what the floors
 * (`peers/raw-fanout.ts`) say about one write per delivery.
 */
import { loadAverage, cpuPressure } from './procfs.js';
import { fmt, median, table } from './stats.js';

/** One server's measured window. */
export interface FanoutWindow {
  server: string;
  transport: 'ws' | 'sse';
  published: number;
  late: number;
  deliveries: number;
  expected: number;
  /** Server CPU over the window, s: `user` + `system`. */
  cpu: number;
  user: number;
  /** The kernel's work for the server (its writes; on loopback, the receiver's side of TCP too). */
  system: number;
  /** Socket writes of the server over the window (`syscalls=1`), else undefined. */
  writes: number | undefined;
  /** Share of the server's CPU spent in the kernel. */
  systemPct: number;
  perCpuS: number;
  p50: number;
  p99: number;
  max: number;
  closed: number;
  clientsCpuPct: number;
  load: string;
  pressure: string;
}

/** What the summary needs of the run's options. */
export interface ReportOptions {
  subscribers: number;
  rate: number;
  burst: number;
  seconds: number;
  rounds: number;
  transports: ('ws' | 'sse')[];
}

/** The peer every target of a transport is a ratio to (the issue's goal is against `ws`). */
export const peerName = (transport: 'ws' | 'sse') => `${transport} (node:http)`;

/** Names of the floors: targets whose name starts with this are floors. */
export const FLOOR_PREFIX = 'floor ';

/** The issue's goal: engine WebSocket deliveries per CPU-second / `ws`'s. */
const GOAL = 3;

/** Past this share of late events (median of windows) a target's figures are flagged: its events shared turns. */
const LATE_SHARE = 0.1;

const us = (seconds: number, deliveries: number) => (deliveries > 0 ? (1e6 * seconds) / deliveries : NaN);

export function printWindow(round: number, w: FanoutWindow): void {
  console.log(
    `round ${round} ${w.server.padEnd(17)} ${w.deliveries}/${w.expected} delivered, server cpu ${fmt(w.cpu, 2)} s (${fmt(w.systemPct, 0)} % system), ` +
      `${Math.round(w.perCpuS)} deliveries/cpu-s (user ${fmt(us(w.user, w.deliveries))} + system ${fmt(us(w.system, w.deliveries))} µs each), ` +
      `${w.writes === undefined ? '' : `${fmt(w.writes / w.deliveries, 3)} socket writes per delivery, `}` +
      `p50 ${fmt(w.p50)} ms, p99 ${fmt(w.p99)} ms, max ${fmt(w.max)} ms, ` +
      `clients cpu ${fmt(w.clientsCpuPct, 0)} %, late publishes ${w.late}, closed ${w.closed}, load ${w.load}, psi ${w.pressure} %`,
  );
}

const range = (xs: number[], digits: number) => `${fmt(Math.min(...xs), digits)}-${fmt(Math.max(...xs), digits)}`;
const med = (ws: FanoutWindow[], f: (w: FanoutWindow) => number) => median(ws.map(f));

export function report(results: Map<string, FanoutWindow[]>, o: ReportOptions): void {
  console.log(`\nmedians of ${o.rounds} rounds (range), ${o.subscribers} subscribers x ${o.rate} events/s, ${o.burst} per burst:`);
  const rows: Record<string, string | number>[] = [];
  for (const [name, ws] of results) {
    const per = ws.map((w) => w.perCpuS);
    const p50 = ws.map((w) => w.p50);
    const p99 = ws.map((w) => w.p99);
    const peer = results.get(peerName(ws[0]!.transport));
    rows.push({
      server: name,
      'deliveries/cpu-s': `${Math.round(median(per))} (${range(per, 0)})`,
      'x peer': peer ? fmt(median(per) / med(peer, (w) => w.perCpuS)) : '-',
      'cpu %': fmt((100 * med(ws, (w) => w.cpu)) / o.seconds, 1),
      'system %': fmt(med(ws, (w) => w.systemPct), 0),
      'user µs': fmt(med(ws, (w) => us(w.user, w.deliveries))),
      'system µs': fmt(med(ws, (w) => us(w.system, w.deliveries))),
      ...(ws[0]!.writes === undefined ? {} : { 'writes/delivery': fmt(med(ws, (w) => w.writes! / w.deliveries), 3) }),
      'p50 ms': `${fmt(median(p50))} (${range(p50, 2)})`,
      'p99 ms': `${fmt(median(p99))} (${range(p99, 1)})`,
      late: `${Math.round(med(ws, (w) => w.late))}/${ws[0]!.published}`,
      delivered: `${ws.reduce((s, w) => s + w.deliveries, 0)}/${ws.reduce((s, w) => s + w.expected, 0)}`,
      closed: Math.max(...ws.map((w) => w.closed)),
    });
  }
  table(rows);
  console.log(
    '(x peer: deliveries per cpu-second over the node:http peer of the same transport; user/system µs: CPU per delivery; ' +
      'late: events published more than a period after their slot, median of windows: a late slot is published with the next, ' +
      'in one turn, which a server that writes once per turn (the engine, uWS publish) sends in one write)',
  );
  const lagging = [...results].filter(([, ws]) => med(ws, (w) => w.late) > LATE_SHARE * ws[0]!.published).map(([name]) => name);
  if (lagging.length)
    console.log(
      `caution: more than ${100 * LATE_SHARE} % of the events of ${lagging.join(', ')} were late (the machine's load): ` +
        `a late slot is published in the same turn as the next, so more events shared a turn than \`burst\` says (${o.burst})`,
    );
  for (const transport of o.transports) pairs(results, transport);
  floors(results);
  console.log(`load average ${loadAverage()}, cpu pressure some avg10 ${cpuPressure()} %`);
}

/** engine / peer, baseline / peer, engine / baseline. */
function pairs(results: Map<string, FanoutWindow[]>, transport: 'ws' | 'sse'): void {
  const peer = results.get(peerName(transport));
  for (const [a, b] of [
    ['engine', peerName(transport)],
    ['baseline', peerName(transport)],
    ['engine', 'baseline'],
  ] as const) {
    const x = results.get(`${a} ${transport}`);
    const y = b === 'baseline' ? results.get(`baseline ${transport}`) : peer;
    if (!x || !y) continue;
    const ratio = med(x, (w) => w.perCpuS) / med(y, (w) => w.perCpuS);
    const goal = transport === 'ws' && b !== 'baseline' ? ` (goal >= ${GOAL}x: ${ratio >= GOAL ? 'met' : 'not met'})` : '';
    console.log(
      `${a} ${transport} / ${b === 'baseline' ? `baseline ${transport}` : b}: ${fmt(ratio)}x deliveries per cpu-second${goal}; ` +
        `p99 ${fmt(med(x, (w) => w.p99))} vs ${fmt(med(y, (w) => w.p99))} ms`,
    );
  }
}

/**
 * Each floor against the goal: its deliveries per CPU-second as a multiple of `ws`'s, and the
 * most it could reach were its user time zero (deliveries per second of its kernel time alone).
 */
function floors(results: Map<string, FanoutWindow[]>): void {
  const peer = results.get(peerName('ws'));
  const found = [...results].filter(([name]) => name.startsWith(FLOOR_PREFIX));
  if (!peer || !found.length) return;
  const peerPer = med(peer, (w) => w.perCpuS);
  console.log(
    `\nfloors: ${GOAL}x ws = ${Math.round(GOAL * peerPer)} deliveries/cpu-s, ${fmt(1e6 / (GOAL * peerPer))} µs of server CPU per delivery`,
  );
  let best = 0;
  for (const [name, ws] of found) {
    const ratio = med(ws, (w) => w.perCpuS) / peerPer;
    const systemUs = med(ws, (w) => us(w.system, w.deliveries));
    const bound = 1e6 / systemUs / peerPer;
    best = Math.max(best, ratio);
    console.log(
      `  ${name}: ${fmt(ratio)}x ws; its kernel time alone is ${fmt(systemUs)} µs per delivery, so even with no user time at most ` +
        `${Math.round(1e6 / systemUs)} deliveries/cpu-s = ${fmt(bound)}x ws`,
    );
  }
  console.log(
    best >= GOAL
      ? `  a floor reaches ${fmt(best)}x ws: ${GOAL}x is within reach of this burst; profile the engine for what it does beyond the floor`
      : `  no floor reaches ${GOAL}x ws (best ${fmt(best)}x): at this burst ${GOAL}x is beyond these servers' writes`,
  );
}
