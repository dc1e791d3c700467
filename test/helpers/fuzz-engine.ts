/**
 * A real engine process for the fuzz properties: tenant A from the bootstrap settings (its owner
 * is super-admin), a second tenant B made through the API, and keys with a high rate limit made
 * with the admin command (an operator's tool: the API lets no caller hand out more than it has),
 * so that cases test the route and not the limiter.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { tempDir } from './config.js';
import { freePort, spawnEngine, type EngineProcess } from './engine-process.js';
import { request, waitFor } from './http.js';

const adminJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../api/cli/admin.js');

type Call = (method: string, p: string, headers: Record<string, string>, body?: unknown) => Promise<Record<string, unknown>>;

interface FuzzEngine {
  engine: EngineProcess;
  port: number;
  base: string;
  dbPath: string;
  /** A request that must succeed (2xx); its JSON body. */
  call: Call;
  /** Bearer headers from a real login. */
  bearer(email: string, password: string): Promise<Record<string, string>>;
  owner: { email: string; password: string; headers: Record<string, string> };
  tenantA: string;
  /** Tenant B, with its owner's headers. */
  tenantB: string;
  ownerB: Record<string, string>;
  /** A new API key of tenant A from the admin command (`args`: --mode, --role, --scopes, --rate-limit). */
  adminKey(args?: string[]): string;
  /** Every row of tenant B (tables with tenant_id), as text, to compare before and after. */
  snapshotB(): string;
}

export async function startFuzzEngine(name: string): Promise<FuzzEngine> {
  const port = await freePort();
  const dbPath = path.join(tempDir(), `${name}.db`);
  const owner = { email: 'owner@a.example.test', password: 'fuzz owner password 1' };
  const engine = spawnEngine({
    AS_HTTP_HOST: '127.0.0.1',
    AS_HTTP_PORT: String(port),
    AS_DATABASE_PATH: dbPath,
    AS_MEDIA_WORKERS: '1',
    AS_LOG_PRETTY: 'false',
    AS_LOG_LEVEL: 'warn',
    AS_SIP_HOST: '127.0.0.1',
    AS_SIP_PORT: String(await freePort()),
    AS_SIP_DRACHTIO_PORT: String(await freePort()),
    AS_RTP_LISTEN_IP: '127.0.0.1',
    AS_BOOTSTRAP_TENANT_NAME: 'A',
    AS_BOOTSTRAP_OWNER_EMAIL: owner.email,
    AS_BOOTSTRAP_OWNER_PASSWORD: owner.password,
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await request(base, 'GET', '/api/v1/health/live')).status === 200, 20_000).catch((e: Error) => {
    engine.child.kill('SIGKILL');
    throw new Error(`${e.message}\nstdout: ${engine.stdout()}\nstderr: ${engine.stderr()}`);
  });
  const call: Call = async (method, p, headers, body) => {
    const res = await request<Record<string, unknown>>(base, method, p, { headers, body });
    if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const bearer = async (email: string, password: string) => ({
    authorization: `Bearer ${String((await call('POST', '/api/v1/auth/login', {}, { email, password })).accessToken)}`,
  });
  const ownerHeaders = await bearer(owner.email, owner.password);
  const tenantA = String((await call('GET', '/api/v1/auth/me', ownerHeaders)).tenantId);
  const b = { email: 'owner@b.example.test', password: 'fuzz owner password 2' };
  const tenantB = String((await call('POST', '/api/v1/tenants', ownerHeaders, { name: 'B', owner: b })).id);
  const ownerB = await bearer(b.email, b.password);
  const adminKey = (args: string[] = []) => {
    const out = execFileSync(process.execPath, [adminJs, 'create-api-key', '--tenant', tenantA, '--name', 'fuzz', '--json', ...args], {
      env: { PATH: process.env.PATH ?? '', AS_DATABASE_PATH: dbPath, AS_LOG_LEVEL: 'warn' },
    });
    return String((JSON.parse(out.toString()) as { key: string }).key);
  };
  const snapshotB = () => {
    const db = new Database(dbPath, { readonly: true });
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
      const out: Record<string, unknown[]> = { tenants: db.prepare('SELECT * FROM tenants WHERE id = ?').all(tenantB) };
      for (const { name: table } of tables) {
        const cols = db.prepare(`PRAGMA table_info("${table}")`).all() as { name: string }[];
        if (cols.some((c) => c.name === 'tenant_id')) out[table] = db.prepare(`SELECT * FROM "${table}" WHERE tenant_id = ? ORDER BY rowid`).all(tenantB);
      }
      return JSON.stringify(out);
    } finally {
      db.close();
    }
  };
  return { engine, port, base, dbPath, call, bearer, owner: { ...owner, headers: ownerHeaders }, tenantA, tenantB, ownerB, adminKey, snapshotB };
}
