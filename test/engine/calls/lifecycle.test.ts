/**
 * Calls across the engine process's life: a graceful stop ends live calls with BYE; a crash
 * leaves them open, and the next start closes them with an explicit end reason.
 */
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { tempDir } from '../../helpers/config.js';
import { freePort, spawnEngine, type EngineProcess } from '../../helpers/engine-process.js';
import { request, waitFor } from '../../helpers/http.js';
import { scenario } from '../../helpers/inbound.js';
import { runSipp, sippMissing } from '../../helpers/sipp.js';

const missing = sippMissing();
if (missing) test('call lifecycle tests are skipped: ' + missing, (t) => t.pass());
const serial = missing ? test.skip : test.serial;

interface Running {
  engine: EngineProcess;
  base: string;
  sipPort: number;
}

/** Starts the real engine process on `db`, with a bootstrap owner, and waits until it is up. */
async function start(db: string, ports?: { http: number; sip: number }): Promise<Running> {
  const http = ports?.http ?? (await freePort());
  const sip = ports?.sip ?? (await freePort());
  const engine = spawnEngine({
    AS_HTTP_HOST: '127.0.0.1',
    AS_HTTP_PORT: String(http),
    AS_DATABASE_PATH: db,
    AS_MEDIA_WORKERS: '1',
    AS_LOG_PRETTY: 'false',
    AS_SIP_HOST: '127.0.0.1',
    AS_SIP_PORT: String(sip),
    AS_SIP_DRACHTIO_PORT: '0',
    AS_RTP_LISTEN_IP: '127.0.0.1',
    AS_BOOTSTRAP_TENANT_NAME: 'Acme',
    AS_BOOTSTRAP_OWNER_EMAIL: 'owner@acme.test',
    AS_BOOTSTRAP_OWNER_PASSWORD: 'correct horse battery staple',
  });
  const base = `http://127.0.0.1:${http}`;
  await waitFor(async () => (await request(base, 'GET', '/api/v1/health')).status === 200, 20_000).catch((e: Error) => {
    engine.child.kill('SIGKILL');
    throw new Error(`${e.message}\n${engine.stdout()}\n${engine.stderr()}`);
  });
  return { engine, base, sipPort: sip };
}

/** Agent, trunk and number `service`, through the REST API as the bootstrap owner. */
async function seed(base: string): Promise<void> {
  const login = await request<{ accessToken: string }>(base, 'POST', '/api/v1/auth/login', { body: { email: 'owner@acme.test', password: 'correct horse battery staple' } });
  const h = { authorization: `Bearer ${login.body.accessToken}` };
  const agent = await request<{ id: string }>(base, 'POST', '/api/v1/agents', { headers: h, body: { name: 'Echo', config: { prompt: { system: 'Echo.' } } } });
  const trunk = await request<{ id: string }>(base, 'POST', '/api/v1/sip-trunks', { headers: h, body: { name: 'local', inbound: { allowlist: ['127.0.0.1'] } } });
  const num = await request(base, 'POST', '/api/v1/phone-numbers', { headers: h, body: { number: 'service', agentId: agent.body.id, trunkId: trunk.body.id } });
  if (num.status !== 201) throw new Error(`seeding failed: ${JSON.stringify(num.body)}`);
}

const waitingForBye = async (sipPort: number, byeTimeoutMs = 15_000) =>
  runSipp({
    transport: 'u1',
    target: `127.0.0.1:${sipPort}`,
    scenario: scenario('inbound-callee-bye.xml', { payloadTypes: '0', rtpmaps: '      a=rtpmap:0 PCMU/8000', extraHeaders: '', why: 'engine stopping', headerRegexp: 'SIP/2.0 200', byeTimeoutMs }),
    args: [],
  });

function callRows(db: string): { status: string; end_reason: string | null; hangup_by: string | null }[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare('SELECT status, end_reason, hangup_by FROM calls').all() as never;
  } finally {
    d.close();
  }
}

function callEvents(db: string): { type: string; call_id: string; data: string }[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare('SELECT type, call_id, data FROM events WHERE call_id IS NOT NULL ORDER BY id').all() as never;
  } finally {
    d.close();
  }
}

serial('SIGTERM during a call: the caller gets BYE, the process exits 0, the call is recorded as ended by shutdown', async (t) => {
  const db = path.join(tempDir(), 'engine.db');
  const { engine, base, sipPort } = await start(db);
  t.teardown(() => engine.child.kill('SIGKILL'));
  await seed(base);
  const call = waitingForBye(sipPort);
  await waitFor(() => callRows(db).length === 1, 10_000);
  await new Promise((r) => setTimeout(r, 300));
  engine.child.kill('SIGTERM');
  const r = await call;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.slice(-2), ['<- BYE', '-> 200 BYE']);
  t.is((await engine.exited).code, 0, engine.stderr());
  t.deepEqual(callRows(db), [{ status: 'completed', end_reason: 'shutdown', hangup_by: 'system' }]);
});

serial('SIGKILL during a call: the next start closes the orphaned call with end reason engine_restart', async (t) => {
  const db = path.join(tempDir(), 'engine.db');
  const first = await start(db);
  t.teardown(() => first.engine.child.kill('SIGKILL'));
  await seed(first.base);
  const call = waitingForBye(first.sipPort, 3000);
  await waitFor(() => callRows(db).some((c) => c.status === 'in_progress'), 10_000);
  first.engine.child.kill('SIGKILL');
  await first.engine.exited;
  t.deepEqual(callRows(db), [{ status: 'in_progress', end_reason: null, hangup_by: null }]);

  const second = await start(db);
  t.teardown(() => second.engine.child.kill('SIGKILL'));
  t.deepEqual(callRows(db), [{ status: 'completed', end_reason: 'engine_restart', hangup_by: 'system' }]);
  // The timeline is closed too: a client resuming its event stream learns the call is over.
  const events = callEvents(db);
  t.deepEqual(events.map((e) => e.type), ['call.started', 'call.answered', 'call.ended']);
  t.like(JSON.parse(events[2]!.data), { callId: events[0]!.call_id, endReason: 'engine_restart', hangupBy: 'system' });
  second.engine.child.kill('SIGTERM');
  t.is((await second.engine.exited).code, 0);
  // The SIPp caller never hears a BYE from the dead process; it gives up on its own.
  await call;
});
