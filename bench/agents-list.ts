/**
 * `GET /api/v1/agents?limit=20` with an API key, 1,000 agents in SQLite: the engine (as a
 * process, production settings) against a Fastify 5 server (`peers/fastify-agents.ts`) reading
 * the same database file with the same auth check. One response of each must be byte-equal
 * before anything is measured. wrk drives both with the same settings, in alternating rounds
 * (ABBA order) after a warm-up; medians and the engine/Fastify ratio are printed, with the load
 * average after each round. Each round also reads the server's CPU time from /proc: CPU per
 * request moves less than req/s when other work shares the machine.
 *
 *   npm run bench -- agents-list [rounds=5] [seconds=10] [connections=64] [agents=1000]
 *                                [baseline=<another build's dist/api/main.js>] [prof=<dir>]
 *
 * `baseline=` runs another build of the engine in the same rotation, on the same file (before and
 * after figures of a fix under the same load). `prof=<dir>` writes a `--cpu-prof` profile of each
 * server at exit (`engine.cpuprofile`, `fastify.cpuprofile`, …).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cpuSeconds } from './lib/cpu-time.js';
import { fmt, median, table } from './lib/stats.js';
import { freePort, startServer, type Server } from './lib/proc.js';
import { wrk, type WrkResult } from './lib/wrk.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const exec = promisify(execFile);

/** High enough that the key's limit never trips during a run; the limiter still counts every request. */
const RATE_LIMIT = 1_000_000_000;

interface Contender {
  name: string;
  url: string;
  server: Server;
  results: WrkResult[];
  /** CPU µs of the server's process per request answered, per round. */
  cpuUs: number[];
  load: number[];
}

function options(args: string[]) {
  const o: Record<string, string> = {};
  for (const a of args) {
    const i = a.indexOf('=');
    if (i < 1) throw new Error(`expected key=value, got "${a}"`);
    o[a.slice(0, i)] = a.slice(i + 1);
  }
  return {
    rounds: Number(o.rounds ?? 5),
    seconds: Number(o.seconds ?? 10),
    connections: Number(o.connections ?? 64),
    agents: Number(o.agents ?? 1000),
    baseline: o.baseline,
    prof: o.prof,
  };
}

/** The engine as an operator runs it: production, warn logs, one media worker, loopback only. */
async function startEngine(mainJs: string, dbPath: string, nodeArgs: string[] = []): Promise<{ server: Server; url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = await startServer(
    process.execPath,
    [...nodeArgs, mainJs],
    {
      AS_ENV: 'production',
      AS_HTTP_HOST: '127.0.0.1',
      AS_HTTP_PORT: String(port),
      AS_DATABASE_PATH: dbPath,
      AS_LOG_LEVEL: 'warn',
      AS_LOG_PRETTY: 'false',
      AS_MEDIA_WORKERS: '1',
      AS_SIP_HOST: '127.0.0.1',
      AS_SIP_PORT: String(await freePort()),
      AS_SIP_DRACHTIO_PORT: String(await freePort()),
      AS_RTP_LISTEN_IP: '127.0.0.1',
    },
    `${url}/api/v1/health/ready`,
  );
  return { server, url };
}

/** A tenant and a live key through the admin command, on the engine's file. */
async function createKey(dbPath: string): Promise<string> {
  const admin = async (...args: string[]) => {
    const { stdout } = await exec(process.execPath, [path.join(here, '../api/cli/admin.js'), ...args, '--json'], {
      env: { ...process.env, AS_DATABASE_PATH: dbPath, AS_ENV: 'production' },
    });
    return JSON.parse(stdout) as Record<string, string>;
  };
  const { tenantId } = await admin('create-tenant', '--name', 'Bench', '--owner-email', 'bench@example.test');
  const { key } = await admin('create-api-key', '--tenant', tenantId!, '--name', 'bench', '--mode', 'live', '--rate-limit', String(RATE_LIMIT));
  return key!;
}

/** `n` agents through the REST API, a few requests at a time. */
async function createAgents(url: string, key: string, n: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const res = await fetch(`${url}/api/v1/agents`, {
        method: 'POST',
        headers: { 'x-api-key': key, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: `Agent ${String(i).padStart(4, '0')}`,
          description: i % 3 ? `Answers the support line, shift ${i % 7}` : null,
          status: i % 5 ? 'active' : 'inactive',
          config: {
            prompt: { system: `You are a polite assistant for Acme. Agent number ${i}. Keep answers short.` },
            firstMessage: 'Hello, Acme support, how can I help?',
            language: 'en-US',
            voice: { provider: 'elevenlabs', voiceId: 'rachel' },
            llm: { provider: 'openai', model: 'gpt-4o-mini', temperature: 0.4 },
            bargeIn: true,
            timeouts: { silenceMs: 8000 },
            variables: { company: 'Acme', tier: i % 2 ? 'gold' : 'silver', seat: i },
          },
        }),
      });
      if (res.status !== 201) throw new Error(`POST /api/v1/agents: ${res.status} ${await res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function body(url: string, key: string): Promise<string> {
  const res = await fetch(url, { headers: { 'x-api-key': key } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${text}`);
  return text;
}

