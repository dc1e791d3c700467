/**
 * Outbound calls beyond one call's ladder, with SIPp UASes on loopback as the carrier: the
 * trunk's and the tenant's concurrency caps (calls queue behind them and go out when one ends),
 * early media from a 183 with SDP (the far end's audio reaches the engine's leg while ringing),
 * and an engine stop with calls queued and ringing (CANCEL on the wire, nothing left queued).
 */
import dgram from 'node:dgram';
import Database from 'better-sqlite3';
import test from 'ava';
import { freePort } from '../../helpers/engine-process.js';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, scenario, type InboundSetup } from '../../helpers/inbound.js';
import { RtpPeer } from '../../helpers/rtp-peer.js';
import { runSipp, sippMissing, type SippResult } from '../../helpers/sipp.js';
import { targetBye } from '../../helpers/transfer.js';
import { rtpPort } from '../../helpers/media.js';

const missing = sippMissing();
const sippTest = missing ? test.skip : test.serial;
if (missing) test('SIPp outbound lifecycle tests are skipped: ' + missing, (t) => t.pass());

/** The tenant-wide cap of this file's engine: two live outbound calls. */
const TENANT_MAX = 2;

let s: InboundSetup;
test.before(async () => {
  if (missing) return;
  s = await inboundSetup({ sip: { ringMs: 0, outboundTenantMaxCalls: TENANT_MAX } });
});
test.after.always(() => s?.close());

async function trunkTo(setup: InboundSetup, port: number, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await request<{ id: string }>(setup.base, 'POST', '/api/v1/sip-trunks', { headers: setup.tenant.headers, body: { name: `gw ${port} ${Math.random()}`, outbound: { host: '127.0.0.1', port }, ...extra } });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  return r.body.id;
}

function bound(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', () => resolve(true));
    sock.bind({ address: '127.0.0.1', port, exclusive: true }, () => sock.close(() => resolve(false)));
  });
}

async function gateway(port: number, file: string, vars: Record<string, string | number>, calls = 1): Promise<{ done: Promise<SippResult> }> {
  const done = runSipp({ transport: 'u1', target: '127.0.0.1:9', scenario: scenario(file, vars), args: ['-p', String(port)], calls, timeoutSeconds: 40 });
  await waitFor(() => bound(port), 5000, 20);
  return { done };
}

interface CallBody {
  id: string;
  status: string;
  endReason: string | null;
  queuePosition: number | null;
}

const place = (setup: InboundSetup, trunkId: string, to: string) =>
  request<CallBody>(setup.base, 'POST', '/api/v1/calls', { headers: setup.tenant.headers, body: { agentId: setup.agentId, trunkId, to } });
const getCall = async (setup: InboundSetup, id: string) => (await request<CallBody>(setup.base, 'GET', `/api/v1/calls/${id}`, { headers: setup.tenant.headers })).body;
const cancel = (setup: InboundSetup, id: string) => request<CallBody>(setup.base, 'DELETE', `/api/v1/calls/${id}`, { headers: setup.tenant.headers });

sippTest(`caps queue, never drop: trunk A (maxConcurrentCalls 1) and the tenant (${TENANT_MAX}) hold calls queued until a live one ends`, async (t) => {
  const port = await freePort();
  const uas = await gateway(port, 'transfer-target-ring.xml', {}, 4);
  const a = await trunkTo(s, port, { maxConcurrentCalls: 1 });
  const b = await trunkTo(s, port);
  const a1 = (await place(s, a, '+15550000001')).body;
  const a2 = (await place(s, a, '+15550000002')).body;
  const b1 = (await place(s, b, '+15550000003')).body;
  const b2 = (await place(s, b, '+15550000004')).body;
  await waitFor(async () => (await getCall(s, a1.id)).status === 'ringing' && (await getCall(s, b1.id)).status === 'ringing', 10_000);
  // Held back: a2 by its trunk's cap, b2 by the tenant's (a1 and b1 are live).
  await new Promise((r) => setTimeout(r, 500));
  t.like(await getCall(s, a2.id), { status: 'queued', queuePosition: 1 });
  t.like(await getCall(s, b2.id), { status: 'queued', queuePosition: 1 });
  t.like((await cancel(s, a1.id)).body, { status: 'canceled' });
  // a1's end frees trunk A and one tenant place: a2 goes out; b2 still waits for the tenant.
  await waitFor(async () => (await getCall(s, a2.id)).status === 'ringing', 10_000);
  await new Promise((r) => setTimeout(r, 500));
  t.like(await getCall(s, b2.id), { status: 'queued' });
  t.like((await cancel(s, b1.id)).body, { status: 'canceled' });
  await waitFor(async () => (await getCall(s, b2.id)).status === 'ringing', 10_000);
  for (const c of [a2, b2]) t.like((await cancel(s, c.id)).body, { status: 'canceled' });
  const r = await uas.done;
  t.is(r.code, 0, r.output + r.errors);
  t.is(r.ladder.filter((l) => l === '<- INVITE').length, 4);
  t.is(r.ladder.filter((l) => l === '<- CANCEL').length, 4);
});

