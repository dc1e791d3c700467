/**
 * HTTP servers compared under wrk: a warm-up each, then alternating rounds (ABBA order, so a
 * drift in the machine's load hits every server alike), each round reading the server's CPU time
 * from /proc (CPU per request moves less than req/s when other work shares the machine). The
 * report prints every round, the medians and each server's ratio to the peer.
 */
import os from 'node:os';
import { cpuSeconds } from './cpu-time.js';
import type { Server } from './proc.js';
import { fmt, median, table } from './stats.js';
import { wrk, type WrkResult } from './wrk.js';

export interface Contender {
  name: string;
  url: string;
  server: Server;
  results: WrkResult[];
  /** CPU µs of the server's process per request answered, per round. */
  cpuUs: number[];
  /** 1-minute load average after each round. */
  load: number[];
}

export function contender(name: string, url: string, server: Server): Contender {
  return { name, url, server, results: [], cpuUs: [], load: [] };
}

interface RoundOptions {
  rounds: number;
  seconds: number;
  connections: number;
  headers?: Record<string, string>;
}

export async function runRounds(contenders: Contender[], o: RoundOptions): Promise<void> {
  const opts = { seconds: o.seconds, connections: o.connections, ...(o.headers ? { headers: o.headers } : {}) };
  for (const c of contenders) await wrk({ ...opts, seconds: 3, url: c.url });
  for (let round = 0; round < o.rounds; round++) {
    const order = round % 2 ? [...contenders].reverse() : contenders;
    for (const c of order) {
      const cpu0 = cpuSeconds(c.server.child.pid!);
      const r = await wrk({ ...opts, url: c.url });
      c.cpuUs.push(((cpuSeconds(c.server.child.pid!) - cpu0) * 1e6) / r.requests);
      c.results.push(r);
      c.load.push(os.loadavg()[0]!);
    }
  }
}

/** Prints the rounds, each server's medians with its ratio to `peer`, and the load average. */
export function report(title: string, contenders: Contender[], peer: string, o: RoundOptions, load0: number[]): void {
  const load1 = os.loadavg();
  console.log(`${title} — wrk -c${o.connections} -t1, ${o.rounds} rounds × ${o.seconds}s, ${os.availableParallelism()} cores`);
  table(
    contenders.flatMap((c) =>
      c.results.map((r, i) => ({
        server: c.name,
        round: i + 1,
        'req/s': fmt(r.rps, 0),
        'p50 ms': fmt(r.p50Ms),
        'p99 ms': fmt(r.p99Ms),
        errors: r.errors,
        'cpu µs/req': fmt(c.cpuUs[i]!, 0),
        load1: fmt(c.load[i]!),
      })),
    ),
  );
  const med = (c: Contender) => ({
    rps: median(c.results.map((r) => r.rps)),
    p99: median(c.results.map((r) => r.p99Ms)),
    cpu: median(c.cpuUs),
  });
  const p = med(contenders.find((c) => c.name === peer)!);
  for (const c of contenders) {
    const m = med(c);
    const ratio = c.name === peer ? '' : `; ${c.name}/${peer} = ${fmt(m.rps / p.rps)}× req/s, ${fmt(p.cpu / m.cpu)}× less CPU per request`;
    console.log(`median ${c.name.padEnd(8)} ${fmt(m.rps, 0).padStart(6)} req/s, p99 ${fmt(m.p99).padStart(7)} ms, ${fmt(m.cpu, 0).padStart(4)} CPU µs/req${ratio}`);
  }
  const all = contenders.flatMap((c) => c.load);
  console.log(
    `load average: ${load0.map((l) => fmt(l)).join(' ')} before, ${load1.map((l) => fmt(l)).join(' ')} after; ` +
      `1-min median over rounds ${fmt(median(all))}`,
  );
}
