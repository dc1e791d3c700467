/**
 * Blind transfer of a live inbound call (engine/calls/transfer.ts), with real peers on loopback:
 * SIPp callers that accept or refuse the engine's REFER, SIPp targets that answer or are busy,
 * and raw RTP peers for the audio through the bridge. The live `Call` comes from call control.
 */
import test from 'ava';
import type { Call } from '../../../engine/calls/call.js';
import { transferCall, type TransferOutcome } from '../../../engine/calls/transfer.js';
import { freePort } from '../../helpers/engine-process.js';
import { request, waitFor } from '../../helpers/http.js';
import { calls, inboundSetup, scenario, sippCall, timeline, type InboundSetup } from '../../helpers/inbound.js';
import { RtpPeer, tonePayload } from '../../helpers/rtp-peer.js';
import { runSipp, sippMissing, type SippResult } from '../../helpers/sipp.js';
import { callerByeAfterNotifies, ENGINE_BYE, liveCall as liveCallOf, transferDeps } from '../../helpers/transfer.js';

const missing = sippMissing();
const sippTest = missing ? test.skip : test.serial;
if (missing) test('SIPp transfer tests are skipped: ' + missing, (t) => t.pass());

let s: InboundSetup;
test.before(async () => {
  if (missing) return;
  s = await inboundSetup({ sip: { ringMs: 0 } });
});
test.after.always(() => s?.close());

const deps = () => transferDeps(s.app);
const liveCall = () => liveCallOf(s.app);

/** mediasoup objects on the engine's routers: transports per router (0 once every leg closed). */
async function transportsOnRouters(): Promise<number> {
  let n = 0;
  for (const w of s.app.engine.media.workers()) n += (await (await s.app.engine.mediaService.routerOf(w)).dump()).transportIds.length;
  return n;
}

const errorLogs = async (callId: string) =>
  (await request<{ items: { code: string | null; message: string; callId: string }[] }>(s.base, 'GET', `/api/v1/analytics/errors?limit=100`, { headers: s.tenant.headers })).body.items.filter(
    (e) => e.callId === callId,
  );

sippTest('REFER accepted (202, NOTIFY 100 then 200): Refer-To and Referred-By as sent, the engine BYEs, the call ends transferred, events on the timeline', async (t) => {
  const started = performance.now();
  const caller = sippCall(
    s,
    scenario('transfer-refer-accept.xml', {
      // SIPp's XML reader takes no angle brackets in attributes: `.` stands for them.
      referTo: '^ *.sip:\\+15551234567@127\\.0\\.0\\.1:[0-9]+;user=phone.$',
      referredBy: '^ *.sip:service@127\\.0\\.0\\.1:[0-9]+.$',
      final: '200 OK',
      tail: ENGINE_BYE,
      holdMs: 0,
    }),
  );
  const call = await liveCall();
  const outcome = await transferCall(deps(), call, '+15551234567');
  const took = performance.now() - started;
  t.deepEqual(outcome, { result: 'transferred', via: 'refer', target: '+15551234567' });
  const r = await caller;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(
    r.ladder.filter((l) => !/ 1\d\d INVITE/.test(l)),
    ['-> INVITE', '<- 200 INVITE', '-> ACK', '<- REFER', '-> 202 REFER', '-> NOTIFY', '<- 200 NOTIFY', '-> NOTIFY', '<- 200 NOTIFY', '<- BYE', '-> 200 BYE'],
  );
  const referText = r.messages.split(/^-{10,}.*$/m).find((b) => /^\s*REFER /m.test(b)) ?? '';
  t.regex(referText, /^\s*Refer-To: <sip:\+15551234567@127\.0\.0\.1:\d+;user=phone>\s*$/m, 'E.164 without a trunk gateway: on the caller Contact host');
  t.regex(referText, /^\s*Referred-By: <sip:service@127\.0\.0\.1:\d+>\s*$/m);
  t.is(referText.match(/^\s*Contact: <sip:[^>]+>\s*$/gm)?.length, 1, 'RFC 3515 §2.1: a REFER carries exactly one Contact');
  const row = await waitFor(async () => (await calls(s)).find((c) => c.id === call.id && c.endReason), 5000);
  t.like(row, { endReason: 'transferred', hangupBy: 'agent', status: 'completed' });
  const types = await timeline(s, call.id);
  t.deepEqual(types.filter((x) => x.startsWith('call.transfer') || x === 'call.ended'), ['call.transfer_started', 'call.transfer_completed', 'call.ended']);
  t.log(`REFER -> 202 -> NOTIFY 100 -> NOTIFY 200 -> BYE: call to transferred in ${took.toFixed(0)} ms (SIPp included)`);
});

