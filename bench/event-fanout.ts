/**
 * Event fan-out: N subscribers (1,000) receiving R events/s (50) from the engine's real event path
 * (`EventLog.append` -> SQLite -> the hub -> every WebSocket / SSE client of the tenant), against
 * the same fan-out from a minimal `node:http` server: the `ws` package for WebSocket, plain
 * `res.write` for SSE. For WebSocket also the floors of one write per delivery
 * (`peers/raw-fanout.ts`): `node:net` writing one pre-built frame to each socket, and uWS's
 * `app.publish` to one topic. Every server and every client process is its own process, so a
 * server's CPU time (`/proc/<pid>/stat`, all its threads) is its own.
 *
 *   npm run bench -- event-fanout [subscribers=1000] [rate=50] [burst=1] [spread=1] [seconds=6] [rounds=3] [procs=4]
 *                                 [only=ws|sse] [floors=net,uws|none] [syscalls=1] [perf=<dir>] [prof=<dir>]
 *                                 [baseline=<other build>/dist/bench/peers/fanout-engine.js]
 *
 * Per transport: both servers get their subscribers (the engine's through a tenant and an API key
 * made with the admin CLI, as an operator would), then windows in ABBA order (a drift in the
 * machine's load hits both alike). A window publishes `rate * seconds` events and waits until
 * every subscriber has them (or 3 s more); reported are deliveries per CPU-second of the server
 * over the window, and publish -> receive latency (CLOCK_MONOTONIC stamped in each event).
 * `baseline=` adds another build's engine to the same rounds (before/after a change). `syscalls=1`
 * counts each server's socket writes per delivery with `perf stat` (its tracepoints cost CPU, so
 * such a run's CPU figures are not comparable with others'); `perf=<dir>` records each server's
 * windows with `perf record -g` (kernel included) into `<dir>/<server>-<window>.data`.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { keyValues } from './lib/args.js';
import { cpuSeconds, cpuSplit } from './lib/cpu-time.js';
import { histogramQuantiles, type ClientOrder, type ClientReply, type Published, type PublishOrder } from './lib/fanout-wire.js';
import { FLOOR_PREFIX, peerName, printWindow, report, type FanoutWindow } from './lib/fanout-report.js';
import { cpuPressure, loadAverage } from './lib/procfs.js';
import { countSyscalls, recordPerf, WRITE_CALLS } from './lib/perf-attach.js';
import type { ClientSpec } from './peers/fanout-clients.js';
import type { EngineReady } from './peers/fanout-engine.js';
import type { PeerReady } from './peers/node-fanout.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** After the last publish, how long the subscribers get to receive everything. */
const DRAIN_MS = 3000;

interface Options {
  subscribers: number;
  rate: number;
  /** Events published back to back per slot (a transaction's events, a burst of call activity). */
  burst: number;
  /** Each event of a burst from its own timer callback (separate callbacks of one loop phase). */
  spread: boolean;
  seconds: number;
  rounds: number;
  procs: number;
  transports: ('ws' | 'sse')[];
  /** The WebSocket floors run beside the others (`peers/raw-fanout.ts`). */
  floors: Floor[];
  /** Count each server's socket writes per window (`perf stat`). */
  syscalls: boolean;
  /** A directory for `perf record` of each server's windows. */
  perf: string | undefined;
  prof: string | undefined;
  /** Another build's `dist/bench/peers/fanout-engine.js`, measured beside this one (before/after). */
  baseline: string | undefined;
}

type Floor = 'net' | 'uws';

/** Each floor's name in the output. */
const FLOOR_NAMES: Record<Floor, string> = { net: `${FLOOR_PREFIX}node:net`, uws: `${FLOOR_PREFIX}uWS publish` };

/** A forked process and its IPC, answered one message at a time. */
class Child {
  readonly #inbox: unknown[] = [];
  readonly #waiting: ((m: unknown) => void)[] = [];
  #stderr = '';

  constructor(readonly proc: ChildProcess) {
    proc.on('message', (m) => {
      const w = this.#waiting.shift();
      if (w) w(m);
      else this.#inbox.push(m);
    });
    proc.stderr?.on('data', (d: Buffer) => (this.#stderr += d.toString()));
  }

  static start(script: string, args: string[], execArgv: string[] = []): Child {
    return new Child(fork(path.resolve(here, script), args, { execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] }));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** The next message, or an error when the process exits first. */
  next<T>(): Promise<T> {
    const m = this.#inbox.shift();
    if (m !== undefined) return Promise.resolve(m as T);
    return new Promise((resolve, reject) => {
      const exited = () => reject(new Error(`process ${this.pid} exited: ${this.#stderr.slice(-2000)}`));
      this.proc.once('exit', exited);
      this.#waiting.push((msg) => {
        this.proc.off('exit', exited);
        resolve(msg as T);
      });
    });
  }

  ask<T>(m: object): Promise<T> {
    this.proc.send(m);
    return this.next<T>();
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) return resolve();
      this.proc.once('exit', () => resolve());
      this.proc.send({ type: 'stop' });
      setTimeout(() => this.proc.kill('SIGKILL'), 10_000).unref();
    });
  }
}

