/**
 * A carrier's call through a trunk to a number that rings a registered SIP user
 * (engine/calls/trunk-user-call.ts): SIPp is the trunk, SIPp UASes REGISTER with digest as the user
 * `desk` and take the engine's INVITEs on the ports they registered. The engine bridges the call
 * through mediasoup (RTP both ways, counted at both peers), every binding rings and the first 200
 * wins (the others are CANCELed), refusals and ring-outs reach the caller, and each call is a
 * call record with its timeline. The engine runs with `sip.userRingMs` 3000, so a ring-out is seen
 * in a few seconds, and `sip.maxCalls` 1, so the cap is seen on the wire. A registered SIP user
 * (SIPp, `front`) dialling the number is bridged the same way, as a `web` call.
 */
import fs from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import type { CallLeg } from '../../../media/call-leg.js';
import { freePort } from '../../helpers/engine-process.js';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, scenario, timeline, type InboundSetup } from '../../helpers/inbound.js';
import { rtpPort } from '../../helpers/media.js';
import { nothingLeft as nothingLeftOf, receivedRequests, sippUas, udpBound } from '../../helpers/outbound.js';
import { RtpPeer, tonePayload } from '../../helpers/rtp-peer.js';
import { runSipp, sippMissing, type SippResult } from '../../helpers/sipp.js';
import { ENGINE_BYE, targetBye } from '../../helpers/transfer.js';
import { carrierCalls as carrierCallsOf, trunkAnswered, trunkCallerBye, trunkCancels, trunkRefused } from '../../helpers/trunk-caller.js';

const missing = sippMissing();
const sippTest = missing ? test.skip : test.serial;
if (missing) test('SIPp tests of trunk calls to SIP users are skipped: ' + missing, (t) => t.pass());

const PASSWORD = 'desk-secret-1';
const USER_RING_MS = 3000;
const NUMBER = '+15550177';
let s: InboundSetup;
let domain = '';
let deskAor = '';
let numberId = '';

test.before(async () => {
  if (missing) return;
  // One call at a time (`sip.maxCalls` 1): a trunk's call to a user counts against the engine's cap.
  s = await inboundSetup({ sip: { ringMs: 0, userRingMs: USER_RING_MS, maxCalls: 1 } });
  domain = `${s.tenant.tenantId}.live`;
  const user = await request<{ id: string; aor: string }>(s.base, 'POST', '/api/v1/sip-users', { headers: h(), body: { username: 'desk', password: PASSWORD } });
  if (user.status !== 201) throw new Error(JSON.stringify(user.body));
  deskAor = user.body.aor;
  const number = await request<{ id: string }>(s.base, 'POST', '/api/v1/phone-numbers', { headers: h(), body: { number: NUMBER, sipUserId: user.body.id, trunkId: s.trunkId } });
  if (number.status !== 201) throw new Error(JSON.stringify(number.body));
  numberId = number.body.id;
});
test.after.always(() => s?.close());

const h = () => s.tenant.headers;
const nothingLeft = (t: ExecutionContext) => nothingLeftOf(t, s);

interface CallBody {
  id: string;
  direction: string;
  status: string;
  endReason: string | null;
  hangupBy: string | null;
  sipCode: number | null;
  agentId: string | null;
  trunkId: string | null;
  phoneNumberId: string | null;
  to: string | null;
  from: string | null;
  answeredAt: string | null;
  sipCallId: string | null;
  rtpStats: Record<string, number>;
}

/** The newest call record once it has ended. */
async function endedCall(): Promise<CallBody> {
  return waitFor(async () => {
    const list = await request<{ items: CallBody[] }>(s.base, 'GET', '/api/v1/calls?limit=1', { headers: h() });
    const c = list.body.items[0];
    return c?.endReason ? (await request<CallBody>(s.base, 'GET', `/api/v1/calls/${c.id}`, { headers: h() })).body : undefined;
  }, 15_000);
}

