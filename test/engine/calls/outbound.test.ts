/**
 * Outbound calls (`POST /api/v1/calls`, engine/calls/outbound-*.ts) with a real SIPp UAS on
 * loopback as the carrier's gateway: answered (the agent speaks with the offline voice; the
 * gateway's BYE ends it completed), a 407 challenge, busy, no answer (CANCEL after the ring
 * timeout), DELETE while ringing, caller id, prefix rule and X- headers on the wire, the CPS cap
 * measured from SIPp's INVITE times, and 50 concurrent POSTs with one Idempotency-Key.
 */
import { createHash } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { parseDigest } from '../../../engine/calls/digest.js';
import { freePort } from '../../helpers/engine-process.js';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, timeline, type InboundSetup } from '../../helpers/inbound.js';
import { Phone } from '../../helpers/phone.js';
import { nothingLeft as nothingLeftOf, receivedRequests, sippUas } from '../../helpers/outbound.js';
import { sippMissing } from '../../helpers/sipp.js';
import { ENGINE_BYE, targetBye } from '../../helpers/transfer.js';
import { WsAgentServer } from '../../helpers/ws-agent.js';
import { g711Encode } from '../../../media/audio/g711.js';
import { sine } from '../../../media/audio/tone.js';
import { toneLevel } from '../../helpers/audio.js';
import { rtpPort } from '../../helpers/media.js';

const missing = sippMissing();
const sippTest = missing ? test.skip : test.serial;
if (missing) test('SIPp outbound tests are skipped: ' + missing, (t) => t.pass());

let s: InboundSetup;
test.before(async () => {
  if (missing) return;
  s = await inboundSetup({ sip: { ringMs: 0 } });
});
test.after.always(() => s?.close());

interface CallBody {
  id: string;
  status: string;
  direction: string;
  endReason: string | null;
  hangupBy: string | null;
  sipCode: number | null;
  answeredAt: string | null;
  queuePosition: number | null;
  estimatedStartAt: string | null;
  from: string | null;
  to: string | null;
  toUri: string | null;
  sipCallId: string | null;
  transcript: { role: string; text: string }[];
}

const h = () => s.tenant.headers;

/** A trunk whose outbound gateway is a SIPp UAS on `port`. */
async function trunkTo(port: number, extra: Record<string, unknown> = {}): Promise<string> {
  const outbound = { host: '127.0.0.1', port, ...((extra.outbound as object) ?? {}) };
  const r = await request<{ id: string }>(s.base, 'POST', '/api/v1/sip-trunks', { headers: h(), body: { name: `gw ${port}`, ...extra, outbound } });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  return r.body.id;
}

/** Starts SIPp as the gateway's UAS on `port`, and resolves once it listens. */
const gateway = sippUas;

const place = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  request<CallBody>(s.base, 'POST', '/api/v1/calls', { headers: { ...h(), ...headers }, body: { agentId: s.agentId, ...body } });

const getCall = async (id: string) => (await request<CallBody>(s.base, 'GET', `/api/v1/calls/${id}`, { headers: h() })).body;
const ended = (id: string, timeoutMs = 15_000) => waitFor(async () => ((await getCall(id)).endReason ? getCall(id) : undefined), timeoutMs);

const received = receivedRequests;
const nothingLeft = (t: ExecutionContext) => nothingLeftOf(t, s);

