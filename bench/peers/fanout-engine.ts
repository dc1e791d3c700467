/**
 * The engine for the event fan-out benchmark, in its own process (forked by the bench, so its CPU
 * time is its own): `startApp` with production settings, warn logs to a file, one media worker,
 * loopback only. On an IPC `publish` order it appends `call.agent_said` events to the engine's
 * event log (`EventLog.append`, the path every call event takes: a row in SQLite, then the hub,
 * then each WebSocket and SSE client of the tenant) at the rate asked, the publish time at the
 * front of the text.
 *
 *   node dist/bench/peers/fanout-engine.js <dir>   (IPC: see lib/fanout-wire.ts)
 */
import fs from 'node:fs';
import path from 'node:path';
import { startApp } from '../../api/app.js';
import { loadConfig } from '../../config/load.js';
import { createLogger } from '../../config/logger.js';
import { FANOUT_CALL_ID, publishPaced, stampedText, type PublishOrder } from '../lib/fanout-wire.js';

/** The engine's ready message: where it listens, its database (for the admin CLI). */
export interface EngineReady {
  type: 'ready';
  port: number;
  dbPath: string;
}

/** The tenant the events belong to (set once the bench has created it with the admin CLI). */
export interface EngineTenant {
  type: 'tenant';
  tenantId: string;
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir || !process.send) throw new Error('usage: fork fanout-engine.js <dir> with an IPC channel');
  const dbPath = path.join(dir, 'fanout.db');
  const config = loadConfig(
    { MEDIASOUP_WORKER_BIN: process.env.MEDIASOUP_WORKER_BIN, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME },
    {
      env: 'production',
      http: { host: '127.0.0.1', port: 0 },
      sip: { host: '127.0.0.1', port: 0, drachtioPort: 0, transports: ['udp'] },
      rtp: { listenIp: '127.0.0.1', announcedIp: '127.0.0.1', minPort: 61000, maxPort: 64999 },
      database: { path: dbPath },
      auth: { jwtSecret: 'bench-secret-bench-secret-bench-secret-12' },
      media: { workers: 1 },
      log: { level: 'warn', pretty: false },
    },
  );
  const logFile = fs.createWriteStream(path.join(dir, 'engine.log'));
  const app = await startApp(config, createLogger(config.log, logFile));
  let tenantId: string | null = null;
  process.on('message', (m: PublishOrder | EngineTenant | { type: 'stop' }) => {
    if (m.type === 'tenant') tenantId = m.tenantId;
    else if (m.type === 'stop') void app.close().then(() => process.exit(0));
    else if (m.type === 'publish') {
      const scope = { tenantId, mode: 'live' as const, callId: FANOUT_CALL_ID };
      const publish = () => app.engine.events.append('call.agent_said', scope, { callId: FANOUT_CALL_ID, agentId: null, text: stampedText() });
      void publishPaced(m, publish).then((done) => process.send!(done));
    }
  });
  const ready: EngineReady = { type: 'ready', port: app.http.port, dbPath };
  process.send(ready);
}

main().catch((err: unknown) => {
  process.stderr.write(`fanout-engine: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
