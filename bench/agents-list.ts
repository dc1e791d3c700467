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
import { keyValues } from './lib/args.js';
import { contender, report, runRounds, type Contender } from './lib/http-rounds.js';
import { freePort, startServer, type Server } from './lib/proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const exec = promisify(execFile);

/** High enough that the key's limit never trips during a run; the limiter still counts every request. */
const RATE_LIMIT = 1_000_000_000;

function options(args: string[]) {
  const o = keyValues(args);
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
    contenders.push(contender(name, `${s.url}/api/v1/agents?limit=20`, s.server));
  };
  const load0 = os.loadavg();
  const rounds = { rounds: o.rounds, seconds: o.seconds, connections: o.connections };
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

    await runRounds(contenders, { ...rounds, headers: { 'X-API-Key': key } });
  } finally {
    await Promise.all(contenders.map((c) => c.server.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  }

  report(`GET /api/v1/agents?limit=20 (X-API-Key, ${o.agents} agents)`, contenders, 'fastify', rounds, load0);
}
