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
 * A 1000-port RTP block per engine: per test process (ava runs files in parallel processes) and
 * per engine within one (a file's tests run concurrently, each may start its own engine). Two
 * engines on one range take each other's ports: a leg's bind or its latch handover fails, and a
 * call is refused 503. Steps of 13 (prime to the 40 blocks) visit every block before repeating.
 */
export function rtpBlock(): { minPort: number; maxPort: number } {
  const minPort = 20000 + ((process.pid + 13 * blocksTaken++) % 40) * 1000;
  return { minPort, maxPort: minPort + 999 };
}