sippTest('REFER accepted but the target fails (NOTIFY 486): transfer_failed with the status, an error-log entry, the call goes on until the caller hangs up', async (t) => {
  const caller = sippCall(
    s,
    scenario('transfer-refer-accept.xml', { referTo: '^ *.sip:support@example\\.com.$', referredBy: '.*', final: '486 Busy Here', tail: callerByeAfterNotifies(1000) }),
  );
  const call = await liveCall();
  const outcome = await transferCall(deps(), call, 'sip:support@example.com');
  t.deepEqual(outcome, { result: 'failed', via: 'refer', target: 'sip:support@example.com', reason: 'target answered 486 Busy Here', status: 486 });
  t.is(call.state, 'answered', 'the call goes on');
  const r = await caller;
  t.is(r.code, 0, r.output + r.errors);
  const row = await waitFor(async () => (await calls(s)).find((c) => c.id === call.id && c.endReason), 5000);
  t.like(row, { endReason: 'caller_hangup', hangupBy: 'caller' });
  const types = await timeline(s, call.id);
  t.deepEqual(types.filter((x) => x.startsWith('call.transfer')), ['call.transfer_started', 'call.transfer_failed']);
  t.like((await errorLogs(call.id))[0], { code: '486', message: 'transfer to sip:support@example.com failed: target answered 486 Busy Here' });
});

interface Bridged {
  outcome: TransferOutcome;
  caller: SippResult;
  target: SippResult;
  callerPeer: RtpPeer;
  targetPeer: RtpPeer;
  call: Call;
}

/** A caller refusing REFER with `referStatus`, a SIPp target (`targetScenario`), raw RTP on both sides. */
async function bridgeRun(referStatus: string, targetScenario: string, onBridged: (b: Omit<Bridged, 'caller' | 'target'>) => Promise<void>, holdMs = 5000): Promise<Bridged> {
  const callerPeer = await RtpPeer.open();
  const targetPeer = await RtpPeer.open();
  const targetPort = await freePort();
  const target = runSipp({ transport: 'u1', target: s.sipTarget, scenario: scenario(targetScenario, { rtpPort: targetPeer.port }), args: ['-p', String(targetPort)], timeoutSeconds: 30 });
  const caller = sippCall(s, scenario('transfer-refer-refuse.xml', { rtpPort: callerPeer.port, referStatus, holdMs }));
  try {
    const call = await liveCall();
    const outcome = await transferCall(deps(), call, `sip:target@127.0.0.1:${targetPort}`);
    await onBridged({ outcome, callerPeer, targetPeer, call });
    return { outcome, caller: await caller, target: await target, callerPeer, targetPeer, call };
  } finally {
    await Promise.allSettled([caller, target]);
    callerPeer.close();
    targetPeer.close();
  }
}

