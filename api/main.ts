/**
 * The engine process: load settings, start, and stop gracefully on SIGTERM/SIGINT.
 * Exit codes: 0 clean stop, 1 failed start or unclean stop, 70 stopped after repeated escaped
 * errors (EX_SOFTWARE, see process-faults.ts), 78 bad configuration (EX_CONFIG).
 */
import { ConfigError, loadConfig } from '../config/load.js';
import { createLogger, type Logger } from '../config/logger.js';
import { maxSemiSpaceMb, START_SEMI_SPACE_MB } from '../config/node-runtime.js';
import { startApp } from './app.js';
import { EX_SOFTWARE, ProcessFaults } from './process-faults.js';

const EX_CONFIG = 78;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`agent-studio: ${e.message}\n`);
      process.exit(EX_CONFIG);
    }
    throw e;
  }
  const log = createLogger(config.log);
  let app;
  try {
    app = await startApp(config, log);
  } catch (err) {
    log.fatal({ err }, 'start failed');
    await flush(log);
    process.exit(1);
  }
  const semiSpaceMb = maxSemiSpaceMb();
  log.info({ node: process.version, maxSemiSpaceMb: semiSpaceMb }, 'agent studio ready');
  if (semiSpaceMb === null) {
    log.info(
      `started without --max-semi-space-size: npm start passes --max-semi-space-size=${START_SEMI_SPACE_MB}, which keeps the event loop's garbage-collection pauses short under load (README, Configuration, Node flags)`,
    );
  }

  let stopping = false;
  const stop = (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const hard = setTimeout(() => {
      log.error({ timeoutMs: config.shutdown.timeoutMs }, 'shutdown timed out');
      process.exit(1);
    }, config.shutdown.timeoutMs);
    hard.unref();
    app.close().then(
      async () => {
        log.info('stopped');
        await flush(log);
        process.exit(code);
      },
      async (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        await flush(log);
        process.exit(1);
      },
    );
  };
  new ProcessFaults({ log, onTooMany: () => stop('faults', EX_SOFTWARE) }).install();
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function flush(log: Logger): Promise<void> {
  return new Promise((resolve) => log.flush(() => resolve()));
}

main().catch((err: unknown) => {
  process.stderr.write(`agent-studio: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
