/**
 * The real engine process for crash-recovery runs: one SQLite file and fixed ports across
 * restarts (callers keep sending to the same address), SIGKILL with a check that the media
 * workers die with it, and read-only views of the file between and during runs.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { rtpBlock, tempDir } from './config.js';
import { freePort, mainJs, spawnEngine, type EngineProcess } from './engine-process.js';
import { request, waitFor } from './http.js';

const owner = { email: 'owner@crash.test', password: 'correct horse battery staple' };
const adminJs = path.join(path.dirname(mainJs), 'cli/admin.js');

/** What a SIGKILL left behind. */
interface KillResult {
  /** The engine's child processes (mediasoup workers) at the kill. */
  workers: number;
  /** Of those, still alive 3 s later (each would hold RTP ports the next start needs). */
  workersLeft: number;
}

export interface DbCall {
  id: string;
  sip_call_id: string | null;
  status: string;
  answered_at: string | null;
  ended_at: string | null;
  end_reason: string | null;
  hangup_by: string | null;
}

export interface DbEvent {
  id: number;
  type: string;
  tenant_id: string | null;
  call_id: string | null;
  data: string;
}

/** The file as a fresh reader sees it: `PRAGMA integrity_check`, every call and every event. */
export interface DbView {
  integrity: string;
  calls: DbCall[];
  events: DbEvent[];
}

export class CrashEngine {
  proc!: EngineProcess;
  /** An admin API key of the bootstrap tenant, with a limit polling cannot reach. */
  headers: Record<string, string> = {};
  readonly dbPath = path.join(tempDir('as-crash-'), 'engine.db');

  private constructor(
    readonly httpPort: number,
    readonly sipPort: number,
    /** Extra `AS_*` settings (e.g. `AS_SIP_SERVER=thread`). */
    readonly env: Record<string, string>,
  ) {}

  get base(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** A started engine with a tenant, an agent, a trunk open to 127.0.0.1 and the number `service`. */
  static async create(env: Record<string, string> = {}): Promise<CrashEngine> {
    const e = new CrashEngine(await freePort(), await freePort(), env);
    await e.start();
    await e.#seed();
    return e;
  }

  /** Spawns the engine on the file and waits until it is ready; resolves to the ms that took. */
  async start(): Promise<number> {
    const t0 = performance.now();
    this.#spawn();
    const proc = this.proc;
    await waitFor(async () => proc.child.exitCode === null && (await request(this.base, 'GET', '/api/v1/health/ready')).status === 200, 30_000, 20).catch(
      (e: Error) => {
        proc.child.kill('SIGKILL');
        throw new Error(`engine not ready: ${e.message}\n${proc.stdout().slice(-4000)}\n${proc.stderr().slice(-4000)}`);
      },
    );
    return performance.now() - t0;
  }

  /**
   * A crash during start-up: spawns the engine and SIGKILLs it `afterMs` later, wherever it is
   * (opening the file, migrating, closing orphaned calls, starting workers, or already up).
   */
  async startAndKill(afterMs: number): Promise<KillResult & { wasReady: boolean }> {
    this.#spawn();
    await new Promise((r) => setTimeout(r, afterMs));
    const wasReady = await request(this.base, 'GET', '/api/v1/health/ready').then(
      (r) => r.status === 200,
      () => false,
    );
    return { ...(await this.kill()), wasReady };
  }

  #spawn(): void {
    const { minPort, maxPort } = rtpBlock();
    this.proc = spawnEngine({
      AS_HTTP_HOST: '127.0.0.1',
      AS_HTTP_PORT: String(this.httpPort),
      AS_DATABASE_PATH: this.dbPath,
      AS_MEDIA_WORKERS: '1',
      AS_LOG_PRETTY: 'false',
      AS_LOG_LEVEL: 'warn',
      AS_SIP_HOST: '127.0.0.1',
      AS_SIP_PORT: String(this.sipPort),
      AS_SIP_TRANSPORTS: 'udp',
      AS_SIP_DRACHTIO_PORT: '0',
      AS_RTP_LISTEN_IP: '127.0.0.1',
      AS_RTP_MIN_PORT: String(minPort),
      AS_RTP_MAX_PORT: String(maxPort),
      // A call whose caller vanished (its SIPp call failed) ends soon, not after a minute.
      AS_RTP_INACTIVITY_TIMEOUT_MS: '4000',
      AS_BOOTSTRAP_TENANT_NAME: 'Crash',
      AS_BOOTSTRAP_OWNER_EMAIL: owner.email,
      AS_BOOTSTRAP_OWNER_PASSWORD: owner.password,
      ...this.env,
    });
  }

