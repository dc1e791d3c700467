/**
 * Outbound calls to a registered SIP user (`POST /api/v1/calls` with `sipUserId`, or `to` as the
 * user's address of record): a SIPp device REGISTERs over UDP with digest as a stored SIP user,
 * then takes the engine's INVITE on the same port. Answered (the agent greets with the offline
 * voice and the device hears it), no answer (CANCEL after the ring timeout), the tenant-wide cap
 * queueing a second call and DELETE of a ringing and a queued call, and a user with no binding.
 * A user with two devices has both rung at once: the one that answers carries the call, the
 * other is CANCELed. The engine runs with `outboundTenantMaxCalls` 1, so the cap is seen on the wire.
 */
import dgram from 'node:dgram';
import test, { type ExecutionContext } from 'ava';
import { freePort } from '../../helpers/engine-process.js';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, scenario, timeline, type InboundSetup } from '../../helpers/inbound.js';
import { nothingLeft as nothingLeftOf, receivedRequests, sippUas } from '../../helpers/outbound.js';
import { rtpPort } from '../../helpers/media.js';
import { Phone } from '../../helpers/phone.js';
import { runSipp, sippMissing } from '../../helpers/sipp.js';
import { targetBye } from '../../helpers/transfer.js';

const missing = sippMissing();
const sippTest = missing ? test.skip : test.serial;
if (missing) test('SIPp tests of outbound calls to SIP users are skipped: ' + missing, (t) => t.pass());

const PASSWORD = 'desk-secret-1';
let s: InboundSetup;
/** The tenant's SIP domain and its user `desk`. */
let domain = '';
let deskId = '';
let deskAor = '';

test.before(async () => {
  if (missing) return;
  s = await inboundSetup({ sip: { ringMs: 0, outboundTenantMaxCalls: 1 } });
  domain = `${s.tenant.tenantId}.live`;
  const user = await request<{ id: string; aor: string }>(s.base, 'POST', '/api/v1/sip-users', { headers: h(), body: { username: 'desk', password: PASSWORD } });
  if (user.status !== 201) throw new Error(JSON.stringify(user.body));
  deskId = user.body.id;
  deskAor = user.body.aor;
});
test.after.always(() => s?.close());

interface CallBody {
  id: string;
  status: string;
  endReason: string | null;
  hangupBy: string | null;
  sipCode: number | null;
  answeredAt: string | null;
  queuePosition: number | null;
  to: string | null;
  toUri: string | null;
  trunkId: string | null;
  sipCallId: string | null;
  metadata: Record<string, unknown>;
  transcript: { role: string; text: string }[];
}

const h = () => s.tenant.headers;
const place = (body: Record<string, unknown>) => request<CallBody>(s.base, 'POST', '/api/v1/calls', { headers: h(), body: { agentId: s.agentId, ...body } });
const getCall = async (id: string) => (await request<CallBody>(s.base, 'GET', `/api/v1/calls/${id}`, { headers: h() })).body;
const ended = (id: string, timeoutMs = 15_000) => waitFor(async () => ((await getCall(id)).endReason ? getCall(id) : undefined), timeoutMs);
const nothingLeft = (t: ExecutionContext) => nothingLeftOf(t, s);

/**
 * The desk phone comes up on UDP `port`: SIPp REGISTERs there as `desk` (401, then digest), so
 * the binding is `sip:desk@127.0.0.1:<port>`, reached over UDP. Resolves once the registrar holds it.
 */
async function registerDesk(t: ExecutionContext, port: number, expires = 300): Promise<void> {
  const reg = await runSipp({
    transport: 'u1',
    target: s.sipTarget,
    scenario: scenario('user-register.xml', { domain, expires, granted: expires ? `sip:desk@127\\.0\\.0\\.1:${port}[^;]*;expires=[0-9]+` : '^SIP/2\\.0 200' }),
    args: ['-s', 'desk', '-au', 'desk', '-ap', PASSWORD, '-p', String(port)],
    timeoutSeconds: 15,
  });
  t.is(reg.code, 0, reg.output + reg.errors);
  t.deepEqual(reg.ladder, ['-> REGISTER', '<- 401 REGISTER', '-> REGISTER', '<- 200 REGISTER']);
  const listed = await request<{ items: { contact: string; transport: string }[] }>(s.base, 'GET', `/api/v1/sip-users/${deskId}/registrations`, { headers: h() });
  if (!expires) {
    t.deepEqual(listed.body.items, []);
    return;
  }
  // Each test's phone leaves: the next one registers afresh (the newest binding is the one dialled).
  t.teardown(() => s.app.engine.registrar.unbind(deskAor));
  t.true(
    listed.body.items.some((b) => b.contact === `sip:desk@127.0.0.1:${port}` && b.transport === 'udp'),
    JSON.stringify(listed.body.items),
  );
}

