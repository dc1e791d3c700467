/**
 * Agent audio through the whole engine: added latency per direction, barge-in stop time, and the
 * pacing of the agent's voice under call-setup load (issue 9).
 *
 * The engine runs in this process (`startApp`, production settings, warn logs to a file) so that
 * `AudioHook` can time the agent's audio seam through mediasoup's observer API; the phones run in
 * another process (`peers/agent-phones.ts`: raw SIP + RTP, one socket per call), and times are
 * CLOCK_MONOTONIC on both sides. The floor is a raw Node UDP echo on this process's event loop,
 * driven by the phones' process beside the calls: a packet's way in and out of a Node process
 * that carries the same load, with no engine between.
 *
 * `npm run bench -- agent-audio [calls=1,50,150] [seconds=10] [rounds=1] [barge=20]
 *   [load=100] [loadCalls=5] [loadSeconds=20] [only=latency|load] [channel=in-process|tcp]`
 * (`channel`: how call control reaches the SIP server, `sip.drachtioChannel`).
 */
import { fork } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startApp, type App } from '../api/app.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../config/logger.js';
import { keyValues } from './lib/args.js';
import { monoMs } from './lib/audio-tag.js';
import { AudioHook } from './lib/audio-hook.js';
import { analyse, type Figures } from './lib/agent-audio-figures.js';
import { PacerProbe, type ProbeResult } from './lib/pacer-probe.js';
import { cpuPressure, loadAverage } from './lib/procfs.js';
import { quantile, runSippStep, type SippResult } from './lib/sipp.js';
import { fmt, median, table } from './lib/stats.js';
import type { Input, Output } from './peers/agent-phones.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const owner = { email: 'bench@example.test', password: 'bench password 123' };
const pcap = '/usr/share/sip-tester/g711a.pcap';

/** About two minutes of speech: longer than any measured window, so the agent never falls silent in one. */
const greeting = Array.from(
  { length: 12 },
  (_, i) => `This is part ${i + 1} of a long announcement that keeps the agent talking while the benchmark listens to every packet of its voice on the wire.`,
).join(' ');

interface Engine {
  app: App;
  sipTarget: string;
  floorPort: number;
  close(): Promise<void>;
}

async function startEngine(dir: string, channel: 'in-process' | 'tcp'): Promise<Engine> {
  const config = loadConfig(
    { MEDIASOUP_WORKER_BIN: process.env.MEDIASOUP_WORKER_BIN, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME },
    {
      env: 'production',
      http: { host: '127.0.0.1', port: 0 },
      sip: { host: '127.0.0.1', port: 0, drachtioPort: 0, drachtioChannel: channel, transports: ['udp'], abuseRequestRate: 100_000, abuseRequestBurst: 100_000 },
      // Above Linux's ephemeral range (32768-60999) and the test suite's blocks: no clash with other sessions.
      rtp: { listenIp: '127.0.0.1', announcedIp: '127.0.0.1', minPort: 61000, maxPort: 64999 },
      database: { path: path.join(dir, 'bench.db') },
      auth: { jwtSecret: 'bench-secret-bench-secret-bench-secret-12' },
      media: { workers: os.availableParallelism() },
      log: { level: 'warn', pretty: false },
      bootstrap: { tenantName: 'Bench', ownerEmail: owner.email, ownerPassword: owner.password },
    },
  );
  const logFile = fs.createWriteStream(path.join(dir, 'engine.log'));
  const app = await startApp(config, createLogger(config.log, logFile));
  const sipPort = app.engine.sip?.stack.listening()[0]?.port;
  if (!sipPort) throw new Error('the engine has no SIP port');
  const floor = dgram.createSocket('udp4');
  floor.on('message', (msg, from) => {
    const at = monoMs();
    if (msg.length < 184) return;
    msg.writeDoubleBE(at, 168);
    msg.writeDoubleBE(monoMs(), 176);
    floor.send(msg, from.port, from.address);
  });
  await new Promise<void>((r) => floor.bind(0, '127.0.0.1', () => r()));
  await seed(`http://127.0.0.1:${app.http.port}/api/v1`);
  return {
    app,
    sipTarget: `127.0.0.1:${sipPort}`,
    floorPort: floor.address().port,
    close: async () => {
      floor.close();
      await app.close();
      logFile.end();
    },
  };
}