sippTest('REFER refused (405): the engine dials the target, bridges both legs in mediasoup (audio both ways), the caller BYE ends both, nothing leaks', async (t) => {
  const PACKETS = 100;
  let figures = '';
  const run = await bridgeRun('405 Method Not Allowed', 'transfer-target.xml', async ({ outcome, callerPeer, targetPeer, call }) => {
    t.deepEqual(outcome, { result: 'bridged', via: 'bridge', target: `sip:target@${outcome.target.split('@')[1]}` });
    const legA = call.parts.leg!;
    const legB = s.app.engine.mediaService.legs().find((l) => l.id === `${call.id}:transfer`);
    t.truthy(legB, 'the outbound leg exists');
    t.is(legB!.router, legA.router, 'both legs on one router');
    const t0 = performance.now();
    await Promise.all([
      callerPeer.stream({ to: legA.port, count: PACKETS, payload: (i) => tonePayload(i) }),
      targetPeer.stream({ to: legB!.port, count: PACKETS, payload: (i) => tonePayload(i + 150), ssrc: 0x5678 }),
    ]);
    await Promise.all([callerPeer.waitFor(PACKETS * 0.9, 1000), targetPeer.waitFor(PACKETS * 0.9, 1000)]);
    const fromCaller = new Set(callerPeer.sent.map((p) => p.subarray(12).toString('hex')));
    const fromTarget = new Set(targetPeer.sent.map((p) => p.subarray(12).toString('hex')));
    const atTarget = targetPeer.received.filter((r) => fromCaller.has(r.payload.toString('hex'))).length;
    const atCaller = callerPeer.received.filter((r) => fromTarget.has(r.payload.toString('hex'))).length;
    const [a, b] = await Promise.all([legA.stats(), legB!.stats()]);
    figures = `caller -> target ${atTarget}/${PACKETS}, target -> caller ${atCaller}/${PACKETS} packets in ${(performance.now() - t0).toFixed(0)} ms; leg A in/out ${a.rtpPacketsIn}/${a.rtpPacketsOut}, leg B in/out ${b.rtpPacketsIn}/${b.rtpPacketsOut}`;
    t.true(atTarget >= PACKETS * 0.8, figures);
    t.true(atCaller >= PACKETS * 0.8, figures);
    t.is(callerPeer.received.length, atCaller, 'the caller hears the target only (no echo of itself)');
  });
  t.log(figures);
  t.is(run.caller.code, 0, run.caller.output + run.caller.errors);
  t.is(run.target.code, 0, run.target.output + run.target.errors);
  t.deepEqual(run.target.ladder, ['<- INVITE', '-> 180 INVITE', '-> 200 INVITE', '<- ACK', '<- BYE', '-> 200 BYE']);
  t.true(run.caller.ladder.includes('<- REFER') && run.caller.ladder.includes('-> 405 REFER'));
  const row = await waitFor(async () => (await calls(s)).find((c) => c.id === run.call.id && c.endReason), 5000);
  t.like(row, { endReason: 'caller_hangup', hangupBy: 'caller' });
  const types = await timeline(s, run.call.id);
  t.deepEqual(types.filter((x) => x.startsWith('call.transfer')), ['call.transfer_started', 'call.transfer_completed']);
  await waitFor(() => s.app.engine.mediaService.stats().legs === 0, 5000);
  t.deepEqual(s.app.engine.mediaService.stats(), { legs: 0, portsHeld: 0 });
  await waitFor(async () => (await transportsOnRouters()) === 0, 5000);
});

sippTest('REFER refused (501) and the target busy (486): transfer_failed, an error-log entry, the call goes on with its leg, nothing leaks', async (t) => {
  const run = await bridgeRun('501 Not Implemented', 'transfer-target-busy.xml', async ({ outcome, call }) => {
    t.like(outcome, { result: 'failed', via: 'bridge', reason: 'target answered 486', status: 486 });
    t.is(call.state, 'answered', 'the call goes on');
    t.false(call.parts.leg!.closed);
    t.is(s.app.engine.mediaService.stats().legs, 1, 'only the caller leg is left');
  }, 1500);
  t.is(run.caller.code, 0, run.caller.output + run.caller.errors);
  t.is(run.target.code, 0, run.target.output + run.target.errors);
  t.deepEqual(run.target.ladder, ['<- INVITE', '-> 486 INVITE', '<- ACK']);
  const row = await waitFor(async () => (await calls(s)).find((c) => c.id === run.call.id && c.endReason), 5000);
  t.like(row, { endReason: 'caller_hangup', hangupBy: 'caller' });
  const types = await timeline(s, run.call.id);
  t.deepEqual(types.filter((x) => x.startsWith('call.transfer')), ['call.transfer_started', 'call.transfer_failed']);
  t.like((await errorLogs(run.call.id))[0], { code: '486' });
  await waitFor(() => s.app.engine.mediaService.stats().legs === 0, 5000);
  await waitFor(async () => (await transportsOnRouters()) === 0, 5000);
});
