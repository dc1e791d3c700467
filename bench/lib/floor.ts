/**
 * The engine's signalling floor as a process for SIP benchmarks (`peers/sip-floor.ts`): the
 * embedded SIP server and a minimal drachtio-srf app answering with a fixed SDP, started with the
 * engine's own settings (production, log level `info` as JSON to a file, SIP over UDP on
 * 127.0.0.1, the same lifted per-source limit) and the Node flags of its start command, so that
 * only the call's work beyond signalling differs from the engine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchSipLimits, startCommandNodeFlags } from './engine.js';
import { freePort } from './proc.js';
import { answersOptions } from './sip-options.js';

const floorJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../peers/sip-floor.js');

export interface FloorProcess {
  child: ChildProcess;
  /** The `stack` floor's database (the engine's schema), for its call records. */
  dbPath?: string;
  pid: number;
  sipPort: number;
  logPath: string;
  stop(): Promise<void>;
}

/**
 * Starts the floor with `sip.server = mode` (`embedded` or `thread`); resolves once it answers
 * OPTIONS. `stack` (the caller's RTP SSRC) starts the `stack` floor: media workers and the
 * database as the engine has them (`startEngine`'s settings), and a mediasoup echo and a call
 * record per call.
 */
export async function startFloor(o: { mode: string; nodeArgs?: string[]; env?: Record<string, string>; stack?: { ssrc: number } }): Promise<FloorProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-sip-floor-'));
  const sipPort = await freePort();
  const logPath = path.join(dir, 'floor.log');
  const dbPath = path.join(dir, 'floor.db');
  const stack: Record<string, string> = o.stack
    ? {
        BENCH_FLOOR_KIND: 'stack',
        BENCH_FLOOR_SSRC: String(o.stack.ssrc),
        AS_DATABASE_PATH: dbPath,
        AS_RTP_LISTEN_IP: '127.0.0.1',
        AS_MEDIA_WORKERS: String(os.availableParallelism()),
      }
    : {};
  const env: Record<string, string> = {
    AS_ENV: 'production',
    AS_LOG_LEVEL: 'info',
    AS_LOG_PRETTY: 'false',
    AS_SIP_SERVER: o.mode,
    AS_SIP_HOST: '127.0.0.1',
    AS_SIP_PORT: String(sipPort),
    AS_SIP_TRANSPORTS: 'udp',
    AS_SIP_DRACHTIO_PORT: String(await freePort()),
    ...benchSipLimits,
    ...stack,
    ...o.env,
  };
  const inherited: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('AS_')) inherited[k] = v;
  const log = fs.openSync(logPath, 'a');
  const child = spawn(process.execPath, [...startCommandNodeFlags(), ...(o.nodeArgs ?? []), floorJs], { env: { ...inherited, ...env }, stdio: ['ignore', log, 'pipe'], cwd: dir });
  fs.closeSync(log);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-10_000)));
  const end = Date.now() + 20_000;
  while (!(await answersOptions(sipPort))) {
    if (child.exitCode !== null) throw new Error(`sip floor (${o.mode}) exited ${child.exitCode}: ${err}`);
    if (Date.now() > end) throw new Error(`sip floor (${o.mode}) not answering on ${sipPort}: ${err}`);
  }
  return {
    child,
    pid: child.pid!,
    sipPort,
    logPath,
    ...(o.stack ? { dbPath } : {}),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