/** A server under test, with the subscribers of the current transport. */
interface Contender {
  name: string;
  transport: 'ws' | 'sse';
  server: Child;
  spec: Omit<ClientSpec, 'count'>;
  clients: Child[];
}

export async function run(args: string[]): Promise<void> {
  const a = keyValues(args);
  const o: Options = {
    subscribers: Number(a.subscribers ?? 1000),
    rate: Number(a.rate ?? 50),
    burst: Number(a.burst ?? 1),
    spread: a.spread === '1' || a.spread === 'true',
    seconds: Number(a.seconds ?? 6),
    rounds: Number(a.rounds ?? 3),
    procs: Number(a.procs ?? 4),
    transports: a.only === 'ws' || a.only === 'sse' ? [a.only] : ['ws', 'sse'],
    syscalls: a.syscalls === '1' || a.syscalls === 'true',
    perf: a.perf,
    floors: (a.floors ?? 'net,uws').split(',').filter((f): f is Floor => f === 'net' || f === 'uws'),
    prof: a.prof,
    baseline: a.baseline,
  };
  console.log(
    `event-fanout: ${o.subscribers} subscribers, ${o.rate} events/s (${o.burst} per burst${o.spread ? ', each from its own timer callback' : ''}), ${o.seconds} s windows, ${o.rounds} rounds (ABBA), ${o.procs} client processes`,
  );
  console.log(`load average ${loadAverage()}, cpu pressure some avg10 ${cpuPressure()} %, ${os.availableParallelism()} cores`);
  const engines = [{ name: 'engine', script: path.join(here, 'peers/fanout-engine.js') }];
  if (o.baseline) engines.push({ name: 'baseline', script: path.resolve(o.baseline) });
  const started: StartedEngine[] = [];
  const results = new Map<string, FanoutWindow[]>();
  try {
    for (const e of engines) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-fanout-bench-'));
      const child = Child.start(e.script, [dir], o.prof ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(o.prof)}`] : []);
      started.push({ name: e.name, child, dir, base: '', key: '' });
      const ready = await child.next<EngineReady>();
      const key = seedTenant(ready.dbPath);
      child.proc.send({ type: 'tenant', tenantId: key.tenantId });
      Object.assign(started.at(-1)!, { base: `127.0.0.1:${ready.port}`, key: key.key });
    }
    for (const transport of o.transports) await runTransport(transport, started, o, results);
  } finally {
    for (const e of started) {
      await e.child.stop();
      const log = path.join(e.dir, 'engine.log');
      const errors = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter((l) => /"level":(50|60)/.test(l)) : [];
      if (errors.length) console.log(`${e.name} error log lines: ${errors.length}; first: ${errors[0]}`);
      fs.rmSync(e.dir, { recursive: true, force: true });
    }
  }
  report(results, o);
}

/** An engine of the run (this build's, or `baseline=`'s), its tenant's key and where it listens. */
interface StartedEngine {
  name: string;
  child: Child;
  dir: string;
  base: string;
  key: string;
}

/**
 * One transport's targets (the engines, the node:http peer, for WebSocket the floors), their
 * subscribers, a warm-up window each, then `rounds` rounds in ABBA order.
 */
async function runTransport(transport: 'ws' | 'sse', engines: StartedEngine[], o: Options, results: Map<string, FanoutWindow[]>): Promise<void> {
  const contenders: Contender[] = engines.map((e) => ({
    name: `${e.name} ${transport}`,
    transport,
    server: e.child,
    spec:
      transport === 'ws'
        ? { kind: 'ws', url: `ws://${e.base}/api/v1/ws`, headers: { 'x-api-key': e.key }, subscribe: true }
        : { kind: 'sse', url: `http://${e.base}/api/v1/events`, headers: { 'x-api-key': e.key }, subscribe: false },
    clients: [],
  }));
  const servers = [{ name: peerName(transport), child: Child.start('peers/node-fanout.js', [transport]) }];
  if (transport === 'ws') for (const f of o.floors) servers.push({ name: FLOOR_NAMES[f], child: Child.start('peers/raw-fanout.js', [f]) });
  try {
    for (const { name, child } of servers) {
      const { port } = await child.next<PeerReady>();
      contenders.push({
        name,
        transport,
        server: child,
        spec:
          transport === 'ws'
            ? { kind: 'ws', url: `ws://127.0.0.1:${port}/ws`, headers: {}, subscribe: false }
            : { kind: 'sse', url: `http://127.0.0.1:${port}/events`, headers: {}, subscribe: false },
        clients: [],
      });
    }
    for (const c of contenders) await connect(c, o);
    // One short window each first: JIT and buffers warm before anything counts.
    for (const c of contenders) await measure(c, { ...o, seconds: 1 });
    for (let r = 0; r < o.rounds; r++) {
      const order = r % 2 === 0 ? contenders : [...contenders].reverse();
      for (const c of order) {
        const w = await measure(c, o);
        (results.get(c.name) ?? results.set(c.name, []).get(c.name)!).push(w);
        printWindow(r + 1, w);
      }
    }
  } finally {
    for (const c of contenders) await Promise.all(c.clients.map((k) => k.stop()));
    for (const { child } of servers) await child.stop();
  }
}