sippTest('answered: caller id, prefix rule and X- header on the wire, ringing then in_progress, the agent greets with the offline voice, the gateway BYE ends it completed (sipCode 200)', async (t) => {
  const port = await freePort();
  const trunkId = await trunkTo(port, { callerId: '+15550199', prefixRules: { outbound: { strip: '+', add: '00' } } });
  const agent = await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: h(), body: { config: { firstMessage: 'Hello, this is your appointment reminder.' } } });
  t.is(agent.status, 200, JSON.stringify(agent.body));
  // The other tests' calls echo: no greeting.
  t.teardown(async () => {
    const back = await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: h(), body: { config: { firstMessage: null } } });
    if (back.status !== 200) throw new Error(`agent not reset: ${JSON.stringify(back.body)}`);
  });
  const phone = await Phone.open();
  t.teardown(() => phone.close());
  const uas = await gateway(port, 'outbound-answer.xml', {
    ruri: `^INVITE sip:0015551234567@127\\.0\\.0\\.1:${port};user=phone SIP/2\\.0`,
    from: 'sip:\\+15550199@',
    xCampaign: '^ *spring-2027$',
    ringMs: 300,
    rtpPort: phone.port,
    tail: targetBye(4000),
  });
  const res = await place({ trunkId, to: '+15551234567', headers: { 'X-Campaign': 'spring-2027' }, variables: { customer: 'Ada' } });
  t.is(res.status, 201, JSON.stringify(res.body));
  t.like(res.body, { status: 'queued', direction: 'outbound', to: '+15551234567', from: '+15550199', endReason: null, sipCode: null });
  const live = await waitFor(() => [s.app.engine.calls.calls.get(res.body.id)].find((c) => c?.state === 'answered'), 10_000);
  t.like(await getCall(res.body.id), { status: 'in_progress' });
  phone.start(rtpPort(live.parts.leg));
  const started = performance.now();
  const r = await uas.done;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder, ['<- INVITE', '-> 180 INVITE', '-> 200 INVITE', '<- ACK', '-> BYE', '<- 200 BYE']);
  const call = await ended(res.body.id);
  t.like(call, { status: 'completed', endReason: 'callee_hangup', hangupBy: 'callee', sipCode: 200, toUri: `sip:0015551234567@127.0.0.1:${port};user=phone` });
  t.is(call.sipCallId, /^\s*Call-ID:\s*(\S+)/im.exec(received(r, 'INVITE')[0]!.text)?.[1] ?? 'no Call-ID', 'the record has the INVITE’s Call-ID');
  t.is(call.transcript[0]?.text, 'Hello, this is your appointment reminder.');
  const loud = phone.loudMs(started);
  t.log(`the gateway's phone heard ${loud} ms of the agent's greeting`);
  t.true(loud >= 1000, `${loud} ms of speech`);
  const types = await timeline(s, res.body.id);
  t.deepEqual(types.filter((x) => ['call.started', 'call.ringing', 'call.answered', 'call.ended'].includes(x)), ['call.started', 'call.ringing', 'call.answered', 'call.ended']);
  await nothingLeft(t);
});

sippTest('an answered outbound call runs a websocket agent like an inbound one: start says outbound, the agent hears the callee and the callee hears the agent', async (t) => {
  const port = await freePort();
  const trunkId = await trunkTo(port);
  const agent = await WsAgentServer.open();
  t.teardown(() => agent.close());
  const set = await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: h(), body: { config: { kind: 'websocket', websocket: { url: agent.url } } } });
  t.is(set.status, 200, JSON.stringify(set.body));
  t.teardown(async () => {
    const back = await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: h(), body: { config: { kind: 'builtin', websocket: null } } });
    if (back.status !== 200) throw new Error(`agent not reset: ${JSON.stringify(back.body)}`);
  });
  const phone = await Phone.open();
  t.teardown(() => phone.close());
  const uas = await gateway(port, 'outbound-answer.xml', { ruri: '^INVITE ', from: '.*', xCampaign: '.*', ringMs: 100, rtpPort: phone.port, tail: targetBye(3000) });
  const res = await place({ trunkId, to: '+15551234567', headers: { 'X-Campaign': 'ws' } });
  t.is(res.status, 201, JSON.stringify(res.body));
  const live = await waitFor(() => [s.app.engine.calls.calls.get(res.body.id)].find((c) => c?.state === 'answered'), 10_000);
  phone.start(rtpPort(live.parts.leg));
  const conn = await agent.connection(0);
  const start = (await conn.next('start')).msg;
  t.like(start, { type: 'start', callId: res.body.id, agentId: s.agentId, direction: 'outbound', to: '+15551234567' });
  // The agent answers with 1 s of 1 kHz: the callee's phone hears at least half of it (600 ms
  // left too little margin for a frame or two late on a loaded machine: 500-520 ms were heard).
  const sentAt = performance.now();
  conn.sendAudio(g711Encode('PCMU', sine(1000, 1000, { amplitude: 0.25 })));
  const heard = await waitFor(() => {
    const ms = phone.heard(sentAt).filter((f) => toneLevel(f.pcm, 1000) > 3000).length * 20;
    return ms >= 500 ? ms : undefined;
  }, 5000);
  t.log(`the callee heard ${heard} ms of the agent's tone; the agent got ${conn.frames.length} frames of the callee`);
  t.true(conn.frames.length > 10, 'the agent receives the callee’s audio');
  const r = await uas.done;
  t.is(r.code, 0, r.output + r.errors);
  t.like(await ended(res.body.id), { status: 'completed', endReason: 'callee_hangup' });
  t.like((await conn.next('stop')).msg, { type: 'stop' });
});