sippTest('early media: a 183 with SDP makes the call ringing and the far end’s audio reaches the engine’s leg before the 200', async (t) => {
  const port = await freePort();
  const peer = await RtpPeer.open();
  t.teardown(() => peer.close());
  const uas = await gateway(port, 'outbound-early-media.xml', { rtpPort: peer.port, earlyMs: 3000, tail: targetBye(500) });
  const trunkId = await trunkTo(s, port);
  const res = await place(s, trunkId, '+15551234567');
  const call = await waitFor(() => [s.app.engine.calls.calls.get(res.body.id)].find((c) => c?.state === 'ringing' && c.parts.leg), 10_000);
  // The 183's answer is the leg's: it sends to the far end's address and takes its codec now.
  await waitFor(() => call.parts.leg!.negotiation.remote.port === peer.port, 2000).catch(() => undefined);
  t.is(call.parts.leg!.negotiation.remote.port, peer.port, 'the leg took the early answer');
  await peer.stream({ to: rtpPort(call.parts.leg), count: 40 });
  const stats = await call.parts.leg!.stats();
  t.is(call.state, 'ringing', 'still before the 200');
  t.like(await getCall(s, res.body.id), { status: 'ringing' });
  t.log(`early media: ${stats.rtpPacketsIn} of 40 packets from the far end reached the leg while ringing`);
  t.true(stats.rtpPacketsIn >= 30, `${stats.rtpPacketsIn} packets in`);
  const r = await uas.done;
  t.is(r.code, 0, r.output + r.errors);
  const ended = await waitFor(async () => ((await getCall(s, res.body.id)).endReason ? getCall(s, res.body.id) : undefined), 10_000);
  t.like(ended, { status: 'completed', endReason: 'callee_hangup' });
});

sippTest('an engine stop with calls ringing and queued: CANCEL on the wire, every call ended shutdown, nothing left queued or ringing in the store', async (t) => {
  const own = await inboundSetup({ sip: { ringMs: 0 } });
  let closed = false;
  t.teardown(() => (closed ? undefined : own.close()));
  const port = await freePort();
  const uas = await gateway(port, 'transfer-target-ring.xml', {});
  const trunkId = await trunkTo(own, port, { cpsLimit: 1 });
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push((await place(own, trunkId, `+1555000010${i}`)).body.id);
  await waitFor(async () => (await getCall(own, ids[0]!)).status === 'ringing', 10_000);
  t.like(await getCall(own, ids[2]!), { status: 'queued', queuePosition: 2 });
  const dbPath = own.app.engine.config.database.path;
  await own.app.close();
  closed = true;
  const r = await uas.done;
  t.is(r.code, 0, r.output + r.errors);
  t.true(r.ladder.includes('<- CANCEL'), r.ladder.join(', '));
  const db = new Database(dbPath, { readonly: true });
  t.teardown(() => db.close());
  const rows = db.prepare('SELECT id, status, end_reason FROM calls WHERE direction = ? ORDER BY started_at').all('outbound') as { id: string; status: string; end_reason: string }[];
  t.deepEqual(
    rows.map((x) => [x.status, x.end_reason]),
    [
      ['failed', 'shutdown'],
      ['failed', 'shutdown'],
      ['failed', 'shutdown'],
    ],
  );
  const ended = db.prepare("SELECT COUNT(*) AS n FROM events WHERE type = 'call.ended' AND call_id IN (?, ?, ?)").get(...ids) as { n: number };
  t.is(ended.n, 3, 'each call has its call.ended');
});
