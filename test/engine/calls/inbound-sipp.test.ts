/**
 * Inbound calls from SIPp (Debian sip-tester) to the whole engine: SIP stack -> embedded
 * drachtio server -> drachtio-srf call control -> mediasoup leg echoing the caller.
 */
import dgram from 'node:dgram';
import test from 'ava';
import { freePort } from '../../helpers/engine-process.js';
import { request, waitFor } from '../../helpers/http.js';
import { calls, inboundSetup, scenario, timeline, type CallRow, type InboundSetup } from '../../helpers/inbound.js';
import { runSipp, sippMissing, type SippRun } from '../../helpers/sipp.js';

const missing = sippMissing();
const sippTest = missing ? test.skip : test.serial;
if (missing) test('SIPp inbound call tests are skipped: ' + missing, (t) => t.pass());

let s: InboundSetup;
test.before(async () => {
  if (missing) return;
  // 180 for 400 ms before answering (so a caller can CANCEL); short timers so tests can wait them out.
  s = await inboundSetup({
    sip: { ringMs: 400, minSessionExpiresSeconds: 2 },
    // Long enough that the 2 s session timer (BYE at 1.3 s after answer) always fires first.
    rtp: { inactivityTimeoutMs: 4000 },
  });
});
test.after.always(() => s?.close());

const sipp = async (scn: SippRun['scenario'], extra: Partial<SippRun> = {}) =>
  runSipp({ transport: 'u1', target: s.sipTarget, scenario: scn, ...extra, args: ['-mp', String(await freePort()), ...(extra.args ?? [])] });

let seen = 0;
const newCall = async (): Promise<CallRow> => {
  const c = await waitFor(async () => {
    const all = await calls(s);
    return all.length > seen && all.at(-1)!.endReason !== null ? all.at(-1) : undefined;
  }, 10_000);
  seen = (await calls(s)).length;
  return c;
};

const PCMU = { payloadTypes: '0', rtpmaps: '      a=rtpmap:0 PCMU/8000', extraHeaders: '' };

sippTest('a basic call with RTP: 180, 200, the caller\'s audio echoed, counters both ways, events in order', async (t) => {
  const r = await sipp(scenario('inbound-pcap.xml', { holdMs: 7600 }));
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.filter((l) => !l.includes(' 100 ')), ['-> INVITE', '<- 180 INVITE', '<- 200 INVITE', '-> ACK', '-> BYE', '<- 200 BYE']);
  const call = await newCall();
  t.like(call, { status: 'completed', endReason: 'caller_hangup', hangupBy: 'caller' });
  t.true(call.durationMs! >= 7000, `duration ${call.durationMs}`);
  // The recording is 236 packets over 7.05 s; the first packet latches the leg, the rest echo.
  const { packetsReceived, packetsSent } = call.rtpStats;
  t.log(`RTP from the caller ${packetsReceived}, echoed back ${packetsSent}`);
  t.true(packetsReceived! >= 230, `received ${packetsReceived}`);
  t.true(packetsSent! >= packetsReceived! - 2 && packetsSent! <= packetsReceived!, `sent ${packetsSent} of ${packetsReceived}`);
  t.deepEqual(await timeline(s, call.id), ['call.started', 'call.ringing', 'call.answered', 'call.ended']);
});

sippTest('the caller cancels while it rings: 200 to the CANCEL, 487, and the call is recorded as canceled', async (t) => {
  const r = await sipp(scenario('inbound-cancel.xml'));
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.filter((l) => !l.includes(' 100 ')), ['-> INVITE', '<- 180 INVITE', '-> CANCEL', '<- 200 CANCEL', '<- 487 INVITE', '-> ACK']);
  const call = await newCall();
  t.like(call, { status: 'canceled', endReason: 'canceled', hangupBy: 'caller', answeredAt: null, durationMs: null });
  t.deepEqual(await timeline(s, call.id), ['call.started', 'call.ringing', 'call.ended']);
});

sippTest('the engine hangs up a silent caller (RTP inactivity) with BYE', async (t) => {
  const r = await sipp(scenario('inbound-callee-bye.xml', { ...PCMU, why: 'no RTP', headerRegexp: 'SIP/2.0 200', byeTimeoutMs: 8000 }));
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.filter((l) => !/ 1\d\d /.test(l)), ['-> INVITE', '<- 200 INVITE', '-> ACK', '<- BYE', '-> 200 BYE']);
  t.like(await newCall(), { status: 'completed', endReason: 'rtp_timeout', hangupBy: 'system' });
});

