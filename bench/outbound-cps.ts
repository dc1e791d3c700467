/**
 * Outbound call rate: the engine places calls (`POST /api/v1/calls`, an echo agent) through a
 * trunk whose gateway is a SIPp UAS (bench/scenarios/uas-outbound.xml: 180, 200, hold, BYE from
 * the gateway), at a ramp of CPS caps: each step sets the trunk's `cpsLimit` to the rate and
 * posts rate x seconds calls at once, so the queue and the cap pace them. A step is clean when at
 * most 0.1 % of its calls do not complete; the ramp stops at the first that is not.
 * Reported per step: INVITEs per second on the wire (SIPp's receive timestamps) against the cap
 * (the cap's accuracy), the smallest gap between two INVITEs against 1/cap, and the completed
 * share; beside it, the peer: SIPp placing the same calls on the same UAS at the same rate
 * (bench/scenarios/uac-outbound-peer.xml), a bare SIP stack's ceiling on this machine.
 *
 * `npm run bench -- outbound-cps [rates=5,10,20,50,100,200] [seconds=5] [hold=500]`
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { generateApiKey } from '../api/auth/api-key-secret.js';
import { ApiKeysRepo } from '../engine/store/repositories/api-keys.js';
import { keyValues } from './lib/args.js';
import { ownerApi, startEngine } from './lib/engine.js';
import { freePort } from './lib/proc.js';
import { fmt, table } from './lib/stats.js';
import { runSippStep } from './lib/sipp.js';

const scenarioDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/scenarios');
/** Calls that may fail in a clean step (the 0.1 %). */
const maxFailRatio = 0.001;

/**
 * An API key whose rate limit the POSTs cannot reach, minted in the engine's database (the API
 * caps a new key at its creator's limit, 100 requests a minute by default).
 */
function benchKey(dbPath: string): string {
  const db = new Database(dbPath);
  try {
    db.pragma('busy_timeout = 5000');
    const tenant = db.prepare('SELECT id FROM tenants ORDER BY created_at LIMIT 1').get() as { id: string };
    const { key, prefix, hash } = generateApiKey('live');
    new ApiKeysRepo(db).create({ tenantId: tenant.id, name: 'outbound-cps bench', mode: 'live', role: 'admin', prefix, keyHash: hash, rateLimit: 1_000_000_000 });
    return key;
  } finally {
    db.close();
  }
}

/** POST /api/v1/calls with the bench key. */
async function placeCall(httpUrl: string, key: string, body: unknown): Promise<string> {
  const res = await fetch(`${httpUrl}/api/v1/calls`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`POST /calls: ${res.status} ${text}`);
  return (JSON.parse(text) as { id: string }).id;
}

/** The gateway: SIPp as UAS for `calls` calls, its INVITE receive times (ms) once it exits. */
function gateway(port: number, calls: number, holdMs: number, dir: string): { done: Promise<number[]> } {
  fs.mkdirSync(dir, { recursive: true });
  const args = ['-sf', path.join(scenarioDir, 'uas-outbound.xml'), '-i', '127.0.0.1', '-p', String(port), '-m', String(calls), '-d', String(holdMs), '-nostdin', '-trace_msg', '-timeout', `${Math.ceil(calls / 2) + 60}s`];
  const child = spawn('sipp', args, { cwd: dir, stdio: 'ignore' });
  const done = new Promise<number[]>((resolve) =>
    child.on('exit', () => {
      const log = fs.readdirSync(dir).find((f) => f.endsWith('_messages.log'));
      const text = log ? fs.readFileSync(path.join(dir, log), 'utf8') : '';
      const times: number[] = [];
      for (const block of text.split(/^-{20,} /m)) {
        const stamp = /^(\d{4}-\d\d-\d\d)\s+(\d\d):(\d\d):(\d\d\.\d+)/.exec(block);
        if (stamp && /message received/.test(block) && /^INVITE /m.test(block)) times.push((Number(stamp[2]) * 3600 + Number(stamp[3]) * 60 + Number(stamp[4])) * 1000);
      }
      resolve(times.sort((a, b) => a - b));
    }),
  );
  return { done };
}

export async function run(argv: string[]): Promise<void> {
  const a = keyValues(argv);
  const rates = (a.rates ?? '5,10,20,50,100,200').split(',').map(Number);
  const seconds = Number(a.seconds ?? 5);
  const holdMs = Number(a.hold ?? 500);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-outbound-cps-'));
  const engine = await startEngine({ env: { AS_SIP_OUTBOUND_TENANT_MAX_CALLS: '100000' } });
  const rows: Record<string, string | number>[] = [];
  try {
    const api = await ownerApi(engine);
    const agent = await api<{ id: string }>('/agents', 'POST', { name: 'Echo', config: { prompt: { system: 'Echo.' } } });
    const key = benchKey(engine.dbPath);
    for (const rate of rates) {
      const calls = rate * seconds;
      const port = await freePort();
      const trunk = await api<{ id: string }>('/sip-trunks', 'POST', { name: `gw ${rate}`, outbound: { host: '127.0.0.1', port }, cpsLimit: rate });
      const uas = gateway(port, calls, holdMs, path.join(dir, `uas-${rate}`));
      await new Promise((r) => setTimeout(r, 300));
      const ids: string[] = [];
      for (let i = 0; i < calls; i += 50) {
        const batch = Array.from({ length: Math.min(50, calls - i) }, () => placeCall(engine.httpUrl, key, { agentId: agent.id, trunkId: trunk.id, to: '+15551234567' }));
        ids.push(...(await Promise.all(batch)));
      }
      const times = await uas.done;
      // The last records are written just after the gateway's last BYE.
      await new Promise((r) => setTimeout(r, 1000));
      const db = new Database(engine.dbPath, { readonly: true });
      const statuses = db.prepare('SELECT status, COUNT(*) AS n FROM calls WHERE trunk_id = ? GROUP BY status').all(trunk.id) as { status: string; n: number }[];
      db.close();
      const completed = statuses.find((x) => x.status === 'completed')?.n ?? 0;
      const span = times.length > 1 ? (times.at(-1)! - times[0]!) / 1000 : 0;
      const wireCps = span > 0 ? (times.length - 1) / span : 0;
      const gaps = times.slice(1).map((x, i) => x - times[i]!);
      // The peer: SIPp places the same calls on a UAS of its own at the same rate.
      const peerPort = await freePort();
      const peerUas = gateway(peerPort, calls, holdMs, path.join(dir, `peer-uas-${rate}`));
      await new Promise((r) => setTimeout(r, 300));
      const peer = await runSippStep({ target: `127.0.0.1:${peerPort}`, scenario: 'uac-outbound-peer.xml', rate, calls, holdMs: 0, dir: path.join(dir, `peer-${rate}`) }).catch(() => null);
      await peerUas.done;
      const failRatio = 1 - completed / calls;
      rows.push({
        cap: rate,
        calls,
        completed,
        'fail %': fmt(failRatio * 100, 2),
        'wire cps': fmt(wireCps),
        'accuracy %': fmt((wireCps / rate) * 100, 1),
        'min gap ms': fmt(gaps.length ? Math.min(...gaps) : NaN, 1),
        '1/cap ms': fmt(1000 / rate, 1),
        'peer cps': peer ? fmt(peer.answeredCps) : 'n/a',
        'engine/peer': peer && peer.answeredCps ? fmt(wireCps / peer.answeredCps) : 'n/a',
      });
      if (failRatio > maxFailRatio) break;
    }
  } finally {
    await engine.stop();
    table(rows);
  }
}