export async function run(args: string[]): Promise<void> {
  const o = options(args);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-bench-agents-'));
  const dbPath = path.join(dir, 'bench.db');
  const contenders: Contender[] = [];
  const add = (name: string, s: { server: Server; url: string }) => {
    contenders.push({ name, url: `${s.url}/api/v1/agents?limit=20`, server: s.server, results: [], cpuUs: [], load: [] });
  };
  const load0 = os.loadavg();
  try {
    const prof = (name: string) => (o.prof ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(o.prof)}`, `--cpu-prof-name=${name}.cpuprofile`] : []);
    const engine = await startEngine(path.join(here, '../api/main.js'), dbPath, prof('engine'));
    add('engine', engine);
    const key = await createKey(dbPath);
    await createAgents(engine.url, key, o.agents);
    if (o.baseline) add('baseline', await startEngine(path.resolve(o.baseline), dbPath, prof('baseline')));
    const peerPort = await freePort();
    const peer = await startServer(
      process.execPath,
      [...prof('fastify'), path.join(here, 'peers/fastify-agents.js'), String(peerPort), dbPath],
      {},
      `http://127.0.0.1:${peerPort}/api/v1/health/live`,
    );
    add('fastify', { server: peer, url: `http://127.0.0.1:${peerPort}` });

    const bodies = await Promise.all(contenders.map((c) => body(c.url, key)));
    for (const [i, c] of contenders.entries()) {
      if (bodies[i] !== bodies[0]) {
        const at = [...bodies[0]!].findIndex((ch, j) => ch !== bodies[i]![j]);
        throw new Error(`${c.name} answers another body than ${contenders[0]!.name} (first difference at ${at}):\n` +
          `${bodies[0]!.slice(Math.max(0, at - 80), at + 80)}\n${bodies[i]!.slice(Math.max(0, at - 80), at + 80)}`);
      }
    }
    const total = (JSON.parse(bodies[0]!) as { total: number }).total;
    console.log(`same body from ${contenders.map((c) => c.name).join(', ')}: ${Buffer.byteLength(bodies[0]!)} bytes, 20 of ${total} agents`);

    const opts = { seconds: o.seconds, connections: o.connections, headers: { 'X-API-Key': key } };
    for (const c of contenders) await wrk({ ...opts, seconds: 3, url: c.url });
    for (let r = 0; r < o.rounds; r++) {
      // ABBA: each server goes first as often as last, so a drift in load hits both alike.
      const order = r % 2 ? [...contenders].reverse() : contenders;
      for (const c of order) {
        const cpu0 = cpuSeconds(c.server.child.pid!);
        const r = await wrk({ ...opts, url: c.url });
        c.cpuUs.push(((cpuSeconds(c.server.child.pid!) - cpu0) * 1e6) / r.requests);
        c.results.push(r);
        c.load.push(os.loadavg()[0]!);
      }
    }
  } finally {
    await Promise.all(contenders.map((c) => c.server.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const load1 = os.loadavg();
  console.log(
    `GET /api/v1/agents?limit=20 (X-API-Key, ${o.agents} agents) — wrk -c${o.connections} -t1, ` +
      `${o.rounds} rounds × ${o.seconds}s, ${os.availableParallelism()} cores`,
  );
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
  const peer = med(contenders.find((c) => c.name === 'fastify')!);
  for (const c of contenders) {
    const m = med(c);
    const ratio = c.name === 'fastify' ? '' : `; ${c.name}/fastify = ${fmt(m.rps / peer.rps)}× req/s, ${fmt(peer.cpu / m.cpu)}× less CPU per request`;
    console.log(`median ${c.name.padEnd(8)} ${fmt(m.rps, 0).padStart(6)} req/s, p99 ${fmt(m.p99).padStart(7)} ms, ${fmt(m.cpu, 0).padStart(4)} CPU µs/req${ratio}`);
  }
  const all = contenders.flatMap((c) => c.load);
  console.log(
    `load average: ${load0.map((l) => fmt(l)).join(' ')} before, ${load1.map((l) => fmt(l)).join(' ')} after; ` +
      `1-min median over rounds ${fmt(median(all))}`,
  );
}
