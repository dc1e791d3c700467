/**
 * `GET /api/v1/health`: the engine (real database round trip, real media workers) against a
 * minimal Fastify 5 server returning the same JSON. Both are driven by wrk with the same
 * settings, alternating rounds; medians are reported with the engine/Fastify ratio.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, fmt, table } from './lib/stats.js';
import { freePort, startServer } from './lib/proc.js';
import { wrk, type WrkResult } from './lib/wrk.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export async function run(args: string[]): Promise<void> {
  const rounds = Number(args[0] ?? 3);
  const seconds = Number(args[1] ?? 5);
  const connections = 64;
  const enginePort = await freePort();
  const dir = await import('node:fs').then((fs) => fs.mkdtempSync(path.join(os.tmpdir(), 'as-bench-')));
  const engine = await startServer(
    process.execPath,
    [path.join(here, '../api/main.js')],
    {
      AS_HTTP_HOST: '127.0.0.1',
      AS_HTTP_PORT: String(enginePort),
      AS_DATABASE_PATH: path.join(dir, 'bench.db'),
      AS_LOG_LEVEL: 'warn',
      AS_LOG_PRETTY: 'false',
      AS_ENV: 'production',
      AS_MEDIA_WORKERS: '1',
      AS_SIP_HOST: '127.0.0.1',
      AS_SIP_PORT: String(await freePort()),
      AS_SIP_DRACHTIO_PORT: String(await freePort()),
      AS_RTP_LISTEN_IP: '127.0.0.1',
    },
    `http://127.0.0.1:${enginePort}/api/v1/health`,
  );
  const body = await (await fetch(`http://127.0.0.1:${enginePort}/api/v1/health`)).text();
  const fastifyPort = await freePort();
  const fastify = await startServer(
    process.execPath,
    [path.join(here, 'peers/fastify-health.js'), String(fastifyPort), body],
    {},
    `http://127.0.0.1:${fastifyPort}/api/v1/health`,
  );
  const results: { engine: WrkResult[]; fastify: WrkResult[] } = { engine: [], fastify: [] };
  try {
    const opts = { seconds, connections };
    // Warm both up (JIT, SQLite page cache), then alternate so drift hits both alike.
    await wrk({ ...opts, seconds: 2, url: `http://127.0.0.1:${enginePort}/api/v1/health` });
    await wrk({ ...opts, seconds: 2, url: `http://127.0.0.1:${fastifyPort}/api/v1/health` });
    for (let i = 0; i < rounds; i++) {
      results.engine.push(await wrk({ ...opts, url: `http://127.0.0.1:${enginePort}/api/v1/health` }));
      results.fastify.push(await wrk({ ...opts, url: `http://127.0.0.1:${fastifyPort}/api/v1/health` }));
    }
  } finally {
    await Promise.all([engine.stop(), fastify.stop()]);
  }
  console.log(`GET /api/v1/health — wrk -c${connections} -t1, ${rounds} rounds × ${seconds}s, ${os.availableParallelism()} cores`);
  table(
    (['engine', 'fastify'] as const).flatMap((who) =>
      results[who].map((r, i) => ({ server: who, round: i + 1, 'req/s': fmt(r.rps, 0), 'p50 ms': fmt(r.p50Ms), 'p99 ms': fmt(r.p99Ms), errors: r.errors })),
    ),
  );
  const e = median(results.engine.map((r) => r.rps));
  const f = median(results.fastify.map((r) => r.rps));
  const ep99 = median(results.engine.map((r) => r.p99Ms));
  const fp99 = median(results.fastify.map((r) => r.p99Ms));
  console.log(`median req/s: engine ${fmt(e, 0)}, fastify ${fmt(f, 0)}; ratio engine/fastify = ${fmt(e / f)}×`);
  console.log(`median p99:   engine ${fmt(ep99)} ms, fastify ${fmt(fp99)} ms`);
}
