/**
 * The engine as a process for SIP benchmarks (`dist/api/main.js`, as an operator runs it):
 * production settings, SIP on UDP at 127.0.0.1, media workers = cores, a bootstrapped tenant.
 * `seedEchoNumber` then goes through the REST API as an admin would: sign in, create an agent, a
 * trunk whose inbound allowlist is 127.0.0.1, and the number `service` routed to the agent.
 * The engine's JSON logs go to a file in its temp folder, read back for error lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { freePort } from './proc.js';

const mainJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../api/main.js');
const packageJson = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../package.json');

/**
 * The Node flags of the start command (`npm start`, package.json's `start` script), so that the
 * benchmarks run the engine, and the floors it is compared with, with the runtime settings an
 * operator gets (the young generation's size among them). Flags given after these (a run's
 * `node=`) override them: V8 takes the last value of a flag.
 */
export function startCommandNodeFlags(): string[] {
  const pkg = JSON.parse(fs.readFileSync(packageJson, 'utf8')) as { scripts?: { start?: string } };
  const start = pkg.scripts?.start ?? '';
  const m = /\bnode((?:\s+--\S+)*)\s+dist\/api\/main\.js\b/.exec(start);
  if (!m) throw new Error(`package.json's start script does not run node … dist/api/main.js: ${JSON.stringify(start)}`);
  return m[1]!.trim().split(/\s+/).filter(Boolean);
}

const owner = { email: 'bench@example.test', password: 'bench password 123' };

/** Benchmarks drive all their load from one address: the per-source request limit is not what they measure. */
export const benchSipLimits = { AS_SIP_ABUSE_REQUEST_RATE: '100000', AS_SIP_ABUSE_REQUEST_BURST: '100000' } as const;

interface EngineOptions {
  /** mediasoup workers; default one per core (the engine's own default). */
  workers?: number;
  /** pino level; default `info`, the production default. */
  logLevel?: string;
  /** Extra `AS_*` settings. */
  env?: Record<string, string>;
  /** Extra node flags (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  /** Another build's `api/main.js` (before/after comparisons); this build's by default. */
  mainJs?: string;
}

export interface EngineProcess {
  child: ChildProcess;
  pid: number;
  dir: string;
  httpUrl: string;
  sipPort: number;
  dbPath: string;
  logPath: string;
  /** SIGTERM, then wait for the exit (graceful shutdown ends live calls). */
  stop(): Promise<void>;
}

