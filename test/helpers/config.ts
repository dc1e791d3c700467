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

/**
 * A 1000-port RTP block per test process (ava runs files in parallel processes): two engines on
 * one range could take each other's port during a leg's latch handover.
 */
export function rtpBlock(): { minPort: number; maxPort: number } {
  const minPort = 20000 + (process.pid % 40) * 1000;
  return { minPort, maxPort: minPort + 999 };
}