/** A tenant and an events:read key (rate limit raised: 1,000 subscriptions are 1,000 requests), by the admin CLI. */
function seedTenant(dbPath: string): { tenantId: string; key: string } {
  const admin = path.join(here, '../api/cli/admin.js');
  const env = { ...process.env, AS_DATABASE_PATH: dbPath };
  const cli = (argv: string[]) => JSON.parse(execFileSync(process.execPath, [admin, ...argv, '--json'], { env, encoding: 'utf8' })) as Record<string, string>;
  const tenant = cli(['create-tenant', '--name', 'Fanout', '--owner-email', 'fanout@example.test']);
  const key = cli(['create-api-key', '--tenant', tenant.tenantId!, '--name', 'fanout bench', '--scopes', 'events:read', '--rate-limit', '1000000']);
  return { tenantId: tenant.tenantId!, key: key.key! };
}

/** Opens the contender's subscribers over `procs` client processes. */
async function connect(c: Contender, o: Options): Promise<void> {
  const t0 = Date.now();
  for (let i = 0; i < o.procs; i++) {
    const count = Math.floor(o.subscribers / o.procs) + (i < o.subscribers % o.procs ? 1 : 0);
    const spec: ClientSpec = { ...c.spec, count };
    c.clients.push(Child.start('peers/fanout-clients.js', [JSON.stringify(spec)]));
  }
  const ready = await Promise.all(c.clients.map((k) => k.next<Extract<ClientReply, { type: 'ready' }>>()));
  const open = ready.reduce((s, r) => s + r.open, 0);
  const failed = ready.reduce((s, r) => s + r.failed, 0);
  console.log(`${c.name}: ${open} subscribers open in ${Date.now() - t0} ms${failed ? `, ${failed} failed (${ready.find((r) => r.firstError)?.firstError})` : ''}`);
  if (open !== o.subscribers) throw new Error(`${c.name}: only ${open} of ${o.subscribers} subscribers opened`);
}

const askAll = <T>(c: Contender, m: ClientOrder) => Promise.all(c.clients.map((k) => k.ask<T>(m)));

/** `<dir>/<server>-<n>.data`, n counting the server's windows (the warm-up is 1). */
function perfFile(dir: string, server: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const base = server.replace(/[^a-zA-Z0-9]+/g, '-').replace(/^-|-$/g, '');
  let n = 1;
  while (fs.existsSync(path.join(dir, `${base}-${n}.data`))) n++;
  return path.join(dir, `${base}-${n}.data`);
}

async function measure(c: Contender, o: Options): Promise<FanoutWindow> {
  const count = Math.round(o.rate * o.seconds);
  const expected = count * o.subscribers;
  const load = loadAverage().split(' ')[0]!;
  const pressure = cpuPressure();
  await askAll(c, { type: 'reset' });
  const counter = o.syscalls ? await countSyscalls(c.server.pid, WRITE_CALLS) : null;
  const recorder = o.perf ? await recordPerf(c.server.pid, perfFile(o.perf, c.name)) : null;
  const clientCpu0 = c.clients.reduce((s, k) => s + cpuSeconds(k.pid), 0);
  const cpu0 = cpuSplit(c.server.pid);
  const t0 = performance.now();
  const published = await c.server.ask<Published>({ type: 'publish', rate: o.rate, count, burst: o.burst, spread: o.spread } satisfies PublishOrder);
  const until = performance.now() + DRAIN_MS;
  for (;;) {
    const counts = await askAll<{ received: number }>(c, { type: 'count' });
    if (counts.reduce((s, x) => s + x.received, 0) >= expected || performance.now() > until) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const cpu1 = cpuSplit(c.server.pid);
  const writes = counter ? Object.values(await counter.stop()).reduce((s, n) => s + n, 0) : undefined;
  await recorder?.stop();
  const system = cpu1.system - cpu0.system;
  const user = cpu1.user - cpu0.user;
  const cpu = user + system;
  const wallS = (performance.now() - t0) / 1000;
  const clientsCpu = c.clients.reduce((s, k) => s + cpuSeconds(k.pid), 0) - clientCpu0;
  const reports = await askAll<Extract<ClientReply, { type: 'report' }>>(c, { type: 'report' });
  const deliveries = reports.reduce((s, r) => s + r.received, 0);
  const [p50, p99, max] = histogramQuantiles(
    reports.map((r) => r.histogram),
    [0.5, 0.99, 1],
  );
  return {
    server: c.name,
    transport: c.transport,
    published: published.count,
    late: published.late,
    deliveries,
    expected,
    cpu,
    user,
    system,
    writes,
    systemPct: cpu > 0 ? (100 * system) / cpu : NaN,
    perCpuS: cpu > 0 ? deliveries / cpu : NaN,
    p50: p50!,
    p99: p99!,
    max: max!,
    closed: reports.reduce((s, r) => s + r.closed, 0),
    clientsCpuPct: (100 * clientsCpu) / wallS,
    load,
    pressure,
  };
}
