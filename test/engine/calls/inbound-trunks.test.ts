/**
 * Which calls get in: trunks matched by source address or by digest credentials (RFC 3261
 * §22.2), 403 for anything else, and 503 + Retry-After at capacity. SIPp is the carrier.
 */
import test from 'ava';
import { waitFor } from '../../helpers/http.js';
import { calls, inboundSetup, scenario, type InboundSetup, SIPP_CALLER_BYE } from '../../helpers/inbound.js';
import { runSipp, sippMissing, type SippRun } from '../../helpers/sipp.js';

const missing = sippMissing();
// Serial: each test starts its own engine; four at once on two cores make SIPp's timers flaky.
const sippTest = missing ? test.skip : test.serial;
if (missing) test('SIPp trunk tests are skipped: ' + missing, (t) => t.pass());

const PCMU = { payloadTypes: '0', rtpmaps: '      a=rtpmap:0 PCMU/8000', extraHeaders: '' };

async function sipp(s: InboundSetup, scn: SippRun['scenario'], extra: Partial<SippRun> = {}) {
  return runSipp({ transport: 'u1', target: s.sipTarget, scenario: scn, ...extra, args: [...(extra.args ?? [])] });
}

async function withSetup(t: { teardown(fn: () => unknown): void }, ...args: Parameters<typeof inboundSetup>) {
  const s = await inboundSetup(...args);
  t.teardown(() => s.close());
  return s;
}

sippTest('a source outside every trunk allowlist gets 403, logged as a SIP error of the dialled number\'s tenant', async (t) => {
  const s = await withSetup(t, {}, { allowlist: ['192.0.2.10', '198.51.100.0/24'] });
  const r = await sipp(s, scenario('inbound-expect-final.xml', { ...PCMU, status: 403, headerRegexp: 'SIP/2.0 403' }));
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(await calls(s), []);
  const logged = s.app.engine.db.prepare('SELECT tenant_id AS tenantId, kind, code, message FROM error_logs').all();
  t.deepEqual(logged, [{ tenantId: s.tenant.tenantId, kind: 'sip', code: '403', message: 'INVITE refused: source not in any trunk allowlist' }]);
});

sippTest('a digest trunk: 401 challenge, INVITE with credentials answered, BYE', async (t) => {
  const s = await withSetup(t, {}, { username: 'carrier-a', password: 'Very-Secret-42' });
  const r = await sipp(
    s,
    scenario('inbound-digest.xml', { username: 'carrier-a', password: 'Very-Secret-42', finalStatus: '200" rrs="true', afterAnswer: SIPP_CALLER_BYE }),
  );
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.filter((l) => !/ 1\d\d /.test(l)), ['-> INVITE', '<- 401 INVITE', '-> ACK', '-> INVITE', '<- 200 INVITE', '-> ACK', '-> BYE', '<- 200 BYE']);
  const call = await waitFor(async () => (await calls(s)).find((c) => c.endReason));
  t.like(call, { status: 'completed', endReason: 'caller_hangup' });
});

sippTest('a digest trunk: a wrong password gets 403 after the challenge', async (t) => {
  const s = await withSetup(t, {}, { username: 'carrier-a', password: 'Very-Secret-42' });
  const r = await sipp(s, scenario('inbound-digest.xml', { username: 'carrier-a', password: 'guess', finalStatus: '403', afterAnswer: '' }));
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.filter((l) => !/ 1\d\d /.test(l)), ['-> INVITE', '<- 401 INVITE', '-> ACK', '-> INVITE', '<- 403 INVITE', '-> ACK']);
  t.deepEqual(await calls(s), []);
});

sippTest('at capacity a new INVITE gets 503 with Retry-After; the call in progress is unaffected', async (t) => {
  const s = await withSetup(t, { sip: { maxCalls: 1 } });
  const first = sipp(s, scenario('inbound-pcap.xml', { holdMs: 2500 }));
  await waitFor(() => s.app.engine.calls.activeCalls === 1, 5000);
  const second = await sipp(s, scenario('inbound-expect-final.xml', { ...PCMU, status: 503, headerRegexp: 'Retry-After: [0-9]+' }));
  t.is(second.code, 0, second.output + second.errors);
  const r = await first;
  t.is(r.code, 0, r.output + r.errors);
  const all = await waitFor(async () => {
    const c = await calls(s);
    return c.length === 1 && c[0]!.endReason ? c : undefined;
  });
  t.like(all[0], { status: 'completed', endReason: 'caller_hangup' });
});