async function api<T>(url: string, method: string, headers: Record<string, string>, body: unknown): Promise<T> {
  const res = await fetch(url, { method, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/**
 * As an admin would: the number `agent` answered by an agent that greets at length (the offline
 * voice, barge-in on), and `service` by an echo agent for the SIPp load.
 */
async function seed(base: string): Promise<void> {
  const { accessToken } = await api<{ accessToken: string }>(`${base}/auth/login`, 'POST', {}, owner);
  const h = { authorization: `Bearer ${accessToken}` };
  const talker = await api<{ id: string }>(`${base}/agents`, 'POST', h, { name: 'Talker', config: { prompt: { system: 'Talk.' }, firstMessage: greeting } });
  const echo = await api<{ id: string }>(`${base}/agents`, 'POST', h, { name: 'Echo', config: { prompt: { system: 'Echo the caller.' } } });
  const trunk = await api<{ id: string }>(`${base}/sip-trunks`, 'POST', h, { name: 'Loopback carrier', inbound: { allowlist: ['127.0.0.1'] } });
  await api(`${base}/phone-numbers`, 'POST', h, { number: 'agent', agentId: talker.id, trunkId: trunk.id });
  await api(`${base}/phone-numbers`, 'POST', h, { number: 'service', agentId: echo.id, trunkId: trunk.id });
}

/** Runs the phones for one step; `onUp` runs once every call is answered, beside the window. */
function phones(input: Omit<Input, 'out'>, dir: string, onUp?: () => Promise<unknown>): Promise<{ output: Output; failed: number; beside: unknown }> {
  const out = path.join(dir, `phones-${Date.now()}.json`);
  return new Promise((resolve, reject) => {
    const child = fork(path.join(here, 'peers/agent-phones.js'), [JSON.stringify({ ...input, out })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let failed = 0;
    let beside: Promise<unknown> = Promise.resolve(undefined);
    child.on('message', (m: { type: string; failed?: number }) => {
      if (m.type === 'up') {
        failed = m.failed ?? 0;
        if (onUp) beside = onUp();
      }
    });
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`phones exited ${code}`));
      void beside.then((b) => resolve({ output: JSON.parse(fs.readFileSync(out, 'utf8')) as Output, failed, beside: b }), reject);
    });
  });
}

const conditions = () => `load average ${loadAverage()}, cpu pressure some avg10 ${cpuPressure()} %`;
const q = (xs: number[], p: number) => (xs.length ? fmt(quantile(xs, p)) : '-');

async function latencySteps(e: Engine, hook: AudioHook, dir: string, a: Record<string, string | undefined>): Promise<void> {
  const steps = (a.calls ?? '1,50,150').split(',').map(Number);
  const seconds = Number(a.seconds ?? 10);
  const rounds = Number(a.rounds ?? 1);
  const bargeMin = Number(a.barge ?? 20);
  const rows: Record<string, string | number>[] = [];
  const byStep = new Map<number, Figures[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const n of steps) {
      // At N calls each call barges in once; below `barge` calls, more short runs make up the count.
      const runs = n >= bargeMin ? 1 : Math.ceil(bargeMin / n);
      const parts: Figures[] = [];
      const before = conditions();
      for (let r = 0; r < runs; r++) {
        hook.start();
        const { output, failed } = await phones(
          { target: e.sipTarget, user: 'agent', calls: n, setupCps: 25, seconds: r === 0 ? seconds : 2, bargeIn: true, bargeSpreadMs: Math.min(3000, n * 40), floorPort: e.floorPort },
          dir,
        );
        hook.stop();
        const f = analyse(output, hook);
        f.failed = failed;
        // Latency and gaps from the first (long) run only; barge-ins from all.
        if (r > 0) f.inbound = f.outbound = f.floorIn = f.floorOut = f.gaps = [];
        parts.push(f);
      }
      const f = merge(parts);
      byStep.set(n, [...(byStep.get(n) ?? []), f]);
      rows.push(row(round, n, f, before));
    }
  }
  console.log(`\nper-direction latency (ms, p50/p99 over the ${seconds} s window) and barge-in stop time (ms)`);
  table(rows);
  if (rounds > 1) {
    console.log('\nmedians over rounds');
    table(steps.map((n) => medianRow(n, byStep.get(n)!)));
  }
}

