/**
 * What an answered call does with the requests in its dialog, and with the ACK that never comes:
 * nothing we do not serve is answered 200 (drachtio-srf's default), nothing we do not serve is
 * advertised in Allow, and a 200 never ACKed ends as `ack_timeout`, not as the caller's hangup.
 * SIPp is the caller; the SIP timers run on a short T1 so 64*T1 is 3.2 s.
 */
import test from 'ava';
import { request } from '../../helpers/http.js';
import { inboundSetup, scenario, type InboundSetup, endedCallWatcher, sippCall } from '../../helpers/inbound.js';
import { sippMissing, type SippRun } from '../../helpers/sipp.js';

const missing = sippMissing();
const sippTest = missing ? test.skip : test.serial;
if (missing) test('SIPp in-dialog tests are skipped: ' + missing, (t) => t.pass());

/** T1 = 50 ms: the 2xx is retransmitted at 50, 100, 200… ms and given up at 64*T1 = 3.2 s. */
const T1_MS = 50;

let s: InboundSetup;
test.before(async () => {
  if (missing) return;
  s = await inboundSetup({ sip: { t1Ms: T1_MS, ringMs: 0 } });
});
test.after.always(() => s?.close());

const sipp = (scn: SippRun['scenario'], extra: Partial<SippRun> = {}) => sippCall(s, scn, extra);
const newCall = endedCallWatcher(() => s, 15_000);

const endedEvent = async (callId: string) => {
  const res = await request<{ items: { type: string; data: Record<string, unknown> }[] }>(s.base, 'GET', `/api/v1/calls/${callId}/events?limit=100`, { headers: s.tenant.headers });
  return res.body.items.find((e) => e.type === 'call.ended')?.data;
};

sippTest('REFER, NOTIFY and MESSAGE in a call are refused (501, 481, 501) with Warning and Allow; DTMF INFO is answered 200; UPDATE with an offer is answered with SDP', async (t) => {
  const r = await sipp(scenario('inbound-in-dialog.xml'));
  t.is(r.code, 0, r.output + r.errors);
  // With T1 = 50 ms a loaded machine may see the 200 retransmitted (and ACKed again): one each.
  const once = ['<- 200 INVITE', '-> ACK'];
  const ladder = r.ladder.filter((l, i, all) => !/ 1\d\d /.test(l) && !(once.includes(l) && all.indexOf(l) < i));
  t.deepEqual(ladder, [
    '-> INVITE', '<- 200 INVITE', '-> ACK',
    '-> REFER', '<- 501 REFER',
    '-> INFO', '<- 200 INFO',
    '-> INFO', '<- 200 INFO',
    '-> NOTIFY', '<- 481 NOTIFY',
    '-> MESSAGE', '<- 501 MESSAGE',
    '-> UPDATE', '<- 200 UPDATE',
    '-> UPDATE', '<- 200 UPDATE',
    '-> BYE', '<- 200 BYE',
  ]);
  // The refusals changed nothing: the call went on until the caller's BYE.
  t.like(await newCall(), { status: 'completed', endReason: 'caller_hangup', hangupBy: 'caller' });
});

sippTest('OPTIONS advertises only the methods a call serves (no INFO, REFER or NOTIFY)', async (t) => {
  const r = await sipp(scenario('options-allow.xml', { allow: '^ *INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE *$' }));
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder, ['-> OPTIONS', '<- 200 OPTIONS']);
});

sippTest('a 200 never ACKed: retransmitted, then BYE with Reason 408 at 64*T1; recorded as ack_timeout by the system, in the row and in call.ended', async (t) => {
  const started = Date.now();
  const r = await sipp(scenario('inbound-no-ack.xml', { byeTimeoutMs: 15_000 }));
  const tookMs = Date.now() - started;
  t.is(r.code, 0, r.output + r.errors);
  const ladder = r.ladder.filter((l) => !/ 1\d\d /.test(l));
  t.deepEqual([ladder[0], ...ladder.slice(-2)], ['-> INVITE', '<- BYE', '-> 200 BYE']);
  const retransmits = ladder.filter((l) => l === '<- 200 INVITE').length;
  t.log(`200 sent ${retransmits} times, BYE after ${tookMs} ms (64*T1 = ${64 * T1_MS} ms)`);
  t.true(retransmits >= 5, `the 200 was retransmitted (${retransmits} copies)`);
  t.true(tookMs >= 64 * T1_MS, `BYE after ${tookMs} ms`);
  const call = await newCall();
  t.like(call, { status: 'failed', endReason: 'ack_timeout', hangupBy: 'system' });
  t.like(await endedEvent(call.id), { endReason: 'ack_timeout', hangupBy: 'system' });
});