export async function startEngine(o: EngineOptions = {}): Promise<EngineProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-sip-bench-'));
  const httpPort = await freePort();
  const sipPort = await freePort();
  const dbPath = path.join(dir, 'bench.db');
  const logPath = path.join(dir, 'engine.log');
  const env: Record<string, string> = {
    AS_ENV: 'production',
    AS_HTTP_HOST: '127.0.0.1',
    AS_HTTP_PORT: String(httpPort),
    AS_DATABASE_PATH: dbPath,
    AS_LOG_LEVEL: o.logLevel ?? 'info',
    AS_LOG_PRETTY: 'false',
    AS_SIP_HOST: '127.0.0.1',
    AS_SIP_PORT: String(sipPort),
    AS_SIP_TRANSPORTS: 'udp',
    AS_SIP_DRACHTIO_PORT: String(await freePort()),
    AS_RTP_LISTEN_IP: '127.0.0.1',
    AS_MEDIA_WORKERS: String(o.workers ?? os.availableParallelism()),
    ...benchSipLimits,
    AS_BOOTSTRAP_TENANT_NAME: 'Bench',
    AS_BOOTSTRAP_OWNER_EMAIL: owner.email,
    AS_BOOTSTRAP_OWNER_PASSWORD: owner.password,
    ...o.env,
  };
  const inherited: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('AS_')) inherited[k] = v;
  const log = fs.openSync(logPath, 'a');
  const child = spawn(process.execPath, [...startCommandNodeFlags(), ...(o.nodeArgs ?? []), o.mainJs ?? mainJs], {
    env: { ...inherited, ...env },
    stdio: ['ignore', log, 'pipe'],
    cwd: dir,
  });
  fs.closeSync(log);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const end = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`engine exited ${child.exitCode}: ${err}`);
    try {
      if ((await fetch(`${httpUrl}/api/v1/health/ready`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > end) throw new Error(`engine not ready: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return { child, pid: child.pid!, dir, httpUrl, sipPort, dbPath, logPath, stop };
}

/** A REST call of the bench's owner: `call(path, method, body)` on `/api/v1`, JSON in and out; a non-2xx throws. */
export async function ownerApi(engine: EngineProcess): Promise<<T>(path: string, method: string, body?: unknown) => Promise<T>> {
  const api = `${engine.httpUrl}/api/v1`;
  const { accessToken } = await call<{ accessToken: string }>(`${api}/auth/login`, 'POST', {}, owner);
  const h = { authorization: `Bearer ${accessToken}` };
  return <T>(p: string, method: string, body?: unknown) => call<T>(`${api}${p}`, method, h, body);
}

async function call<T>(url: string, method: string, headers: Record<string, string>, body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** Seeds, through the REST API, the number `service` answered by an agent, on a trunk open to 127.0.0.1. */
export async function seedEchoNumber(engine: EngineProcess, number = 'service'): Promise<{ agentId: string; trunkId: string }> {
  const api = `${engine.httpUrl}/api/v1`;
  const { accessToken } = await call<{ accessToken: string }>(`${api}/auth/login`, 'POST', {}, owner);
  const h = { authorization: `Bearer ${accessToken}` };
  const agent = await call<{ id: string }>(`${api}/agents`, 'POST', h, { name: 'Echo', config: { prompt: { system: 'Echo the caller.' } } });
  const trunk = await call<{ id: string }>(`${api}/sip-trunks`, 'POST', h, {
    name: 'Loopback carrier',
    inbound: { allowlist: ['127.0.0.1'], username: null, password: null },
  });
  await call(`${api}/phone-numbers`, 'POST', h, { number, agentId: agent.id, trunkId: trunk.id });
  return { agentId: agent.id, trunkId: trunk.id };
}

/** Open media legs as the engine's health reports them. */
export async function mediaLegs(engine: EngineProcess): Promise<number> {
  const h = (await (await fetch(`${engine.httpUrl}/api/v1/health`)).json()) as { components: { media: { legs: number } } };
  return h.components.media.legs;
}

export interface CallTally {
  calls: number;
  completed: number;
  /** Completed calls whose record shows RTP received from the caller and echoed back to it. */
  withMedia: number;
  /**
   * Completed calls whose events are all there and in order (by event id): `call.started` first,
   * `call.answered` later, `call.ended` last, none twice.
   */
  withEvents: number;
  endReasons: Record<string, number>;
}

/** A completed call's event types, in id order, as the event log must hold them. */
function eventsInOrder(types: string[]): boolean {
  const once = (t: string) => types.indexOf(t) !== -1 && types.indexOf(t) === types.lastIndexOf(t);
  return (
    once('call.started') &&
    once('call.answered') &&
    once('call.ended') &&
    types[0] === 'call.started' &&
    types.at(-1) === 'call.ended' &&
    types.indexOf('call.answered') > 0
  );
}

/**
 * Adds a trunk with digest credentials and no allowlist: from then on INVITEs from unknown
 * sources are challenged (401) rather than refused (403).
 */
export async function seedDigestTrunk(engine: EngineProcess): Promise<void> {
  const api = `${engine.httpUrl}/api/v1`;
  const { accessToken } = await call<{ accessToken: string }>(`${api}/auth/login`, 'POST', {}, owner);
  await call(`${api}/sip-trunks`, 'POST', { authorization: `Bearer ${accessToken}` }, { name: 'Digest carrier', inbound: { allowlist: [], username: 'carrier', password: 'bench digest secret' } });
}

/** Reads the call records written since `sinceRowid` (read-only; SQLite WAL allows it). */
export function tallyCalls(engine: Pick<EngineProcess, 'dbPath'>, sinceRowid: number): { tally: CallTally; lastRowid: number } {
  const db = new Database(engine.dbPath, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare('SELECT rowid, id, status, end_reason AS endReason, rtp_stats AS rtp FROM calls WHERE rowid > ? ORDER BY rowid')
      .all(sinceRowid) as { rowid: number; id: string; status: string; endReason: string | null; rtp: string }[];
    const events = new Map<string, string[]>();
    const eventRows = db
      .prepare('SELECT e.call_id AS callId, e.type FROM events e JOIN calls c ON c.id = e.call_id WHERE c.rowid > ? ORDER BY e.id')
      .all(sinceRowid) as { callId: string; type: string }[];
    for (const e of eventRows) {
      const list = events.get(e.callId);
      if (list) list.push(e.type);
      else events.set(e.callId, [e.type]);
    }
    const tally: CallTally = { calls: rows.length, completed: 0, withMedia: 0, withEvents: 0, endReasons: {} };
    for (const r of rows) {
      if (r.status === 'completed') tally.completed++;
      const rtp = JSON.parse(r.rtp) as { packetsReceived?: number; packetsSent?: number };
      if (r.status === 'completed' && (rtp.packetsReceived ?? 0) > 0 && (rtp.packetsSent ?? 0) > 0) tally.withMedia++;
      if (r.status === 'completed' && eventsInOrder(events.get(r.id) ?? [])) tally.withEvents++;
      const reason = r.endReason ?? '(open)';
      tally.endReasons[reason] = (tally.endReasons[reason] ?? 0) + 1;
    }
    return { tally, lastRowid: rows.at(-1)?.rowid ?? sinceRowid };
  } finally {
    db.close();
  }
}

/** Log lines at error level or above (pino level >= 50), and their distinct messages. */
export function engineErrors(engine: Pick<EngineProcess, 'logPath'>): { count: number; messages: string[] } {
  let count = 0;
  const messages = new Set<string>();
  for (const line of fs.readFileSync(engine.logPath, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const l = JSON.parse(line) as { level: number; msg?: string };
      if (l.level >= 50) {
        count++;
        messages.add(l.msg ?? '');
      }
    } catch {
      /* a partial last line */
    }
  }
  return { count, messages: [...messages] };
}
