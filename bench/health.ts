/**
 * `GET /api/v1/health`: the engine (real database round trip, real media worker, SIP listening)
 * against a minimal Fastify 5 server returning the same JSON, both driven by wrk in alternating
 * rounds with CPU per request read from /proc (see lib/http-rounds.ts).
 *
 *   npm run bench -- health [rounds=5] [seconds=10] [connections=64]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { keyValues } from './lib/args.js';
import { contender, report, runRounds } from './lib/http-rounds.js';
import { freePort, startServer } from './lib/proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export async function run(args: string[]): Promise<void> {
  const a = keyValues(args);
  const o = { rounds: Number(a.rounds ?? 5), seconds: Number(a.seconds ?? 10), connections: Number(a.connections ?? 64) };
  const load0 = os.loadavg();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-bench-'));
  const enginePort = await freePort();
  const engineUrl = `http://127.0.0.1:${enginePort}/api/v1/health`;
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
    engineUrl,
  );
  const contenders = [contender('engine', engineUrl, engine)];
  try {
    const body = await (await fetch(engineUrl)).text();
    const fastifyPort = await freePort();
    const fastifyUrl = `http://127.0.0.1:${fastifyPort}/api/v1/health`;
    const fastify = await startServer(process.execPath, [path.join(here, 'peers/fastify-health.js'), String(fastifyPort), body], {}, fastifyUrl);
    contenders.push(contender('fastify', fastifyUrl, fastify));
    await runRounds(contenders, o);
  } finally {
    await Promise.all(contenders.map((c) => c.server.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  report('GET /api/v1/health', contenders, 'fastify', o, load0);
}