/** The desk phone on UDP `port` REGISTERs (401, digest, 200); its binding goes when the test ends. */
async function registerDesk(t: ExecutionContext, port: number): Promise<void> {
  const reg = await runSipp({
    transport: 'u1',
    target: s.sipTarget,
    scenario: scenario('user-register.xml', { domain, expires: 300, granted: `sip:desk@127\\.0\\.0\\.1:${port}[^;]*;expires=[0-9]+` }),
    args: ['-s', 'desk', '-au', 'desk', '-ap', PASSWORD, '-p', String(port)],
    timeoutSeconds: 15,
  });
  t.is(reg.code, 0, reg.output + reg.errors);
  t.teardown(() => s.app.engine.registrar.unbind(deskAor));
}

const answered = (tail: string) => trunkAnswered(NUMBER, tail);
const callerBye = (pauseMs: number) => trunkCallerBye(NUMBER, pauseMs);
const refused = (status: number) => trunkRefused(NUMBER, status);
const carrierCalls = (rtp: RtpPeer, outcome: string): Promise<SippResult> => carrierCallsOf(s, NUMBER, rtp, outcome);

/**
 * The bridge's two legs (the caller's, the answering binding's) once the call is answered (the
 * legs feed each other from then on; before, a SipLeg echoes what it gets).
 */
async function bridgeLegs(): Promise<[CallLeg, CallLeg]> {
  return waitFor(() => {
    if (![...s.app.engine.calls.calls.values()].some((c) => c.state === 'answered')) return undefined;
    const all = s.app.engine.mediaService.legs();
    const caller = all.find((l) => l.id.endsWith(':caller'));
    const callee = all.filter((l) => /:callee:\d+$/.test(l.id));
    return caller && callee.length === 1 ? ([caller, callee[0]!] as [CallLeg, CallLeg]) : undefined;
  }, 10_000);
}

/**
 * RTP both ways through the bridge: each side streams 100 tone packets into its leg (payloads of
 * their own: the device's tone is louder), and each must get at least 90 of the other's, none of
 * its own back.
 */
async function rtpBothWays(t: ExecutionContext, carrier: RtpPeer, device: RtpPeer, callerLeg: CallLeg, calleeLeg: CallLeg): Promise<string> {
  const t0 = performance.now();
  await Promise.all([carrier.stream({ to: rtpPort(callerLeg), count: 100 }), device.stream({ to: rtpPort(calleeLeg), count: 100, ssrc: 0x0badcafe, payload: (i) => tonePayload(i + 200) })]);
  await Promise.all([carrier.waitFor(90, 5000), device.waitFor(90, 5000)]);
  const ownOf = (p: RtpPeer) => new Set(p.sent.map((b) => b.subarray(12).toString('hex')));
  const carrierOwn = ownOf(carrier);
  const deviceOwn = ownOf(device);
  // What each leg sent its peer (the machine is shared: a stray datagram to an ephemeral port is not the bridge's).
  const fromLeg = (p: RtpPeer, leg: CallLeg) => p.received.filter((r) => r.from.port === rtpPort(leg));
  const [atCarrier, atDevice] = [fromLeg(carrier, callerLeg), fromLeg(device, calleeLeg)];
  const toCarrier = atCarrier.filter((r) => !carrierOwn.has(r.payload.toString('hex')));
  const toDevice = atDevice.filter((r) => !deviceOwn.has(r.payload.toString('hex')));
  const [a, b] = await Promise.all([callerLeg.stats(), calleeLeg.stats()]);
  const echoes = [...atCarrier.filter((r) => carrierOwn.has(r.payload.toString('hex'))), ...atDevice.filter((r) => deviceOwn.has(r.payload.toString('hex')))];
  const strays = carrier.received.length - atCarrier.length + device.received.length - atDevice.length;
  const figures =
    `echoes ${JSON.stringify(echoes.map((r) => ({ ssrc: r.header.ssrc, seq: r.header.sequence })))}, ${strays} stray datagrams; ` +
    `carrier got ${toCarrier.length} packets from the device, device got ${toDevice.length} from the carrier; ` +
    `caller leg in/out ${a.rtpPacketsIn}/${a.rtpPacketsOut}, callee leg in/out ${b.rtpPacketsIn}/${b.rtpPacketsOut}; ${(performance.now() - t0).toFixed(0)} ms`;
  t.true(toCarrier.length >= 90 && toDevice.length >= 90, figures);
  t.deepEqual(echoes, [], `each side hears the other, not itself: ${figures}`);
  t.true(a.rtpPacketsIn >= 90 && b.rtpPacketsOut >= 90 && b.rtpPacketsIn >= 90 && a.rtpPacketsOut >= 90, figures);
  return figures;
}