function merge(parts: Figures[]): Figures {
  const out = parts[0]!;
  for (const p of parts.slice(1)) {
    out.barge.push(...p.barge);
    out.failed += p.failed;
    out.up += p.up;
  }
  return out;
}

function row(round: number, n: number, f: Figures, before: string): Record<string, string | number> {
  const stopSilent = f.barge.filter((b) => b.valid).map((b) => b.silentMs);
  const stopLoud = f.barge.filter((b) => b.valid).map((b) => b.loudMs);
  const ratio = (xs: number[], floor: number[], p: number) => (xs.length && floor.length ? fmt(quantile(xs, p) / quantile(floor, p), 1) : '-');
  return {
    round,
    calls: n,
    up: `${f.up}/${f.up + f.failed}`,
    'in p50': q(f.inbound, 0.5),
    'in p99': q(f.inbound, 0.99),
    'out p50': q(f.outbound, 0.5),
    'out p99': q(f.outbound, 0.99),
    'floor in p50/p99': `${q(f.floorIn, 0.5)}/${q(f.floorIn, 0.99)}`,
    'floor out p50/p99': `${q(f.floorOut, 0.5)}/${q(f.floorOut, 0.99)}`,
    'in/floor p50': ratio(f.inbound, f.floorIn, 0.5),
    'out/floor p50': ratio(f.outbound, f.floorOut, 0.5),
    'in lost': f.inboundLost,
    'out unmatched': f.outboundUnmatched,
    'gap p99': q(f.gaps, 0.99),
    barge: `${stopSilent.length}/${f.barge.length}`,
    'stop p50/p95 (silent)': `${q(stopSilent, 0.5)}/${q(stopSilent, 0.95)}`,
    'stop p50/p95 (last loud)': `${q(stopLoud, 0.5)}/${q(stopLoud, 0.95)}`,
    conditions: before,
  };
}

function medianRow(n: number, fs: Figures[]): Record<string, string | number> {
  const m = (pick: (f: Figures) => number[], p: number) => fmt(median(fs.map((f) => quantile(pick(f), p)).filter(Number.isFinite)));
  const silent = (f: Figures) => f.barge.filter((b) => b.valid).map((b) => b.silentMs);
  return {
    calls: n,
    rounds: fs.length,
    'in p50': m((f) => f.inbound, 0.5),
    'in p99': m((f) => f.inbound, 0.99),
    'out p50': m((f) => f.outbound, 0.5),
    'out p99': m((f) => f.outbound, 0.99),
    'floor in p50': m((f) => f.floorIn, 0.5),
    'floor out p50': m((f) => f.floorOut, 0.5),
    'stop p50': m(silent, 0.5),
    'stop p95': m(silent, 0.95),
  };
}