sippTest('RFC 4028: a session timer the caller never refreshes ends the call with BYE', async (t) => {
  const r = await sipp(
    scenario('inbound-callee-bye.xml', {
      ...PCMU,
      extraHeaders: '\n      Supported: timer\n      Session-Expires: 2;refresher=uac',
      why: 'no session refresh',
      // §9: the 2xx carries Session-Expires with the refresher, and Require: timer.
      headerRegexp: '(Session-Expires: 2;refresher=uac.*Require: timer|Require: timer.*Session-Expires: 2;refresher=uac)',
      byeTimeoutMs: 8000,
    }),
  );
  t.is(r.code, 0, r.output + r.errors);
  t.like(await newCall(), { status: 'completed', endReason: 'session_timer_expired', hangupBy: 'system' });
});

sippTest('RFC 4028: a Session-Expires below Min-SE gets 422 with our Min-SE, and no call is recorded', async (t) => {
  const before = (await calls(s)).length;
  const r = await sipp(scenario('inbound-expect-final.xml', { ...PCMU, status: 422, headerRegexp: 'Min-SE: 2', extraHeaders: '\n      Supported: timer\n      Session-Expires: 1' }));
  t.is(r.code, 0, r.output + r.errors);
  t.is((await calls(s)).length, before);
});

sippTest('RFC 4028 with us refreshing: after a hold, the refresh re-INVITE offers our current SDP (recvonly), not the first answer', async (t) => {
  const r = await sipp(scenario('inbound-refresh-hold.xml'));
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.filter((l) => !/ 1\d\d /.test(l)), [
    '-> INVITE', '<- 200 INVITE', '-> ACK',
    '-> INVITE', '<- 200 INVITE', '-> ACK',
    '<- INVITE', '-> 200 INVITE', '<- ACK',
    '-> BYE', '<- 200 BYE',
  ]);
  t.like(await newCall(), { status: 'completed', endReason: 'caller_hangup' });
});

sippTest('re-INVITE: hold (sendonly answered recvonly) and unhold (sendrecv), then BYE', async (t) => {
  const r = await sipp(scenario('inbound-reinvite.xml'));
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.filter((l) => !/ 1\d\d /.test(l)), [
    '-> INVITE', '<- 200 INVITE', '-> ACK',
    '-> INVITE', '<- 200 INVITE', '-> ACK',
    '-> INVITE', '<- 200 INVITE', '-> ACK',
    '-> BYE', '<- 200 BYE',
  ]);
  t.like(await newCall(), { status: 'completed', endReason: 'caller_hangup' });
});

sippTest('RFC 3261 §8.2.2.3: a required extension we lack gets 420 with Unsupported listing only it, and no call is recorded', async (t) => {
  const before = (await calls(s)).length;
  const r = await sipp(scenario('inbound-expect-final.xml', { ...PCMU, status: 420, headerRegexp: 'Unsupported: precondition[^,]', extraHeaders: '\n      Require: precondition, 100rel' }));
  t.is(r.code, 0, r.output + r.errors);
  t.is((await calls(s)).length, before);
});

sippTest('RFC 3262: with 100rel required the call rings without a 180 (none unreliable is sent), then answers', async (t) => {
  const r = await sipp(scenario('inbound-require.xml', { require: '100rel' }));
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.filter((l) => !l.includes(' 100 ')), ['-> INVITE', '<- 200 INVITE', '-> ACK', '-> BYE', '<- 200 BYE']);
  const call = await newCall();
  t.like(call, { status: 'completed', endReason: 'caller_hangup' });
  t.deepEqual(await timeline(s, call.id), ['call.started', 'call.ringing', 'call.answered', 'call.ended']);
});