const STARTED_TO_ENDED = ['call.started', 'call.ringing', 'call.answered', 'call.ended'];

sippTest('a trunk call to the number rings the registered device: 180, 200, RTP both ways through mediasoup, the caller’s BYE BYEs the device; the call is recorded inbound, completed, caller_hangup', async (t) => {
  const port = await freePort();
  await registerDesk(t, port);
  const [carrier, device] = await Promise.all([RtpPeer.open(), RtpPeer.open()]);
  t.teardown(() => (carrier.close(), device.close()));
  const uas = await sippUas(port, 'user-device.xml', { ringPauseMs: 300, rtpPort: device.port, tail: ENGINE_BYE });
  const caller = carrierCalls(carrier, answered(callerBye(4000)));
  const [callerLeg, calleeLeg] = await bridgeLegs();
  t.is(callerLeg.router, calleeLeg.router, 'both legs on one router');
  const live = await waitFor(() => [...s.app.engine.calls.calls.values()].find((c) => c.state === 'answered'), 10_000);
  t.is(s.app.engine.calls.activeCalls, 1, 'a live call, counted against the engine’s cap');
  const listed = await request<{ items: { id: string; status: string; direction: string }[] }>(s.base, 'GET', '/api/v1/calls?limit=1', { headers: h() });
  t.like(listed.body.items[0], { id: live.id, status: 'in_progress', direction: 'inbound' });
  t.log(await rtpBothWays(t, carrier, device, callerLeg, calleeLeg));
  const [c, d] = await Promise.all([caller, uas.done]);
  t.is(c.code, 0, c.output + c.errors);
  t.is(d.code, 0, d.output + d.errors);
  t.deepEqual(c.ladder.filter((l) => !/ 100 /.test(l)), ['-> INVITE', '<- 180 INVITE', '<- 200 INVITE', '-> ACK', '-> BYE', '<- 200 BYE']);
  t.deepEqual(d.ladder, ['<- INVITE', '-> 180 INVITE', '-> 200 INVITE', '<- ACK', '<- BYE', '-> 200 BYE']);
  const call = await endedCall();
  t.like(call, { id: live.id, direction: 'inbound', status: 'completed', endReason: 'caller_hangup', hangupBy: 'caller', agentId: null, trunkId: s.trunkId, phoneNumberId: numberId, to: NUMBER, from: '+15550100', sipCode: 200 });
  t.true((call.rtpStats.packetsReceived ?? 0) >= 90 && (call.rtpStats.packetsSent ?? 0) >= 90, JSON.stringify(call.rtpStats));
  t.deepEqual(await timeline(s, call.id), STARTED_TO_ENDED);
  await nothingLeft(t);
});