  async #seed(): Promise<void> {
    const login = await request<{ accessToken: string }>(this.base, 'POST', '/api/v1/auth/login', { body: owner });
    const h = { authorization: `Bearer ${login.body.accessToken}` };
    this.headers = { 'x-api-key': this.#watcherKey() };
    const agent = await request<{ id: string }>(this.base, 'POST', '/api/v1/agents', { headers: h, body: { name: 'Echo', config: { prompt: { system: 'Echo.' } } } });
    const trunk = await request<{ id: string }>(this.base, 'POST', '/api/v1/sip-trunks', { headers: h, body: { name: 'local', inbound: { allowlist: ['127.0.0.1'] } } });
    const num = await request(this.base, 'POST', '/api/v1/phone-numbers', { headers: h, body: { number: 'service', agentId: agent.body.id, trunkId: trunk.body.id } });
    if (num.status !== 201) throw new Error(`seeding failed: ${num.status} ${JSON.stringify(num.body)}`);
  }

  /**
   * An admin key whose rate limit the watcher's polling cannot reach, made with the admin command
   * on the engine's file (the API lets no caller hand out more than its own limit).
   */
  #watcherKey(): string {
    const admin = (args: string[]) => {
      const r = spawnSync(process.execPath, [adminJs, ...args, '--json'], {
        env: { PATH: process.env.PATH ?? '', AS_DATABASE_PATH: this.dbPath, AS_LOG_LEVEL: 'silent' },
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`admin ${args[0]} exited ${r.status}: ${r.stderr}`);
      return JSON.parse(r.stdout) as unknown;
    };
    const [tenant] = admin(['list-tenants']) as { id: string }[];
    return (admin(['create-api-key', '--tenant', tenant!.id, '--name', 'crash watcher', '--rate-limit', '1000000']) as { key: string }).key;
  }

  /** SIGKILL: the process gets no chance to close anything. */
  async kill(): Promise<KillResult> {
    const workers = childPids(this.proc.child.pid!);
    this.proc.child.kill('SIGKILL');
    await this.proc.exited;
    const end = Date.now() + 3000;
    let left = workers.filter(alive);
    while (left.length && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      left = left.filter(alive);
    }
    return { workers: workers.length, workersLeft: left.length };
  }

  /** SIGTERM, and the exit code of the graceful stop. */
  async stop(): Promise<number | null> {
    if (this.proc.child.exitCode !== null || this.proc.child.signalCode !== null) return this.proc.child.exitCode;
    this.proc.child.kill('SIGTERM');
    return (await this.proc.exited).code;
  }

  /** The file through a new read-only connection (while the engine runs, or after it died). */
  view(): DbView {
    const db = new Database(this.dbPath, { readonly: true, fileMustExist: true });
    try {
      const integrity = (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; ');
      const calls = db.prepare('SELECT id, sip_call_id, status, answered_at, ended_at, end_reason, hangup_by FROM calls ORDER BY rowid').all() as DbCall[];
      const events = db.prepare('SELECT id, type, tenant_id, call_id, data FROM events ORDER BY id').all() as DbEvent[];
      return { integrity, calls, events };
    } finally {
      db.close();
    }
  }
}

/** Direct children of `pid`, from /proc. */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat && stat.ppid === pid) out.push(Number(name));
  }
  return out;
}

/** Alive and not a zombie (a zombie holds no sockets). */
function alive(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

function readStat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0]!, ppid: Number(rest[1]) };
  } catch {
    return undefined;
  }
}
