/**
 * Media faults on live calls: SIGKILL of the mediasoup worker that carries a call ends that call
 * with BYE and an end reason within 2 s; a call on the other worker carries on; the replacement
 * worker takes new calls, with media.
 */
import test from 'ava';
import { request, waitFor } from '../../helpers/http.js';
import { calls, inboundSetup, scenario, type CallRow } from '../../helpers/inbound.js';
import { runSipp, sippMissing } from '../../helpers/sipp.js';

const missing = sippMissing();
if (missing) test('media fault tests are skipped: ' + missing, (t) => t.pass());

/** The bound on ending a dead worker's calls: the worker's death is seen at once (its pipe closes). */
const END_BOUND_MS = 2000;

(missing ? test.skip : test)('killing the worker under one call ends it with BYE (media_worker_died) within 2 s; the other call continues; the replacement takes new calls with media', async (t) => {
  const s = await inboundSetup({ media: { workers: 2, respawnDelayMs: 200 } });
  t.teardown(() => s.close());
  const run = async (scn: { path: string }) => runSipp({ transport: 'u1', target: s.sipTarget, scenario: scn, args: [] });

  // Call A waits for the engine's BYE; call B plays its recording and hangs up itself.
  const a = run(scenario('inbound-callee-bye.xml', { payloadTypes: '0', rtpmaps: '      a=rtpmap:0 PCMU/8000', extraHeaders: '', why: 'worker killed', headerRegexp: 'SIP/2.0 200', byeTimeoutMs: 20_000 }));
  // Set-up waits are generous: the suite runs two files at once, and SIPp may start late.
  await waitFor(() => s.app.engine.calls.activeCalls === 1 && s.app.engine.mediaService.legCount === 1, 15_000);
  const b = run(scenario('inbound-pcap.xml', { holdMs: 4000 }));
  await waitFor(() => s.app.engine.mediaService.legCount === 2, 15_000);

  const [legA, legB] = s.app.engine.mediaService.legs();
  t.not(legA!.workerPid, legB!.workerPid, 'the two calls are on different workers');
  const deadPid = legA!.workerPid;
  const killedAt = Date.now();
  process.kill(deadPid, 'SIGKILL');

  const ra = await a;
  t.is(ra.code, 0, ra.output + ra.errors);
  t.deepEqual(ra.ladder.slice(-2), ['<- BYE', '-> 200 BYE']);
  const rb = await b;
  t.is(rb.code, 0, rb.output + rb.errors);
  const rows = await waitFor(async () => {
    const c = await calls(s);
    return c.length === 2 && c.every((x) => x.endReason) ? c : undefined;
  }, 10_000);
  const byId = new Map(rows.map((r) => [r.id, r as CallRow & { endedAt: string }]));
  t.like(byId.get(legA!.id), { status: 'completed', endReason: 'media_worker_died', hangupBy: 'system' });
  // The engine sends the BYE as the call ends (its dialog is its last disposer).
  const endedAfterMs = Date.parse(byId.get(legA!.id)!.endedAt) - killedAt;
  t.log(`call on the killed worker ended ${endedAfterMs} ms after SIGKILL (bound ${END_BOUND_MS} ms)`);
  t.true(endedAfterMs >= 0 && endedAfterMs <= END_BOUND_MS, `ended ${endedAfterMs} ms after the kill`);
  t.like(byId.get(legB!.id), { status: 'completed', endReason: 'caller_hangup' });
  t.true(byId.get(legB!.id)!.rtpStats.packetsSent! > 100, 'call B kept echoing after the other worker died');

  // New calls after the death: the pool hands them out round-robin over live workers, so two
  // calls at once land one on the survivor and one on the replacement; both must echo.
  const pool = s.app.engine.media;
  await waitFor(() => pool.stats().alive === 2 && !pool.stats().workers.some((w) => w.pid === deadPid), 10_000);
  const replacement = pool.stats().workers.find((w) => w.pid !== legB!.workerPid)!.pid!;
  const next = [run(scenario('inbound-pcap.xml', { holdMs: 2500 })), run(scenario('inbound-pcap.xml', { holdMs: 2500 }))];
  // Each new leg's worker, as seen while it lives: under load one SIPp may start after the other
  // call has ended, so the two legs need not be up at the same moment.
  const seen = new Map<string, number>();
  await waitFor(() => {
    for (const l of s.app.engine.mediaService.legs()) seen.set(l.id, l.workerPid);
    return seen.size >= 2;
  }, 15_000);
  const pids = [...seen.values()];
  t.true(pids.includes(replacement), `a new call runs on the replacement worker ${replacement} (legs on ${pids.join(', ')})`);
  for (const r of await Promise.all(next)) t.is(r.code, 0, r.output + r.errors);
  const after = await waitFor(async () => {
    const c = await calls(s);
    return c.length === 4 && c.every((x) => x.endReason) ? c.slice(2) : undefined;
  }, 10_000);
  for (const c of after) {
    t.like(c, { status: 'completed', endReason: 'caller_hangup' });
    t.true(c.rtpStats.packetsSent! > 50, `a call after the death echoed ${c.rtpStats.packetsSent} packets`);
  }
});

(missing ? test.skip : test)('with no media worker alive an INVITE gets 503 with Retry-After, the call is recorded as failed (media_error) and the tenant sees why', async (t) => {
  // One worker, replaced only after the test is over.
  const s = await inboundSetup({ media: { workers: 1, respawnDelayMs: 30_000 } });
  t.teardown(() => s.close());
  const pool = s.app.engine.media;
  process.kill(pool.stats().workers[0]!.pid!, 'SIGKILL');
  await waitFor(() => pool.stats().alive === 0, 5000);
  const r = await runSipp({
    transport: 'u1',
    target: s.sipTarget,
    scenario: scenario('inbound-expect-final.xml', { payloadTypes: '0', rtpmaps: '      a=rtpmap:0 PCMU/8000', extraHeaders: '', status: 503, headerRegexp: 'Retry-After: 5' }),
    args: [],
  });
  t.is(r.code, 0, r.output + r.errors);
  const [call] = await waitFor(async () => {
    const c = await calls(s);
    return c.length === 1 && c[0]!.endReason ? c : undefined;
  });
  t.like(call, { status: 'failed', endReason: 'media_error', hangupBy: 'system', answeredAt: null });
  const logs = await request<{ items: unknown[] }>(s.base, 'GET', `/api/v1/analytics/errors?callId=${call!.id}`, { headers: s.tenant.headers });
  t.like(logs.body.items, [{ kind: 'media', code: '503', callId: call!.id, message: 'media unavailable: no media worker alive' }]);
});