sippTest('a registered SIP user dials the number (407, digest): bridged to the desk device, RTP both ways through mediasoup, its BYE BYEs the device; the call is recorded web, with the number, completed, caller_hangup', async (t) => {
  const front = await request<{ id: string; aor: string }>(s.base, 'POST', '/api/v1/sip-users', { headers: h(), body: { username: 'front', password: 'front-secret-1' } });
  t.is(front.status, 201, JSON.stringify(front.body));
  t.teardown(async () => {
    s.app.engine.registrar.unbind(front.body.aor);
    const gone = await request(s.base, 'DELETE', `/api/v1/sip-users/${front.body.id}`, { headers: h() });
    if (gone.status !== 204) throw new Error(`front not deleted: ${gone.status}`);
  });
  const port = await freePort();
  await registerDesk(t, port);
  const [phone, device] = await Promise.all([RtpPeer.open(), RtpPeer.open()]);
  t.teardown(() => (phone.close(), device.close()));
  // The desk's device checks that the INVITE comes From the calling user (not a trunk's number).
  const deviceFile = scenario('user-device.xml', { ringPauseMs: 300, rtpPort: device.port, tail: ENGINE_BYE });
  fs.writeFileSync(deviceFile.path, fs.readFileSync(deviceFile.path, 'utf8').replace('sip:\\+15550100@', 'sip:front@'));
  const uas = runSipp({ transport: 'u1', target: '127.0.0.1:9', scenario: deviceFile, args: ['-p', String(port)], timeoutSeconds: 40 });
  await waitFor(() => udpBound(port), 5000, 20);
  const callerRun = runSipp({
    transport: 'u1',
    target: s.sipTarget,
    scenario: scenario('user-agent-call.xml', { user: 'front', password: 'front-secret-1', domain, callee: NUMBER, rtpPort: phone.port, holdMs: 3000 }),
    timeoutSeconds: 30,
  });
  const [callerLeg, calleeLeg] = await bridgeLegs();
  t.is(callerLeg.router, calleeLeg.router, 'both legs on one router');
  const live = await waitFor(() => [...s.app.engine.calls.calls.values()].find((c) => c.state === 'answered'), 10_000);
  t.log(await rtpBothWays(t, phone, device, callerLeg, calleeLeg));
  const [c, d] = await Promise.all([callerRun, uas]);
  t.is(c.code, 0, c.output + c.errors);
  t.is(d.code, 0, d.output + d.errors);
  t.deepEqual(
    c.ladder.filter((l) => !/^<- 1\d\d /.test(l)),
    ['-> REGISTER', '<- 401 REGISTER', '-> REGISTER', '<- 200 REGISTER', '-> INVITE', '<- 407 INVITE', '-> ACK', '-> INVITE', '<- 200 INVITE', '-> ACK', '-> BYE', '<- 200 BYE'],
  );
  t.deepEqual(d.ladder, ['<- INVITE', '-> 180 INVITE', '-> 200 INVITE', '<- ACK', '<- BYE', '-> 200 BYE']);
  const call = await endedCall();
  t.like(call, { id: live.id, direction: 'web', status: 'completed', endReason: 'caller_hangup', hangupBy: 'caller', agentId: null, trunkId: null, phoneNumberId: numberId, to: NUMBER, from: `sip:front@${domain}`, sipCode: 200 });
  t.true((call.rtpStats.packetsReceived ?? 0) >= 90 && (call.rtpStats.packetsSent ?? 0) >= 90, JSON.stringify(call.rtpStats));
  t.deepEqual(await timeline(s, call.id), STARTED_TO_ENDED);
  await nothingLeft(t);
});

