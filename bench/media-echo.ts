/**
 * Concurrent echo calls: N SIP legs echoing through mediasoup (2 workers), against a peer that
 * echoes the same streams in Node itself (one dgram socket per call, every packet through the
 * event loop). The same load generator (a separate process, 50 packets/s per call) drives both.
 * Reported, after a warm-up in which every call latches: packets echoed, round trip, and CPU of
 * the engine's Node process and its workers.
 * `npm run bench -- media-echo [calls=200] [seconds=10]`
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../config/logger.js';
import { MediaService } from '../media/media-service.js';
import { WorkerPool } from '../media/worker-pool.js';
import { fmt, table } from './lib/stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));

interface Load {
  sent: number;
  received: number;
  rttP50: number;
  rttP99: number;
}

/** Seconds of load before measuring: every call has latched by then. */
const warmup = 3;

interface Measured {
  result: Load;
  /** CPU seconds of this process and of the workers, over `wall` seconds of measured load. */
  node: number;
  workers: number;
  wall: number;
}

/** Drives `ports` with the load generator and measures CPU over the part after the warm-up. */
function drive(ports: number[], seconds: number, workerCpu: () => Promise<number>): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, 'peers/rtp-callers.js'), JSON.stringify({ ports, seconds, warmup })], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    let start: { cpu: NodeJS.CpuUsage; workers: Promise<number>; at: number } | null = null;
    let end: { cpu: NodeJS.CpuUsage; workers: Promise<number>; at: number } | null = null;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!start && out.startsWith('measuring\n')) start = { cpu: process.cpuUsage(), workers: workerCpu(), at: performance.now() };
      if (start && !end && out.trimEnd().endsWith('}')) end = { cpu: process.cpuUsage(start.cpu), workers: workerCpu(), at: performance.now() };
    });
    child.on('exit', (code) => {
      if (code !== 0 || !start || !end) return reject(new Error(`load generator exited ${code}`));
      const s = start;
      const e = end;
      void Promise.all([s.workers, e.workers]).then(([w0, w1]) =>
        resolve({
          result: JSON.parse(out.split('\n')[1]!) as Load,
          node: (e.cpu.user + e.cpu.system) / 1e6,
          workers: w1 - w0,
          wall: (e.at - s.at) / 1000,
        }),
      );
    });
  });
}

export async function run(args: string[]): Promise<void> {
  const calls = Number(args[0] ?? 200);
  const seconds = Number(args[1] ?? 10);
  const config = loadConfig(process.env, {
    rtp: { listenIp: '127.0.0.1' },
    media: { workers: 2 },
    log: { level: 'warn', pretty: false },
  });
  const log = createLogger(config.log);
  const pool = await WorkerPool.create(config, log);
  const media = new MediaService(pool, config.rtp, log);
  const workerCpu = async () => {
    let s = 0;
    for (const w of pool.workers()) {
      const u = await w.getResourceUsage();
      s += (u.ru_utime + u.ru_stime) / 1000;
    }
    return s;
  };
  const offer = (port: number) =>
    ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');

  const legs = await Promise.all(Array.from({ length: calls }, () => media.createSipLeg(offer(9))));
  const ends = new Map<string, number>();
  for (const l of legs) l.on('statechange', (s, reason) => s !== 'active' && ends.set(`${s}:${reason}`, (ends.get(`${s}:${reason}`) ?? 0) + 1));
  await Promise.all(legs.map((l) => l.echo()));
  const ms = await drive(legs.map((l) => l.port), seconds, workerCpu);
  const active = legs.filter((l) => l.state === 'active').length;
  if (ends.size) console.log('legs that left active:', Object.fromEntries(ends));
  for (const l of legs) l.close('bye');
  media.close();
  pool.close();

  const sockets = await Promise.all(
    Array.from(
      { length: calls },
      () =>
        new Promise<dgram.Socket>((resolve) => {
          const s = dgram.createSocket('udp4');
          s.on('message', (m, r) => s.send(m, r.port, r.address));
          s.bind(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const node = await drive(sockets.map((s) => s.address().port), seconds, async () => 0);
  for (const s of sockets) s.close();

  const row = (name: string, m: Measured, extra: string) => ({
    echo: name,
    calls,
    echoed: `${m.result.received}/${m.result.sent}`,
    'loss %': fmt((100 * (m.result.sent - m.result.received)) / m.result.sent, 2),
    'rtt p50 ms': fmt(m.result.rttP50),
    'rtt p99 ms': fmt(m.result.rttP99),
    'node cpu %': fmt((100 * m.node) / m.wall, 1),
    'workers cpu %': extra === '' ? fmt((100 * m.workers) / m.wall, 1) : extra,
  });
  table([row('mediasoup (engine)', ms, ''), row('Node dgram (peer)', node, '-')]);
  const engineCpu = ms.node + ms.workers;
  console.log(`\nlegs active: ${active}/${calls}; engine CPU (node + workers) / peer CPU: ${fmt(engineCpu / node.node)}`);
}
