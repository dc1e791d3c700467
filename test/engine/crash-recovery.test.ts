/**
 * SIGKILL of the engine process during 50 concurrent calls with RTP, at set-up, during media and
 * during teardown, restarting it on the same file each time (and killing that restart once, at a
 * different point of its start-up each cycle). After each restart every call is closed with a
 * reason (`engine_restart` for those the crash cut, with a `call.ended` event, ending within a
 * heartbeat of the kill), no event or call row that was acknowledged is lost, every call a caller
 * got a 200 for is recorded as answered, the media workers died with the engine, and the file
 * passes `PRAGMA integrity_check`. The suite runs 5 kills; `npm run bench -- crash` runs 20
 * (bench/crash.ts, the same cycle).
 */
import test from 'ava';
import { crashCycle, figures, timelinesWhole, type CycleReport } from '../helpers/crash-cycle.js';
import { CrashEngine } from '../helpers/crash-engine.js';
import { asResponse, UdpPeer } from '../helpers/sip-peer.js';
import { requestText, SDP_150 } from '../helpers/sip-text.js';
import { sippMissing } from '../helpers/sipp.js';

const KILLS = 5;
const CALLS = 50;
/** Calls per second SIPp places: all 50 are up within 2 s, before the first BYE (2.5-5 s holds). */
const RATE = 25;

const missing = sippMissing();
if (missing) test('crash recovery tests are skipped: ' + missing, (t) => t.pass());
const serial = missing ? test.skip : test.serial;

let engine: CrashEngine | undefined;
const reports: CycleReport[] = [];

test.before(async () => {
  if (!missing) engine = await CrashEngine.create();
});
test.after.always(async () => {
  if (engine?.proc.child.exitCode === null) engine.proc.child.kill('SIGKILL');
});

for (let cycle = 0; cycle < KILLS; cycle++) {
  serial(`kill ${cycle + 1}/${KILLS} under ${CALLS} concurrent calls: nothing acknowledged is lost, every call is closed`, async (t) => {
    t.timeout(120_000);
    const r = await crashCycle(engine!, { cycle, calls: CALLS, rate: RATE });
    reports.push(r);
    t.log(figures(r));
    t.deepEqual(r.violations, []);
    t.true(r.onTime, 'the moment to kill came');
    t.true(r.placed >= CALLS && r.answered > 0 && r.eventsAcked > 0 && r.callsSeenByApi > 0, 'there was load to lose');
    t.is(r.closedAsRestart, r.openAtKill);
    t.is(r.workersLeft, 0);
    if (r.moment.startsWith('media')) {
      t.is(r.openAtKill, CALLS, 'every call was live at the kill');
      t.true(r.bye481 > 0, 'the callers BYEs reached the restarted engine and were answered 481');
    }
  });
}

serial('the restarted engine answers 481 to a BYE and a re-INVITE of a call the crash cut', async (t) => {
  const cut = engine!.view().calls.find((c) => c.end_reason === 'engine_restart' && c.sip_call_id);
  t.truthy(cut, 'a cycle left a call closed by the restart');
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  const inDialog = { callId: cut!.sip_call_id!, viaPort: peer.port, fromTag: 'caller-tag', toTag: 'engine-tag-before-crash', uri: 'sip:service@127.0.0.1' };
  await peer.send(requestText({ ...inDialog, method: 'BYE', branch: 'z9hG4bK-crash-bye', cseq: 3 }), engine!.sipPort);
  const bye = asResponse(await peer.waitFor((m) => m.kind === 'response' && m.cseq.method === 'BYE' && m.status >= 200));
  t.is(bye.status, 481);
  const reinvite = requestText({ ...inDialog, method: 'INVITE', branch: 'z9hG4bK-crash-reinvite', cseq: 4, extra: ['Content-Type: application/sdp'], body: SDP_150 });
  await peer.send(reinvite, engine!.sipPort);
  const inv = asResponse(await peer.waitFor((m) => m.kind === 'response' && m.cseq.method === 'INVITE' && m.status >= 200));
  t.is(inv.status, 481);
  t.is(engine!.view().calls.filter((c) => c.sip_call_id === cut!.sip_call_id).length, 1, 'the re-INVITE made no new call');
});

serial('after the kills: a graceful stop exits 0, the file is whole and every call has its whole timeline', async (t) => {
  const code = await engine!.stop();
  t.is(code, 0, engine!.proc.stderr().slice(-2000));
  const view = engine!.view();
  t.is(view.integrity, 'ok');
  t.deepEqual(view.calls.filter((c) => c.ended_at === null || c.end_reason === null), []);
  t.deepEqual(timelinesWhole(view), []);
  const total = reports.reduce((a, r) => ({ acked: a.acked + r.eventsAcked, answered: a.answered + r.answered, cut: a.cut + r.openAtKill }), { acked: 0, answered: 0, cut: 0 });
  t.log(`${reports.length} kills: ${view.calls.length} call rows, ${view.events.length} events; ${total.answered} calls answered, ${total.cut} cut by a kill, ${total.acked} events acknowledged; loss 0`);
});