sippTest('the device hangs up: the engine BYEs the caller; the call ends callee_hangup, hung up by the callee', async (t) => {
  const port = await freePort();
  await registerDesk(t, port);
  const [carrier, device] = await Promise.all([RtpPeer.open(), RtpPeer.open()]);
  t.teardown(() => (carrier.close(), device.close()));
  const uas = await sippUas(port, 'user-device.xml', { ringPauseMs: 100, rtpPort: device.port, tail: targetBye(3000) });
  const caller = carrierCalls(carrier, answered(ENGINE_BYE));
  const [callerLeg, calleeLeg] = await bridgeLegs();
  t.log(await rtpBothWays(t, carrier, device, callerLeg, calleeLeg));
  const [c, d] = await Promise.all([caller, uas.done]);
  t.is(c.code, 0, c.output + c.errors);
  t.is(d.code, 0, d.output + d.errors);
  t.deepEqual(c.ladder.slice(-2), ['<- BYE', '-> 200 BYE']);
  t.deepEqual(d.ladder.slice(-2), ['-> BYE', '<- 200 BYE']);
  const call = await endedCall();
  t.like(call, { status: 'completed', endReason: 'callee_hangup', hangupBy: 'callee' });
  t.deepEqual(await timeline(s, call.id), STARTED_TO_ENDED);
  await nothingLeft(t);
});

sippTest('two bindings ring at once: the first 200 wins, the other is CANCELed (200, 487, ACK)', async (t) => {
  const [portA, portB] = [await freePort(), await freePort()];
  await registerDesk(t, portA);
  await registerDesk(t, portB);
  const listed = await request<{ items: unknown[] }>(s.base, 'GET', `/api/v1/sip-users/${(await deskId())}/registrations`, { headers: h() });
  t.is(listed.body.items.length, 2, 'two bindings of desk');
  const [carrier, device] = await Promise.all([RtpPeer.open(), RtpPeer.open()]);
  t.teardown(() => (carrier.close(), device.close()));
  const answering = await sippUas(portA, 'user-device.xml', { ringPauseMs: 800, rtpPort: device.port, tail: ENGINE_BYE });
  const ringing = await sippUas(portB, 'transfer-target-ring.xml', {});
  const caller = carrierCalls(carrier, answered(callerBye(3000)));
  const [callerLeg, calleeLeg] = await bridgeLegs();
  t.log(await rtpBothWays(t, carrier, device, callerLeg, calleeLeg));
  const [c, a, b] = await Promise.all([caller, answering.done, ringing.done]);
  t.is(c.code, 0, c.output + c.errors);
  t.is(a.code, 0, a.output + a.errors);
  t.is(b.code, 0, b.output + b.errors);
  t.deepEqual(b.ladder, ['<- INVITE', '-> 180 INVITE', '<- CANCEL', '-> 200 CANCEL', '-> 487 INVITE', '<- ACK']);
  t.deepEqual(a.ladder, ['<- INVITE', '-> 180 INVITE', '-> 200 INVITE', '<- ACK', '<- BYE', '-> 200 BYE']);
  t.is(receivedRequests(b, 'INVITE').length, 1);
  // CANCELed because the other answered (800 ms in), not by the ring time running out.
  const cancelAfter = receivedRequests(b, 'CANCEL')[0]!.at - receivedRequests(b, 'INVITE')[0]!.at;
  t.log(`the ringing binding was CANCELed ${cancelAfter.toFixed(0)} ms after its INVITE (the other answered after 800 ms; ring time ${USER_RING_MS} ms)`);
  t.true(cancelAfter < USER_RING_MS - 500, `CANCEL after ${cancelAfter} ms`);
  t.like(await endedCall(), { status: 'completed', endReason: 'caller_hangup', hangupBy: 'caller' });
  await nothingLeft(t);
});