const GREETING = 'Hello desk, this is the front office.';

/** The shared agent speaks `text` first for this test; reset when it ends. */
async function greetWith(t: ExecutionContext, text: string): Promise<void> {
  const agent = await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: h(), body: { config: { firstMessage: text } } });
  t.is(agent.status, 200, JSON.stringify(agent.body));
  t.teardown(async () => {
    const back = await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: h(), body: { config: { firstMessage: null } } });
    if (back.status !== 200) throw new Error(`agent not reset: ${JSON.stringify(back.body)}`);
  });
}

/** The call's lifecycle events, in order (the runtime's own events left out). */
async function lifecycle(callId: string): Promise<string[]> {
  const lifecycleTypes = ['call.started', 'call.ringing', 'call.answered', 'call.ended'];
  return (await timeline(s, callId)).filter((x) => lifecycleTypes.includes(x));
}

sippTest('a registered SIP device is called by sipUserId: INVITE to its binding, ringing then in_progress, the agent greets and the device hears it, its BYE ends the call completed', async (t) => {
  const port = await freePort();
  await registerDesk(t, port);
  await greetWith(t, GREETING);
  const phone = await Phone.open();
  t.teardown(() => phone.close());
  const uas = await sippUas(port, 'outbound-answer.xml', {
    ruri: `^INVITE sip:desk@127\\.0\\.0\\.1:${port} SIP/2\\.0`,
    from: 'sip:\\+15550142@',
    xCampaign: '^ *desk-call$',
    ringMs: 300,
    rtpPort: phone.port,
    tail: targetBye(4000),
  });
  const res = await place({ sipUserId: deskId, from: '+15550142', headers: { 'X-Campaign': 'desk-call' } });
  t.is(res.status, 201, JSON.stringify(res.body));
  t.like(res.body, { to: deskAor, toUri: deskAor, trunkId: null, endReason: null, metadata: { sipUserId: deskId } });
  const live = await waitFor(() => [s.app.engine.calls.calls.get(res.body.id)].find((c) => c?.state === 'answered'), 10_000);
  t.like(await getCall(res.body.id), { status: 'in_progress' });
  phone.start(rtpPort(live.parts.leg));
  const started = performance.now();
  const r = await uas.done;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder, ['<- INVITE', '-> 180 INVITE', '-> 200 INVITE', '<- ACK', '-> BYE', '<- 200 BYE']);
  const call = await ended(res.body.id);
  t.like(call, { status: 'completed', endReason: 'callee_hangup', hangupBy: 'callee', sipCode: 200, toUri: deskAor, trunkId: null });
  t.is(call.sipCallId, /^\s*Call-ID:\s*(\S+)/im.exec(receivedRequests(r, 'INVITE')[0]!.text)?.[1] ?? 'no Call-ID', 'the record has the INVITE’s Call-ID');
  t.is(call.transcript[0]?.text, GREETING);
  const loud = phone.loudMs(started);
  t.log(`the desk phone heard ${loud} ms of the agent's greeting`);
  t.true(loud >= 1000, `${loud} ms of speech`);
  t.deepEqual(await lifecycle(res.body.id), ['call.started', 'call.ringing', 'call.answered', 'call.ended']);
  await nothingLeft(t);
});

