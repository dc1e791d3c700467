/**
 * The one pino root logger. JSON in production, readable in a terminal. Secrets are redacted
 * wherever they appear in the fields we log (headers, API keys, passwords, SIP digest).
 */
import { pino, type Logger } from 'pino';
import type { Config } from './schema.js';

export type { Logger };

/**
 * Field names whose values never reach a log line, at any depth up to `secretDepth` (top-level
 * fields are depth 1): passwords, tokens, API keys (as the runtime holds them and as their row
 * reads), auth headers, SIP digest credentials, and the secrets of the settings.
 */
const secretKeys: ReadonlySet<string> = new Set([
  'password',
  'secret',
  'token',
  'apiKey',
  'api_key',
  'refreshToken',
  'accessToken',
  'authorization',
  'Authorization',
  'x-api-key',
  'proxy-authorization',
  'Proxy-Authorization',
  'jwtSecret',
  'drachtioSecret',
  'ownerPassword',
]);
const secretDepth = 4;
const censor = '[redacted]';

/** Objects whose fields are walked (not Buffers and typed arrays: bytes, not fields). */
const walkable = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !ArrayBuffer.isView(v);

function holdsSecret(o: Record<string, unknown>, depth: number): boolean {
  for (const k in o) {
    if (secretKeys.has(k)) return true;
    const v = o[k];
    if (depth > 1 && walkable(v) && holdsSecret(v, depth - 1)) return true;
  }
  return false;
}

/** A copy of `o` with each secret field censored (copied only along the paths that hold one). */
function censored(o: Record<string, unknown>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = Array.isArray(o) ? ([] as unknown as Record<string, unknown>) : {};
  for (const k in o) {
    const v = o[k];
    if (secretKeys.has(k)) out[k] = censor;
    else if (depth > 1 && walkable(v) && holdsSecret(v, depth - 1)) out[k] = censored(v, depth - 1);
    else out[k] = v;
  }
  return out;
}

/**
 * The fields of a log call or a child logger's bindings, with secrets censored. Most lines hold
 * none: they are walked without a copy, where pino's path redaction cloned every logged object
 * (and every child's bindings): about 50 µs and tens of kB of garbage per call on the call path.
 */
export function redactSecrets(o: Record<string, unknown>): Record<string, unknown> {
  try {
    return holdsSecret(o, secretDepth) ? censored(o, secretDepth) : o;
  } catch (err) {
    // A field that throws when read (a revoked proxy, a throwing getter): the line keeps none of
    // the fields rather than risk one, and says why.
    return { unloggable: `fields not logged: reading them threw ${(err as Error)?.name ?? 'an error'}` };
  }
}

/** Creates the root logger from the log settings. `destination` lets tests capture lines. */
export function createLogger(log: Config['log'], destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level: log.level,
    base: { pid: process.pid },
    formatters: { log: redactSecrets },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  let root: Logger;
  if (destination) root = pino(options, destination);
  else if (log.pretty) {
    root = pino({
      ...options,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid' } },
    });
  } else root = pino(options);
  return censorChildBindings(root);
}

/**
 * pino applies no formatter to a child's bindings (its `bindings` formatter is for the root's
 * base only), so `child` is wrapped on the root: every descendant inherits it (pino makes a child
 * with `Object.create(parent)`) and has its bindings censored once, when it is made.
 */
function censorChildBindings(root: Logger): Logger {
  type ChildFn = (this: Logger, bindings: Record<string, unknown>, opts?: object) => Logger;
  const original = root.child as unknown as ChildFn;
  const censoredChild: ChildFn = function (bindings, opts) {
    return original.call(this, redactSecrets(bindings), opts);
  };
  root.child = censoredChild as unknown as Logger['child'];
  return root;
}
