/**
 * An engine ready to take inbound calls: started in-process on ephemeral ports, with a tenant, an
 * agent, a SIP trunk and the number `service` (SIPp's default Request-URI user) mapped to the
 * agent, all created through the REST API as an admin would.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startApp, type App } from '../../api/app.js';
import { testConfig, testLogger, tempDir } from './config.js';
import { request, waitFor } from './http.js';
import { runSipp, type SippResult, type SippRun } from './sipp.js';
import { mintKey, seedTenant, type SeededTenant } from './tenant.js';

const callScenarioDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/engine/calls/scenarios');

export interface InboundSetup {
  app: App;
  base: string;
  tenant: SeededTenant;
  agentId: string;
  trunkId: string;
  /** Where SIPp and baresip send: `127.0.0.1:<port>`. */
  sipTarget: string;
  sipPort: number;
  close(): Promise<void>;
}

export interface TrunkSpec {
  allowlist?: string[];
  username?: string;
  password?: string;
}

export async function inboundSetup(
  overrides: Record<string, unknown> = {},
  trunk: TrunkSpec = { allowlist: ['127.0.0.1'] },
  number = 'service',
  /** The SIP port callers use when the engine runs with an external SIP server. */
  externalSipPort?: number,
): Promise<InboundSetup> {
  const config = testConfig(overrides);
  const app = await startApp(config, testLogger(config));
  const base = `http://127.0.0.1:${app.http.port}`;
  try {
    const seeded = await seedTenant(app);
    // Tests poll the calls API: a key whose rate limit polling cannot reach.
    const apiKey = mintKey(app, seeded.tenantId, { rateLimit: 1_000_000 });
    const tenant = { ...seeded, apiKey, headers: { 'x-api-key': apiKey } };
    const h = tenant.headers;
    const agent = await request<{ id: string }>(base, 'POST', '/api/v1/agents', { headers: h, body: { name: 'Echo', config: { prompt: { system: 'Echo the caller.' } } } });
    const inbound: Record<string, unknown> = { allowlist: trunk.allowlist ?? [] };
    if (trunk.username) Object.assign(inbound, { username: trunk.username, password: trunk.password });
    const t = await request<{ id: string }>(base, 'POST', '/api/v1/sip-trunks', { headers: h, body: { name: 'carrier', inbound } });
    const n = await request(base, 'POST', '/api/v1/phone-numbers', { headers: h, body: { number, agentId: agent.body.id, trunkId: t.body.id } });
    if (agent.status !== 201 || t.status !== 201 || n.status !== 201) {
      throw new Error(`seeding failed: ${agent.status} ${t.status} ${n.status} ${JSON.stringify(t.body)} ${JSON.stringify(n.body)}`);
    }
    const sipPort = externalSipPort ?? app.engine.sip?.stack.listening()[0]!.port ?? (await threadSipPort(base));
    return { app, base, tenant, agentId: agent.body.id, trunkId: t.body.id, sipTarget: `127.0.0.1:${sipPort}`, sipPort, close: () => app.close() };
  } catch (e) {
    await app.close();
    throw e;
  }
}

/** The SIP port of a server running in a thread (`sip.server = thread`), from health. */
async function threadSipPort(base: string): Promise<number> {
  const h = await request<{ components: { sip: { transports?: { port: number }[] } } }>(base, 'GET', '/api/v1/health');
  const port = h.body.components.sip.transports?.[0]?.port;
  if (!port) throw new Error(`no SIP port in health: ${JSON.stringify(h.body)}`);
  return port;
}

/** A scenario from test/engine/calls/scenarios with `{{name}}` placeholders filled, in a temp file. */
export function scenario(file: string, vars: Record<string, string | number> = {}): { path: string } {
  let text = fs.readFileSync(path.join(callScenarioDir, file), 'utf8');
  for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`{{${k}}}`, String(v));
  const out = path.join(tempDir('as-scn-'), file);
  fs.writeFileSync(out, text);
  return { path: out };
}

export interface CallRow {
  id: string;
  status: string;
  endReason: string | null;
  hangupBy: string | null;
  durationMs: number | null;
  answeredAt: string | null;
  sipCallId: string | null;
  rtpStats: Record<string, number>;
}

/** The calls the engine recorded, newest last, through the REST API. */
export async function calls(s: InboundSetup): Promise<CallRow[]> {
  const list = await request<{ items: { id: string }[] }>(s.base, 'GET', '/api/v1/calls?limit=100', { headers: s.tenant.headers });
  const out: CallRow[] = [];
  for (const item of list.body.items) {
    out.push((await request<CallRow>(s.base, 'GET', `/api/v1/calls/${item.id}`, { headers: s.tenant.headers })).body);
  }
  return out.reverse();
}

/** A call's timeline event types, oldest first. */
export async function timeline(s: InboundSetup, callId: string): Promise<string[]> {
  const res = await request<{ items: { type: string }[] }>(s.base, 'GET', `/api/v1/calls/${callId}/events?limit=100`, { headers: s.tenant.headers });
  return res.body.items.map((e) => e.type);
}

/** SIPp as the caller over UDP, with a media port of its own (tests run in parallel). */
export async function sippCall(s: InboundSetup, scn: SippRun['scenario'], extra: Partial<SippRun> = {}): Promise<SippResult> {
  return runSipp({ transport: 'u1', target: s.sipTarget, scenario: scn, ...extra, args: [...(extra.args ?? [])] });
}

/**
 * Waits for the next call the engine records to end, and returns it: one watcher per test file,
 * whose tests run serially (it counts the calls seen so far).
 */
export function endedCallWatcher(setup: () => InboundSetup, timeoutMs = 10_000): () => Promise<CallRow> {
  let seen = 0;
  return async () => {
    const s = setup();
    const c = await waitFor(async () => {
      const all = await calls(s);
      return all.length > seen && all.at(-1)!.endReason !== null ? all.at(-1) : undefined;
    }, timeoutMs);
    seen = (await calls(s)).length;
    return c;
  };
}

/** A SIPp scenario fragment: the caller's BYE after the call is answered (`afterAnswer`). */
export const SIPP_CALLER_BYE = `  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:+15550100@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 3 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>`;
