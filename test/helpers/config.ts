/** Settings for tests: a fresh SQLite file in a temp folder, port 0, quiet logs, one worker. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config/load.js';
import { createLogger } from '../../config/logger.js';
import type { Config } from '../../config/schema.js';

export function tempDir(prefix = 'as-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A valid Config for tests. `overrides` is merged like a config file would be. */
export function testConfig(overrides: Record<string, unknown> = {}): Config {
  const dir = tempDir();
  return loadConfig(
    { MEDIASOUP_WORKER_BIN: process.env.MEDIASOUP_WORKER_BIN, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME },
    deepMerge(
      {
        env: 'test',
        http: { host: '127.0.0.1', port: 0 },
        sip: { host: '127.0.0.1', port: 0, drachtioPort: 0 },
        rtp: { listenIp: '127.0.0.1', announcedIp: '127.0.0.1', ...rtpBlock() },
        database: { path: path.join(dir, 'test.db') },
        auth: { jwtSecret: 'test-secret-test-secret-test-secret-1234' },
        media: { workers: 1 },
        // The tests' webhook receivers, agent servers and provider stand-ins listen on loopback.
        outbound: { allowPrivateNetworks: true },
        log: { level: process.env.AS_TEST_LOG_LEVEL ?? 'silent', pretty: false },
      },
      overrides,
    ),
  );
}

export const testLogger = (config: Config) => createLogger(config.log, process.stderr);

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const p = out[k];
    out[k] =
      p && v && typeof p === 'object' && typeof v === 'object' && !Array.isArray(v)
        ? deepMerge(p as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** Blocks handed out by this process so far. */
let blocksTaken = 0;

/**
 * 40 blocks of 1000 ports from 20000, in two lanes of 20: one lane per test process at a time
 * (ava runs two files at once: `concurrency` in package.json).
 */
const LANES = 2;
const BLOCKS_PER_LANE = 20;
const laneDir = path.join(os.tmpdir(), 'agent-studio-test-rtp-lanes');
let lane: number | undefined;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Takes `n` for this process when it is free or its holder has died (the file names the holder). */
function claimLane(n: number): boolean {
  const file = path.join(laneDir, `lane-${n}`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      process.once('exit', () => fs.rmSync(file, { force: true }));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(fs.readFileSync(file, 'utf8'));
    // An empty file is one being written by its new holder (`wx` creates it before the pid is in
    // it): held, not stale.
    if (!holder || alive(holder)) return false;
    fs.rmSync(file, { force: true }); // left by a process that died
  }
  return false;
}

/**
 * This process's lane: ava runs test files in parallel processes, and two engines on one RTP
 * range take each other's ports (a leg's bind or its latch handover fails, a call is refused 503
 * or its leg closes). With a pid-derived block alone, two processes' engines running at once
 * shared a block about once in 40. Lanes are claimed through files in the temp folder; when all
 * are held (more processes than lanes), the pid decides.
 */
function myLane(): number {
  if (lane !== undefined) return lane;
  fs.mkdirSync(laneDir, { recursive: true });
  for (let i = 0; i < LANES && lane === undefined; i++) if (claimLane((process.pid + i) % LANES)) lane = (process.pid + i) % LANES;
  lane ??= process.pid % LANES;
  return lane;
}

/**
 * A 1000-port RTP block per engine, in this process's lane: per engine within the process (a
 * file's tests run concurrently, each may start its own engine), the lane's 20 blocks in turn.
 */
export function rtpBlock(): { minPort: number; maxPort: number } {
  const minPort = 20000 + (myLane() * BLOCKS_PER_LANE + (blocksTaken++ % BLOCKS_PER_LANE)) * 1000;
  return { minPort, maxPort: minPort + 999 };
}