sippTest('a 407 challenge is answered with the trunk credentials (Proxy-Authorization checked against the password), then answered; the API hangup BYEs it (api_hangup)', async (t) => {
  const port = await freePort();
  const trunkId = await trunkTo(port, { outbound: { username: 'acme', password: 'secret-pass-1' } });
  const uas = await gateway(port, 'outbound-digest.xml', { username: 'acme', rtpPort: 9, tail: ENGINE_BYE });
  const res = await place({ trunkId, to: '+15551234567' });
  t.is(res.status, 201, JSON.stringify(res.body));
  await waitFor(async () => (await getCall(res.body.id)).status === 'in_progress', 10_000);
  const hangup = await request(s.base, 'POST', `/api/v1/calls/${res.body.id}/hangup`, { headers: h() });
  t.is(hangup.status, 202, JSON.stringify(hangup.body));
  const r = await uas.done;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder, ['<- INVITE', '-> 407 INVITE', '<- ACK', '<- INVITE', '-> 200 INVITE', '<- ACK', '<- BYE', '-> 200 BYE']);
  const second = received(r, 'INVITE')[1]!.text;
  const header = /^\s*Proxy-Authorization:\s*(.+)$/im.exec(second)?.[1]?.trim();
  const creds = parseDigest(header);
  t.truthy(creds, header);
  const md5 = (x: string) => createHash('md5').update(x).digest('hex');
  const ha1 = md5(`acme:carrier.test:secret-pass-1`);
  const ha2 = md5(`INVITE:${creds!.uri}`);
  t.is(creds!.response, md5(`${ha1}:${creds!.nonce}:${creds!.nc}:${creds!.cnonce}:auth:${ha2}`), 'the digest answers the challenge with the trunk password');
  t.like(await ended(res.body.id), { status: 'completed', endReason: 'api_hangup', sipCode: 200 });
  await nothingLeft(t);
});

for (const c of [
  { status: '486 Busy Here', want: { status: 'busy', endReason: 'busy', sipCode: 486 } },
  { status: '600 Busy Everywhere', want: { status: 'busy', endReason: 'busy', sipCode: 600 } },
  { status: '603 Decline', want: { status: 'failed', endReason: 'rejected', sipCode: 603 } },
]) {
  sippTest(`${c.status} -> ${c.want.status} with cause ${c.want.sipCode}`, async (t) => {
    const port = await freePort();
    const trunkId = await trunkTo(port);
    const uas = await gateway(port, 'outbound-refuse.xml', { status: c.status });
    const res = await place({ trunkId, to: '+15551234567' });
    const r = await uas.done;
    t.is(r.code, 0, r.output + r.errors);
    t.like(await ended(res.body.id), { ...c.want, hangupBy: 'callee', answeredAt: null });
    const types = await timeline(s, res.body.id);
    t.deepEqual(types, ['call.started', 'call.ended']);
    await nothingLeft(t);
  });
}

sippTest('no answer: CANCEL after ringTimeoutSeconds, status no_answer, no sipCode', async (t) => {
  const port = await freePort();
  const trunkId = await trunkTo(port);
  const uas = await gateway(port, 'transfer-target-ring.xml', {});
  const t0 = performance.now();
  const res = await place({ trunkId, to: '+15551234567', ringTimeoutSeconds: 5 });
  const r = await uas.done;
  const took = performance.now() - t0;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder, ['<- INVITE', '-> 180 INVITE', '<- CANCEL', '-> 200 CANCEL', '-> 487 INVITE', '<- ACK']);
  t.like(await ended(res.body.id), { status: 'no_answer', endReason: 'no_answer', hangupBy: 'system', sipCode: null });
  t.true(took >= 5000 && took < 9000, `CANCEL after ${took.toFixed(0)} ms`);
  t.deepEqual(await timeline(s, res.body.id), ['call.started', 'call.ringing', 'call.ended']);
  await nothingLeft(t);
});