/** Agent calls speaking while SIPp sets up `rate` calls/s against the same engine; then the same without. */
async function loadStep(e: Engine, hook: AudioHook, dir: string, a: Record<string, string | undefined>): Promise<void> {
  const rate = Number(a.load ?? 100);
  const n = Number(a.loadCalls ?? 5);
  const seconds = Number(a.loadSeconds ?? 20);
  const rows: Record<string, string | number>[] = [];
  const probes: [boolean, ProbeResult][] = [];
  const rounds = Number(a.rounds ?? 1);
  const summary: { withLoad: boolean; calls: number; loop: number; main: number; thread: number }[] = [];
  // ABBA order over rounds, so a drift in the machine's load hits both conditions alike.
  const order = Array.from({ length: rounds }, (_, r) => (r % 2 ? [false, true] : [true, false])).flat();
  for (const withLoad of order) {
    const before = conditions();
    const eld = monitorEventLoopDelay({ resolution: 1 });
    const probe = await PacerProbe.open(e.app.engine.media.pick());
    hook.start();
    const { output, failed, beside } = await phones(
      { target: e.sipTarget, user: 'agent', calls: n, setupCps: 25, seconds, bargeIn: false, bargeSpreadMs: 0, floorPort: e.floorPort },
      dir,
      async () => {
        eld.enable();
        probe.start(seconds);
        if (!withLoad) return null;
        // SIPp starts a second into the window and stops before its end (hold 1 s).
        return runSippStep({ target: e.sipTarget, scenario: 'uac-cps.xml', rate, calls: rate * (seconds - 1), holdMs: 1000, dir: path.join(dir, 'sipp'), keys: { pcap } });
      },
    );
    eld.disable();
    hook.stop();
    probes.push([withLoad, await probe.stop()]);
    const f = analyse(output, hook);
    summary.push({ withLoad, calls: quantile(f.gaps, 0.99), loop: eld.percentile(99) / 1e6, main: quantile(probes.at(-1)![1].main, 0.99), thread: quantile(probes.at(-1)![1].thread, 0.99) });
    const sipp = beside as SippResult | null;
    const ms = (ns: number) => fmt(ns / 1e6);
    rows.push({
      load: withLoad ? `${rate} calls/s` : 'none',
      'agent calls': `${n - failed}/${n}`,
      sipp: sipp ? `${sipp.successful}/${sipp.created} ok, ${fmt(sipp.answeredCps, 0)}/s` : '-',
      gaps: f.gaps.length,
      'gap p50': q(f.gaps, 0.5),
      'gap p99': q(f.gaps, 0.99),
      'gap max': f.gaps.length ? fmt(Math.max(...f.gaps)) : '-',
      'gaps > 25 ms': f.gaps.filter((g) => g > 25).length,
      'gaps < 15 ms': f.gaps.filter((g) => g < 15).length,
      'sent gap p99': q(f.sentGaps, 0.99),
      'out p99': q(f.outbound, 0.99),
      'loop delay p50': ms(eld.percentile(50)),
      'loop delay p99': ms(eld.percentile(99)),
      'loop delay max': ms(eld.max),
      conditions: before,
    });
  }
  console.log(`\nagent audio inter-packet gap (ms, as received) with ${n} agent calls speaking, under SIPp load and without; the engine's event-loop delay`);
  table(rows);
  console.log('\npacing probe, same runs: a FramePacer on the main thread (DirectTransport, as LegAudio) and one in a worker thread (UDP into a PlainTransport); gaps as received in a worker thread (ms)');
  table(
    probes.flatMap(([withLoad, p]) =>
      (['main', 'thread'] as const).map((k) => ({
        load: withLoad ? `${rate} calls/s` : 'none',
        pacer: k === 'main' ? 'main thread' : 'worker thread',
        gaps: p[k].length,
        'gap p50': q(p[k], 0.5),
        'gap p99': q(p[k], 0.99),
        'gap max': p[k].length ? fmt(Math.max(...p[k])) : '-',
        'gaps > 25 ms': p[k].filter((g) => g > 25).length,
        'gaps < 15 ms': p[k].filter((g) => g < 15).length,
      })),
    ),
  );
  if (rounds > 1) {
    console.log('\nmedians over rounds (ms)');
    table(
      [true, false].map((withLoad) => {
        const of = (k: 'calls' | 'loop' | 'main' | 'thread') => fmt(median(summary.filter((x) => x.withLoad === withLoad).map((x) => x[k])));
        return { load: withLoad ? `${rate} calls/s` : 'none', rounds, 'agent gap p99': of('calls'), 'loop delay p99': of('loop'), 'probe main-thread gap p99': of('main'), 'probe worker-thread gap p99': of('thread') };
      }),
    );
  }
}

export async function run(args: string[]): Promise<void> {
  const a = keyValues(args);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-agent-audio-'));
  const hook = new AudioHook();
  const channel = a.channel ?? 'in-process';
  if (channel !== 'in-process' && channel !== 'tcp') throw new Error(`channel must be in-process or tcp, not ${channel}`);
  const e = await startEngine(dir, channel);
  try {
    console.log(`agent-audio: engine in this process (${os.availableParallelism()} media workers), phones in another; control channel ${channel}; ${conditions()}`);
    // Warm-up: the greeting's synthesis is cached after its first call.
    await phones({ target: e.sipTarget, user: 'agent', calls: 1, setupCps: 1, seconds: 4, bargeIn: false, bargeSpreadMs: 0, floorPort: e.floorPort }, dir);
    if (a.only !== 'load') await latencySteps(e, hook, dir, a);
    if (a.only !== 'latency') await loadStep(e, hook, dir, a);
    console.log(`\nend: ${conditions()}; engine log ${path.join(dir, 'engine.log')}`);
  } finally {
    await e.close();
  }
}
