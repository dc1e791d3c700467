/**
 * The per-call budget's instruments, preloaded into a benchmarked engine process
 * (`node --import <this file> dist/api/main.js`): the product's hot path is not changed, the
 * library methods every call goes through are wrapped in this process only.
 *
 * Counted from the engine's main thread:
 * - SQLite statements run (better-sqlite3 `Statement#run/get/all/iterate`), and commits: the
 *   `COMMIT` of a transaction plus every write statement run outside one (autocommit);
 * - mediasoup channel requests (`Channel#request`: one round trip to a worker each) and payload
 *   channel notifications (`PayloadChannel#notify`);
 * - drachtio frames, both ways, on drachtio-srf's side of the control connection
 *   (`WireProtocol#send`, and each `msg` it parses);
 * - the event loop's delay (`perf_hooks.monitorEventLoopDelay`, 5 ms sampling; the histogram's
 *   intervals less the 5 ms), reset at every snapshot so a snapshot covers the time since the
 *   previous one.
 *
 * On SIGUSR2 the counts are written, synchronously, as JSON to `BENCH_BUDGET_FILE`
 * (`budget-probe.ts` reads them). Log lines are not counted here: the benchmark counts the lines
 * of the engine's log file.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface BudgetCounts {
  /** Increases with each snapshot. */
  seq: number;
  sqlStatements: number;
  sqlCommits: number;
  mediasoupRequests: number;
  mediasoupNotifications: number;
  drachtioFramesOut: number;
  drachtioFramesIn: number;
  /** Statements run by their SQL text, commits as `COMMIT` / `autocommit: <SQL>` (since start). */
  sqlBySource: Record<string, number>;
  /** mediasoup channel requests by method (`transport.connect`, ...), since start. */
  mediasoupByMethod: Record<string, number>;
  /** Event-loop delay since the previous snapshot, ms. */
  loopDelayMs: { p50: number; p99: number; max: number };
}

const file = process.env.BENCH_BUDGET_FILE;
const require = createRequire(import.meta.url);
const bySource = new Map<string, number>();
const byMethod = new Map<string, number>();
const counts: Omit<BudgetCounts, 'seq' | 'loopDelayMs' | 'sqlBySource' | 'mediasoupByMethod'> = {
  sqlStatements: 0,
  sqlCommits: 0,
  mediasoupRequests: 0,
  mediasoupNotifications: 0,
  drachtioFramesOut: 0,
  drachtioFramesIn: 0,
};

type Method = (this: unknown, ...args: unknown[]) => unknown;

/** Wraps `proto[name]` so that `count(this)` runs before each call. */
function wrap(proto: object, name: string, count: (self: never) => void): void {
  const p = proto as Record<string, Method>;
  const original = p[name];
  if (typeof original !== 'function') throw new Error(`budget hook: no method ${name} to count`);
  p[name] = function counted(this: unknown, ...args: unknown[]) {
    count(this as never);
    return original.apply(this, args);
  };
}

interface SqlStatement {
  source: string;
  reader: boolean;
  database: { inTransaction: boolean };
}

// better-sqlite3's Statement class is native: its prototype is reached through a statement.
const Database = require('better-sqlite3') as new (file: string) => { prepare(sql: string): object; close(): void };
const probe = new Database(':memory:');
const statementProto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as object;
probe.close();
/** Transaction control: a `BEGIN` runs outside a transaction but commits nothing. */
const control = /^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b/;
const sqlCount = (s: SqlStatement) => {
  counts.sqlStatements++;
  const autocommit = !s.reader && !s.database.inTransaction && !control.test(s.source);
  if (s.source === 'COMMIT' || autocommit) counts.sqlCommits++;
  const key = autocommit ? `autocommit: ${s.source}` : s.source;
  bySource.set(key, (bySource.get(key) ?? 0) + 1);
};
for (const m of ['run', 'get', 'all', 'iterate']) wrap(statementProto, m, sqlCount);

const { Channel } = require('mediasoup/node/lib/Channel.js') as { Channel: { prototype: object } };
const { PayloadChannel } = require('mediasoup/node/lib/PayloadChannel.js') as { PayloadChannel: { prototype: object } };
const channel = Channel.prototype as Record<string, Method>;
const request = channel.request!;
channel.request = function countedRequest(this: unknown, method: unknown, ...rest: unknown[]) {
  counts.mediasoupRequests++;
  byMethod.set(String(method), (byMethod.get(String(method)) ?? 0) + 1);
  return request.call(this, method, ...rest);
};
wrap(PayloadChannel.prototype, 'notify', () => counts.mediasoupNotifications++);

const WireProtocol = require('drachtio-srf/lib/wire-protocol.js') as { prototype: object };
wrap(WireProtocol.prototype, 'send', () => counts.drachtioFramesOut++);
// `emit` counts its `msg` events only: one per frame parsed.
const proto = WireProtocol.prototype as Record<string, Method>;
const emit = proto.emit!;
proto.emit = function countedEmit(this: unknown, event: unknown, ...rest: unknown[]) {
  if (event === 'msg') counts.drachtioFramesIn++;
  return emit.call(this, event, ...rest);
};

const resolutionMs = 5;
const loop = monitorEventLoopDelay({ resolution: resolutionMs });
loop.enable();
let seq = 0;

/** The histogram holds whole intervals between samples (5 ms when idle): the delay is what exceeds one. */
const ms = (ns: number) => Math.max(0, Math.round(ns / 1e4) / 100 - resolutionMs);

process.on('SIGUSR2', () => {
  if (!file) return;
  const snapshot: BudgetCounts = {
    ...counts,
    sqlBySource: Object.fromEntries(bySource),
    mediasoupByMethod: Object.fromEntries(byMethod),
    seq: ++seq,
    loopDelayMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) },
  };
  loop.reset();
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(snapshot));
  fs.renameSync(`${file}.tmp`, file);
});