sippTest('a losing binding whose 200 crosses the CANCEL: the engine ACKs and BYEs it at once, the call goes on with the winner', async (t) => {
  const [portA, portB] = [await freePort(), await freePort()];
  await registerDesk(t, portA);
  await registerDesk(t, portB);
  const [carrier, device] = await Promise.all([RtpPeer.open(), RtpPeer.open()]);
  t.teardown(() => (carrier.close(), device.close()));
  const answering = await sippUas(portA, 'user-device.xml', { ringPauseMs: 500, rtpPort: device.port, tail: ENGINE_BYE });
  const late = await sippUas(portB, 'user-device-late-answer.xml', {});
  const caller = carrierCalls(carrier, answered(callerBye(3000)));
  const [callerLeg, calleeLeg] = await bridgeLegs();
  const l = await late.done;
  t.is(l.code, 0, l.output + l.errors);
  t.deepEqual(l.ladder, ['<- INVITE', '-> 180 INVITE', '<- CANCEL', '-> 200 CANCEL', '-> 200 INVITE', '<- ACK', '<- BYE', '-> 200 BYE']);
  t.log(await rtpBothWays(t, carrier, device, callerLeg, calleeLeg));
  const [c, a] = await Promise.all([caller, answering.done]);
  t.is(c.code, 0, c.output + c.errors);
  t.is(a.code, 0, a.output + a.errors);
  t.like(await endedCall(), { status: 'completed', endReason: 'caller_hangup', hangupBy: 'caller' });
  await nothingLeft(t);
});

sippTest('both bindings refuse (486 and 603): the caller gets 603 after its 180, the call ends rejected with sipCode 603', async (t) => {
  const [portA, portB] = [await freePort(), await freePort()];
  await registerDesk(t, portA);
  await registerDesk(t, portB);
  const busy = await sippUas(portA, 'user-device-refuse.xml', { ringPauseMs: 200, status: '486 Busy Here' });
  const decline = await sippUas(portB, 'user-device-refuse.xml', { ringPauseMs: 600, status: '603 Decline' });
  const carrier = await RtpPeer.open();
  t.teardown(() => carrier.close());
  const c = await carrierCalls(carrier, refused(603));
  t.is(c.code, 0, c.output + c.errors);
  t.deepEqual(c.ladder.filter((l) => !/ 100 /.test(l)), ['-> INVITE', '<- 180 INVITE', '<- 603 INVITE', '-> ACK']);
  for (const r of await Promise.all([busy.done, decline.done])) t.is(r.code, 0, r.output + r.errors);
  const call = await endedCall();
  t.like(call, { status: 'failed', endReason: 'rejected', hangupBy: 'callee', sipCode: 603, answeredAt: null });
  t.deepEqual(await timeline(s, call.id), ['call.started', 'call.ringing', 'call.ended']);
  await nothingLeft(t);
});

sippTest('one binding busy (486): the caller gets 486, the call ends busy', async (t) => {
  const port = await freePort();
  await registerDesk(t, port);
  const busy = await sippUas(port, 'user-device-refuse.xml', { ringPauseMs: 200, status: '486 Busy Here' });
  const carrier = await RtpPeer.open();
  t.teardown(() => carrier.close());
  const c = await carrierCalls(carrier, refused(486));
  t.is(c.code, 0, c.output + c.errors);
  t.is((await busy.done).code, 0);
  t.like(await endedCall(), { status: 'busy', endReason: 'busy', hangupBy: 'callee', sipCode: 486 });
  await nothingLeft(t);
});

sippTest('no binding: the caller gets 480 at once, the call is recorded and ends failed, not_registered', async (t) => {
  const carrier = await RtpPeer.open();
  t.teardown(() => carrier.close());
  const c = await carrierCalls(carrier, refused(480));
  t.is(c.code, 0, c.output + c.errors);
  t.deepEqual(c.ladder.filter((l) => !/ 100 /.test(l)), ['-> INVITE', '<- 480 INVITE', '-> ACK']);
  const call = await endedCall();
  t.like(call, { direction: 'inbound', status: 'failed', endReason: 'not_registered', hangupBy: 'system', answeredAt: null, phoneNumberId: numberId });
  t.deepEqual(await timeline(s, call.id), ['call.started', 'call.ended']);
  await nothingLeft(t);
});