sippTest('RFC 3261 §14.2: a re-INVITE without SDP gets our offer in the 200, the answer comes in the ACK, and the call goes on', async (t) => {
  const r = await sipp(scenario('inbound-reinvite-no-sdp.xml'));
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.filter((l) => !/ 1\d\d /.test(l)), [
    '-> INVITE', '<- 200 INVITE', '-> ACK',
    '-> INVITE', '<- 200 INVITE', '-> ACK',
    '-> BYE', '<- 200 BYE',
  ]);
  t.like(await newCall(), { status: 'completed', endReason: 'caller_hangup', hangupBy: 'caller' });
});

sippTest('an unknown number gets 404 and no call is recorded', async (t) => {
  const before = (await calls(s)).length;
  const r = await sipp(scenario('inbound-expect-final.xml', { ...PCMU, status: 404, headerRegexp: 'SIP/2.0 404' }), { args: ['-s', 'nobody'] });
  t.is(r.code, 0, r.output + r.errors);
  t.is((await calls(s)).length, before);
});

sippTest('an offer with no common codec gets 488, and the attempt is recorded as failed', async (t) => {
  const r = await sipp(
    scenario('inbound-expect-final.xml', { status: 488, headerRegexp: 'SIP/2.0 488', extraHeaders: '', payloadTypes: '18', rtpmaps: '      a=rtpmap:18 G729/8000' }),
  );
  t.is(r.code, 0, r.output + r.errors);
  t.like(await newCall(), { status: 'failed', endReason: 'no_common_codec', answeredAt: null });
});

sippTest('a late offer (INVITE without SDP): our offer in the 200, the answer in the ACK, the caller\'s audio echoed', async (t) => {
  const r = await sipp(scenario('inbound-late-offer.xml', { holdMs: 7600 }));
  t.is(r.code, 0, r.output + r.errors);
  const call = await newCall();
  t.like(call, { status: 'completed', endReason: 'caller_hangup' });
  // The whole recording (236 packets, PCMA, the answer's codec): the first latches, the rest echo.
  const { packetsReceived, packetsSent } = call.rtpStats;
  t.log(`RTP from the caller ${packetsReceived}, echoed back ${packetsSent}`);
  t.true(packetsReceived! >= 230, `received ${packetsReceived}`);
  t.true(packetsSent! >= packetsReceived! - 2 && packetsSent! <= packetsReceived!, `sent ${packetsSent} of ${packetsReceived}`);
});

sippTest('a late offer whose ACK has no answer is ended with BYE', async (t) => {
  const r = await sipp(scenario('inbound-late-offer-no-answer.xml'));
  t.is(r.code, 0, r.output + r.errors);
  t.like(await newCall(), { status: 'completed', endReason: 'no_offer', hangupBy: 'system' });
});

sippTest('OPTIONS outside a dialog is answered 200 with Allow', async (t) => {
  const r = await runSipp({ transport: 'u1', target: s.sipTarget, scenario: { file: 'uac-options.xml' } });
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder, ['-> OPTIONS', '<- 200 OPTIONS']);
});

sippTest('malformed messages are answered 400 or dropped, and the engine keeps taking calls', async (t) => {
  const sock = dgram.createSocket('udp4');
  const replies: string[] = [];
  sock.on('message', (m) => replies.push(m.toString().split('\r\n')[0]!));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const junk = [
    Buffer.from([0, 1, 2, 3, 255, 254]),
    'INVITE sip:service@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nCall-ID: x\r\n\r\n',
    'INVITE sip:service@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKy\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: y\r\nCSeq: one INVITE\r\nContent-Length: 0\r\n\r\n',
    'SIP/2.0 200 OK\r\n\r\n',
    `OPTIONS sip:x SIP/2.0\r\n${'X-Pad: a\r\n'.repeat(5000)}\r\n`,
  ];
  for (const j of junk) sock.send(typeof j === 'string' ? Buffer.from(j) : j, s.sipPort, '127.0.0.1');
  await new Promise((r) => setTimeout(r, 500));
  sock.close();
  t.true(replies.every((l) => l.startsWith('SIP/2.0 400')), replies.join(' | '));
  t.true(replies.length >= 1, 'at least the recoverable INVITE got a 400');
  const health = await request<{ components: { sip: { status: string } } }>(s.base, 'GET', '/api/v1/health');
  t.is(health.body.components.sip.status, 'up');
  const r = await sipp(scenario('inbound-pcap.xml', { holdMs: 500 }));
  t.is(r.code, 0, 'a call still goes through');
  await newCall();
});