sippTest('DELETE of a ringing call: CANCEL on the wire, status canceled; DELETE again is a conflict', async (t) => {
  const port = await freePort();
  const trunkId = await trunkTo(port);
  const uas = await gateway(port, 'transfer-target-ring.xml', {});
  const res = await place({ trunkId, to: '+15551234567' });
  await waitFor(async () => (await getCall(res.body.id)).status === 'ringing', 10_000);
  const del = await request<CallBody>(s.base, 'DELETE', `/api/v1/calls/${res.body.id}`, { headers: h() });
  t.is(del.status, 200, JSON.stringify(del.body));
  t.like(del.body, { status: 'canceled', endReason: 'canceled' });
  const r = await uas.done;
  t.is(r.code, 0, r.output + r.errors);
  t.true(r.ladder.includes('<- CANCEL'), r.ladder.join(', '));
  const again = await request<{ error: { code: string } }>(s.base, 'POST', `/api/v1/calls/${res.body.id}/cancel`, { headers: h() });
  t.is(again.status, 409);
  t.is(again.body.error.code, 'conflict');
  await nothingLeft(t);
});

sippTest('CPS cap 5/s: 10 calls queue, their INVITEs never faster than the cap (SIPp timestamps: 9 gaps over >= 1780 ms, none under 150 ms), queued calls show position and estimated start', async (t) => {
  const port = await freePort();
  const trunkId = await trunkTo(port, { cpsLimit: 5 });
  const uas = await gateway(port, 'outbound-refuse.xml', { status: '486 Busy Here' }, 10);
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) ids.push((await place({ trunkId, to: `+1555123450${i}` })).body.id);
  const last = await getCall(ids[9]!);
  t.is(last.status, 'queued');
  t.truthy(last.queuePosition && last.queuePosition >= 5, `position ${last.queuePosition}`);
  t.truthy(last.estimatedStartAt && Date.parse(last.estimatedStartAt) > Date.now() + 500, `estimate ${last.estimatedStartAt}`);
  const r = await uas.done;
  t.is(r.code, 0, r.output + r.errors);
  const times = received(r, 'INVITE').map((b) => b.at);
  t.is(times.length, 10);
  const gaps = times.slice(1).map((x, i) => x - times[i]!);
  const span = times.at(-1)! - times[0]!;
  t.log(`INVITE gaps (ms): ${gaps.map((g) => g.toFixed(0)).join(' ')}; min ${Math.min(...gaps).toFixed(0)}, 10 INVITEs over ${span.toFixed(0)} ms (${((9 * 1000) / span).toFixed(2)}/s for a cap of 5/s)`);
  // The cap over the whole run, and per gap with room for one arrival SIPp stamped late on a
  // loaded machine (which shortens the next gap by as much).
  t.true(span >= 9 * 200 - 20, `span ${span.toFixed(0)} ms`);
  t.true(gaps.every((g) => g >= 150), gaps.join(' '));
  for (const id of ids) t.like(await ended(id), { status: 'busy', sipCode: 486 });
  await nothingLeft(t);
});

sippTest('50 concurrent POSTs with one Idempotency-Key: one call, one INVITE; the others replay it or get 409', async (t) => {
  const port = await freePort();
  const trunkId = await trunkTo(port);
  const uas = await gateway(port, 'outbound-refuse.xml', { status: '486 Busy Here' });
  const key = `k-${Date.now()}`;
  const answers = await Promise.all(Array.from({ length: 50 }, () => place({ trunkId, to: '+15551234567' }, { 'idempotency-key': key })));
  const ids = new Set(answers.filter((a) => a.status === 201).map((a) => a.body.id));
  const statuses = answers.reduce<Record<number, number>>((m, a) => ({ ...m, [a.status]: (m[a.status] ?? 0) + 1 }), {});
  t.log(`answers: ${JSON.stringify(statuses)}, replayed ${answers.filter((a) => a.headers.get('idempotent-replayed') === 'true').length}`);
  t.is(ids.size, 1);
  t.true(answers.every((a) => a.status === 201 || a.status === 409), JSON.stringify(statuses));
  const r = await uas.done;
  t.is(r.code, 0, r.output + r.errors);
  // Another INVITE would reach SIPp after its one call: give it time to, then count.
  await new Promise((res) => setTimeout(res, 500));
  t.is(received(r, 'INVITE').length, 1);
  const mine = (await request<{ items: { id: string; trunkId: string }[] }>(s.base, 'GET', '/api/v1/calls?limit=100&direction=outbound', { headers: h() })).body.items.filter((c) => c.trunkId === trunkId);
  t.is(mine.length, 1);
  await nothingLeft(t);
});