sippTest(`no answer: the device rings past sip.userRingMs (${USER_RING_MS} ms), the engine CANCELs it and the caller gets 480; the call ends no_answer`, async (t) => {
  const port = await freePort();
  await registerDesk(t, port);
  const ringer = await sippUas(port, 'transfer-target-ring.xml', {});
  const carrier = await RtpPeer.open();
  t.teardown(() => carrier.close());
  const t0 = performance.now();
  const c = await carrierCalls(carrier, refused(480));
  const took = performance.now() - t0;
  t.is(c.code, 0, c.output + c.errors);
  t.deepEqual(c.ladder.filter((l) => !/ 100 /.test(l)), ['-> INVITE', '<- 180 INVITE', '<- 480 INVITE', '-> ACK']);
  const r = await ringer.done;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder, ['<- INVITE', '-> 180 INVITE', '<- CANCEL', '-> 200 CANCEL', '-> 487 INVITE', '<- ACK']);
  t.log(`480 after ${took.toFixed(0)} ms for a ring time of ${USER_RING_MS} ms`);
  t.true(took >= USER_RING_MS && took < USER_RING_MS + 4000, `480 after ${took.toFixed(0)} ms`);
  const call = await endedCall();
  t.like(call, { status: 'no_answer', endReason: 'no_answer', hangupBy: 'system' });
  t.deepEqual(await timeline(s, call.id), ['call.started', 'call.ringing', 'call.ended']);
  await nothingLeft(t);
});

sippTest('the caller CANCELs while the device rings: the device’s INVITE is CANCELed, the caller gets 487, the call ends canceled', async (t) => {
  const port = await freePort();
  await registerDesk(t, port);
  const ringer = await sippUas(port, 'transfer-target-ring.xml', {});
  const carrier = await RtpPeer.open();
  t.teardown(() => carrier.close());
  const cancel = trunkCancels(NUMBER);
  const c = await carrierCalls(carrier, cancel);
  t.is(c.code, 0, c.output + c.errors);
  const r = await ringer.done;
  t.is(r.code, 0, r.output + r.errors);
  t.like(await endedCall(), { status: 'canceled', endReason: 'canceled', hangupBy: 'caller' });
  await nothingLeft(t);
});

sippTest('a second trunk call while one is live gets 503 (the engine’s cap, 1 here); POST /calls/{id}/hangup of the live call BYEs both sides; the call ends api_hangup', async (t) => {
  const port = await freePort();
  await registerDesk(t, port);
  const device = await RtpPeer.open();
  const carrier = await RtpPeer.open();
  const second = await RtpPeer.open();
  t.teardown(() => (carrier.close(), device.close(), second.close()));
  const uas = await sippUas(port, 'user-device.xml', { ringPauseMs: 100, rtpPort: device.port, tail: ENGINE_BYE });
  const caller = carrierCalls(carrier, answered(ENGINE_BYE));
  const live = await waitFor(() => [...s.app.engine.calls.calls.values()].find((c) => c.state === 'answered'), 10_000);
  const refusedCall = await carrierCalls(second, refused(503));
  t.is(refusedCall.code, 0, refusedCall.output + refusedCall.errors);
  t.deepEqual(refusedCall.ladder.filter((l) => !/ 100 /.test(l)), ['-> INVITE', '<- 503 INVITE', '-> ACK']);
  t.is(s.app.engine.calls.activeCalls, 1);
  const res = await request(s.base, 'POST', `/api/v1/calls/${live.id}/hangup`, { headers: h() });
  t.is(res.status, 202, JSON.stringify(res.body));
  const [c, d] = await Promise.all([caller, uas.done]);
  t.is(c.code, 0, c.output + c.errors);
  t.is(d.code, 0, d.output + d.errors);
  t.like(await endedCall(), { status: 'completed', endReason: 'api_hangup', hangupBy: 'system' });
  await nothingLeft(t);
});

/** The id of the SIP user `desk`. */
async function deskId(): Promise<string> {
  const users = await request<{ items: { id: string; username: string }[] }>(s.base, 'GET', '/api/v1/sip-users', { headers: h() });
  return users.body.items.find((u) => u.username === 'desk')!.id;
}