sippTest('a SIP user with two devices is called: both ring at once, the first to answer carries the call (the agent greets, the device hears it), the other is CANCELed; one record, the winner’s Call-ID', async (t) => {
  const [answers, rings] = [await freePort(), await freePort()];
  await registerDesk(t, answers);
  await registerDesk(t, rings);
  const listed = await request<{ items: unknown[] }>(s.base, 'GET', `/api/v1/sip-users/${deskId}/registrations`, { headers: h() });
  t.is(listed.body.items.length, 2, 'two bindings');
  await greetWith(t, GREETING);
  const phone = await Phone.open();
  t.teardown(() => phone.close());
  const ringer = await sippUas(rings, 'transfer-target-ring.xml', {});
  const uas = await sippUas(answers, 'outbound-answer.xml', {
    ruri: `^INVITE sip:desk@127\\.0\\.0\\.1:${answers} SIP/2\\.0`,
    from: 'sip:\\+15550142@',
    xCampaign: '^ *two-desks$',
    ringMs: 500,
    rtpPort: phone.port,
    tail: targetBye(3000),
  });
  const t0 = performance.now();
  const res = await place({ sipUserId: deskId, from: '+15550142', headers: { 'X-Campaign': 'two-desks' } });
  t.is(res.status, 201, JSON.stringify(res.body));
  const live = await waitFor(() => [s.app.engine.calls.calls.get(res.body.id)].find((c) => c?.state === 'answered'), 10_000);
  phone.start(rtpPort(live.parts.leg));
  const started = performance.now();
  const rung = await ringer.done;
  t.is(rung.code, 0, rung.output + rung.errors);
  t.deepEqual(rung.ladder, ['<- INVITE', '-> 180 INVITE', '<- CANCEL', '-> 200 CANCEL', '-> 487 INVITE', '<- ACK'], 'the other device is CANCELed');
  t.log(`the other device was CANCELed ${(performance.now() - t0).toFixed(0)} ms after the call was placed (the first answered after a 500 ms ring)`);
  const r = await uas.done;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder, ['<- INVITE', '-> 180 INVITE', '-> 200 INVITE', '<- ACK', '-> BYE', '<- 200 BYE']);
  const call = await ended(res.body.id);
  t.like(call, { status: 'completed', endReason: 'callee_hangup', hangupBy: 'callee', sipCode: 200, toUri: deskAor, trunkId: null });
  t.is(call.sipCallId, /^\s*Call-ID:\s*(\S+)/im.exec(receivedRequests(r, 'INVITE')[0]!.text)?.[1] ?? 'no Call-ID', 'the record has the answering INVITE’s Call-ID');
  const loud = phone.loudMs(started);
  t.log(`the answering device heard ${loud} ms of the agent's greeting`);
  t.true(loud >= 1000, `${loud} ms of speech`);
  t.deepEqual(await lifecycle(res.body.id), ['call.started', 'call.ringing', 'call.answered', 'call.ended']);
  await nothingLeft(t);
});

sippTest('both devices refuse (486 and 603): the best refusal ends the call (603 over 486: rejected, sipCode 603), no leg left', async (t) => {
  const [busy, declines] = [await freePort(), await freePort()];
  await registerDesk(t, busy);
  await registerDesk(t, declines);
  const a = await sippUas(busy, 'outbound-refuse.xml', { status: '486 Busy Here' });
  const b = await sippUas(declines, 'outbound-refuse.xml', { status: '603 Decline' });
  const res = await place({ sipUserId: deskId });
  t.is(res.status, 201, JSON.stringify(res.body));
  const [ra, rb] = await Promise.all([a.done, b.done]);
  t.is(ra.code, 0, ra.output + ra.errors);
  t.is(rb.code, 0, rb.output + rb.errors);
  t.like(await ended(res.body.id), { status: 'failed', endReason: 'rejected', hangupBy: 'callee', sipCode: 603, answeredAt: null });
  t.deepEqual(await timeline(s, res.body.id), ['call.started', 'call.ended']);
  await nothingLeft(t);
});

sippTest('no answer from the device (called by its address of record): CANCEL after ringTimeoutSeconds, status no_answer, no sipCode', async (t) => {
  const port = await freePort();
  await registerDesk(t, port);
  const uas = await sippUas(port, 'transfer-target-ring.xml', {});
  const t0 = performance.now();
  const res = await place({ to: deskAor, ringTimeoutSeconds: 5 });
  t.is(res.status, 201, JSON.stringify(res.body));
  const r = await uas.done;
  const took = performance.now() - t0;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder, ['<- INVITE', '-> 180 INVITE', '<- CANCEL', '-> 200 CANCEL', '-> 487 INVITE', '<- ACK']);
  t.like(await ended(res.body.id), { status: 'no_answer', endReason: 'no_answer', hangupBy: 'system', sipCode: null });
  t.log(`CANCEL after ${took.toFixed(0)} ms for a ring timeout of 5 s`);
  t.true(took >= 5000 && took < 9000, `CANCEL after ${took.toFixed(0)} ms`);
  t.deepEqual(await timeline(s, res.body.id), ['call.started', 'call.ringing', 'call.ended']);
  await nothingLeft(t);
});

