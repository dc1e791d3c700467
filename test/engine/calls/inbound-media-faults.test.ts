/**
 * Media faults on live calls: SIGKILL of the mediasoup worker that carries a call ends that call
 * with BYE and an end reason; a call on the other worker carries on.
 */
import test from 'ava';
import { freePort } from '../../helpers/engine-process.js';
import { waitFor } from '../../helpers/http.js';
import { calls, inboundSetup, scenario } from '../../helpers/inbound.js';
import { runSipp, sippMissing } from '../../helpers/sipp.js';

const missing = sippMissing();
if (missing) test('media fault tests are skipped: ' + missing, (t) => t.pass());

(missing ? test.skip : test)('killing the worker under one call ends it with BYE (media_worker_died); the other call continues', async (t) => {
  const s = await inboundSetup({ media: { workers: 2, respawnDelayMs: 200 } });
  t.teardown(() => s.close());
  const run = async (scn: { path: string }) => runSipp({ transport: 'u1', target: s.sipTarget, scenario: scn, args: ['-mp', String(await freePort())] });

  // Call A waits for the engine's BYE; call B plays its recording and hangs up itself.
  const a = run(scenario('inbound-callee-bye.xml', { payloadTypes: '0', rtpmaps: '      a=rtpmap:0 PCMU/8000', extraHeaders: '', why: 'worker killed', headerRegexp: 'SIP/2.0 200', byeTimeoutMs: 20_000 }));
  await waitFor(() => s.app.engine.calls.activeCalls === 1 && s.app.engine.mediaService.legCount === 1, 5000);
  const b = run(scenario('inbound-pcap.xml', { holdMs: 4000 }));
  await waitFor(() => s.app.engine.mediaService.legCount === 2, 5000);

  const [legA, legB] = s.app.engine.mediaService.legs();
  t.not(legA!.workerPid, legB!.workerPid, 'the two calls are on different workers');
  process.kill(legA!.workerPid, 'SIGKILL');

  const ra = await a;
  t.is(ra.code, 0, ra.output + ra.errors);
  t.deepEqual(ra.ladder.slice(-2), ['<- BYE', '-> 200 BYE']);
  const rb = await b;
  t.is(rb.code, 0, rb.output + rb.errors);
  const rows = await waitFor(async () => {
    const c = await calls(s);
    return c.length === 2 && c.every((x) => x.endReason) ? c : undefined;
  }, 10_000);
  const byId = new Map(rows.map((r) => [r.id, r]));
  t.like(byId.get(legA!.id), { status: 'completed', endReason: 'media_worker_died', hangupBy: 'system' });
  t.like(byId.get(legB!.id), { status: 'completed', endReason: 'caller_hangup' });
  t.true(byId.get(legB!.id)!.rtpStats.packetsSent! > 100, 'call B kept echoing after the other worker died');
});
