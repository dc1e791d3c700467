/**
 * The one pino root logger. JSON in production, readable in a terminal. Secrets are redacted
 * wherever they appear in the fields we log (headers, API keys, passwords, SIP digest).
 */
import { pino, type Logger } from 'pino';
import type { Config } from './schema.js';

export type { Logger };

/** Field paths whose values never reach a log line. */
const redactPaths = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'apiKey',
  '*.apiKey',
  // Provider credentials, as the runtime holds them (`{ provider: { credential: { apiKey } } }`)
  // and as their row reads (`api_key`).
  '*.*.apiKey',
  'api_key',
  '*.api_key',
  'refreshToken',
  '*.refreshToken',
  'accessToken',
  '*.accessToken',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers["x-api-key"]',
  '*.headers.authorization',
  '*.headers["x-api-key"]',
  'config.auth.jwtSecret',
  'config.sip.drachtioSecret',
  'config.bootstrap.ownerPassword',
  // SIP digest credentials
  'headers["proxy-authorization"]',
  '*.headers["proxy-authorization"]',
];

/** Creates the root logger from the log settings. `destination` lets tests capture lines. */
export function createLogger(log: Config['log'], destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level: log.level,
    base: { pid: process.pid },
    redact: { paths: redactPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (destination) return pino(options, destination);
  if (log.pretty) {
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid' } },
    });
  }
  return pino(options);
}