sippTest('the tenant-wide cap (1 here) queues a second call to the user; DELETE of the ringing one CANCELs it, the queued one is then dialled, and DELETE cancels it too', async (t) => {
  const port = await freePort();
  await registerDesk(t, port);
  const uas = await sippUas(port, 'transfer-target-ring.xml', {}, 2);
  const first = await place({ sipUserId: deskId });
  t.is(first.status, 201, JSON.stringify(first.body));
  await waitFor(async () => (await getCall(first.body.id)).status === 'ringing', 10_000);
  const second = await place({ sipUserId: deskId });
  t.is(second.status, 201, JSON.stringify(second.body));
  t.like(second.body, { status: 'queued', queuePosition: 1 });
  // Held by the cap, not by time: it stays queued while the first rings.
  await new Promise((r) => setTimeout(r, 500));
  t.like(await getCall(second.body.id), { status: 'queued' });
  const del = await request<CallBody>(s.base, 'DELETE', `/api/v1/calls/${first.body.id}`, { headers: h() });
  t.is(del.status, 200, JSON.stringify(del.body));
  t.like(del.body, { status: 'canceled', endReason: 'canceled', sipCode: null });
  await waitFor(async () => (await getCall(second.body.id)).status === 'ringing', 10_000);
  const del2 = await request<CallBody>(s.base, 'POST', `/api/v1/calls/${second.body.id}/cancel`, { headers: h() });
  t.like(del2.body, { status: 'canceled', endReason: 'canceled' });
  const r = await uas.done;
  t.is(r.code, 0, r.output + r.errors);
  t.is(receivedRequests(r, 'INVITE').length, 2);
  t.is(receivedRequests(r, 'CANCEL').length, 2);
  const again = await request<{ error: { code: string } }>(s.base, 'DELETE', `/api/v1/calls/${first.body.id}`, { headers: h() });
  t.is(again.status, 409);
  t.deepEqual(await timeline(s, second.body.id), ['call.started', 'call.ringing', 'call.ended']);
  await nothingLeft(t);
});

sippTest('a SIP user with no binding: the call is recorded and ends failed, not_registered, without an INVITE; so does one whose device unregistered', async (t) => {
  const away = await request<{ id: string; aor: string }>(s.base, 'POST', '/api/v1/sip-users', { headers: h(), body: { username: 'away', password: 'away-secret-1' } });
  t.is(away.status, 201, JSON.stringify(away.body));
  const res = await place({ sipUserId: away.body.id });
  t.is(res.status, 201, JSON.stringify(res.body));
  t.like(await ended(res.body.id), { status: 'failed', endReason: 'not_registered', hangupBy: 'system', sipCode: null, answeredAt: null, sipCallId: null, toUri: away.body.aor });
  t.deepEqual(await timeline(s, res.body.id), ['call.started', 'call.ended']);
  // The desk registers, then unregisters (Expires: 0) before the call: nothing goes to its old address.
  const port = await freePort();
  await registerDesk(t, port);
  await registerDesk(t, port, 0);
  const old = await UdpListener.open(port);
  t.teardown(() => old.close());
  const gone = await place({ to: deskAor });
  t.is(gone.status, 201, JSON.stringify(gone.body));
  t.like(await ended(gone.body.id), { status: 'failed', endReason: 'not_registered' });
  await new Promise((r) => setTimeout(r, 500));
  t.deepEqual(old.received, [], 'no INVITE to the old binding');
  await nothingLeft(t);
});

/** A UDP socket on a device's old port: what reaches it was sent by the engine. */
class UdpListener {
  readonly received: string[] = [];
  private constructor(private readonly sock: dgram.Socket) {
    sock.on('message', (m) => this.received.push(m.toString('latin1')));
  }

  static async open(port: number): Promise<UdpListener> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, '127.0.0.1', () => resolve());
    });
    return new UdpListener(sock);
  }

  close(): void {
    this.sock.close();
  }
}
