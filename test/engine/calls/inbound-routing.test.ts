/**
 * Where an INVITE goes, and who hears about the ones refused: a trunk's inbound prefix rule
 * rewrites the dialled number before the lookup; an inactive agent takes no calls (480); a
 * refusal of a number of ours lands in its tenant's error log, one of no number of ours in the
 * operator's log only. SIPp is the carrier; settings change through the REST API as an admin's.
 */
import test from 'ava';
import { request, waitFor } from '../../helpers/http.js';
import { calls, inboundSetup, scenario, type InboundSetup } from '../../helpers/inbound.js';
import { runSipp, sippMissing, type SippRun } from '../../helpers/sipp.js';

const missing = sippMissing();
const sippTest = missing ? test.skip : test.serial;
if (missing) test('SIPp routing tests are skipped: ' + missing, (t) => t.pass());

const NUMBER = '+442071234567';
const PCMU = { payloadTypes: '0', rtpmaps: '      a=rtpmap:0 PCMU/8000', extraHeaders: '' };

let s: InboundSetup;
test.before(async () => {
  if (missing) return;
  s = await inboundSetup({ sip: { ringMs: 0 } }, { allowlist: ['127.0.0.1'] }, NUMBER);
});
test.after.always(() => s?.close());

const sipp = async (dialled: string, scn: SippRun['scenario']) =>
  runSipp({ transport: 'u1', target: s.sipTarget, scenario: scn, args: ['-s', dialled] });
const expect = (status: number, headerRegexp = `SIP/2.0 ${status}`) => scenario('inbound-expect-final.xml', { ...PCMU, status, headerRegexp });
const patch = async (path: string, body: unknown) => {
  const r = await request(s.base, 'PATCH', path, { headers: s.tenant.headers, body });
  if (r.status !== 200) throw new Error(`PATCH ${path}: ${r.status} ${JSON.stringify(r.body)}`);
};
const errorLogs = async () =>
  (await request<{ items: { kind: string; code: string; message: string; details: Record<string, unknown> }[] }>(s.base, 'GET', '/api/v1/analytics/errors', { headers: s.tenant.headers })).body.items;
const allErrorRows = () => (s.app.engine.db.prepare('SELECT COUNT(*) AS n FROM error_logs').get() as { n: number }).n;

sippTest('a trunk\'s inbound prefix rule: 0044… matches +44… only once the rule says so', async (t) => {
  const r404 = await sipp('00442071234567', expect(404));
  t.is(r404.code, 0, 'without a rule the carrier\'s form is an unknown number: ' + r404.output + r404.errors);
  await patch(`/api/v1/sip-trunks/${s.trunkId}`, { prefixRules: { inbound: { strip: '00', add: '+' } } });
  t.teardown(() => patch(`/api/v1/sip-trunks/${s.trunkId}`, { prefixRules: {} }));
  const r = await sipp('00442071234567', scenario('inbound-pcap.xml', { holdMs: 300 }));
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.filter((l) => !/ 1\d\d /.test(l)), ['-> INVITE', '<- 200 INVITE', '-> ACK', '-> BYE', '<- 200 BYE']);
  const call = await waitFor(async () => (await calls(s)).find((c) => c.endReason));
  const row = (await request<{ to: string; toUri: string; from: string }>(s.base, 'GET', `/api/v1/calls/${call.id}`, { headers: s.tenant.headers })).body;
  t.like(row, { to: NUMBER, from: '+15550100' });
  t.regex(row.toUri, /^sip:00442071234567@/, 'the Request-URI is kept as sent');
  t.like(call, { status: 'completed', endReason: 'caller_hangup' });
});

sippTest('an inactive agent\'s number answers 480 with Reason and Warning, records no call and logs the refusal for the tenant; active again, it answers', async (t) => {
  await patch(`/api/v1/agents/${s.agentId}`, { status: 'inactive' });
  const before = (await calls(s)).length;
  const r = await sipp(NUMBER, expect(480, 'Reason: SIP;cause=480;text="The agent is inactive".*Warning: 399 agent-studio "The agent is inactive"'));
  t.is(r.code, 0, r.output + r.errors);
  t.is((await calls(s)).length, before, 'no call recorded');
  const [log] = await errorLogs();
  t.like(log, { kind: 'sip', code: '480', message: `INVITE refused: agent ${s.agentId} is inactive` });

  await patch(`/api/v1/agents/${s.agentId}`, { status: 'active' });
  const ok = await sipp(NUMBER, scenario('inbound-pcap.xml', { holdMs: 300 }));
  t.is(ok.code, 0, ok.output + ok.errors);
  t.is((await waitFor(async () => ((await calls(s)).length > before ? await calls(s) : undefined))).length, before + 1);
});

sippTest('403 for a source no trunk allows: under the dialled number\'s tenant; for a number of no tenant, no row (the operator\'s log line only)', async (t) => {
  await patch(`/api/v1/sip-trunks/${s.trunkId}`, { inbound: { allowlist: ['192.0.2.10'] } });
  t.teardown(() => patch(`/api/v1/sip-trunks/${s.trunkId}`, { inbound: { allowlist: ['127.0.0.1'] } }));
  const rows = allErrorRows();
  const mine = await sipp(NUMBER, expect(403));
  t.is(mine.code, 0, mine.output + mine.errors);
  const [log] = await errorLogs();
  t.like(log, { kind: 'sip', code: '403', message: 'INVITE refused: source not in any trunk allowlist', details: { source: '127.0.0.1' } });
  const nobody = await sipp('+15559990000', expect(403));
  t.is(nobody.code, 0, nobody.output + nobody.errors);
  t.is(allErrorRows(), rows + 1, 'one row, for the tenant; none for the scan of an unknown number');
});

sippTest('a number of ours pinned to another trunk gets 404 through this one, and its tenant sees why', async (t) => {
  const h = { headers: s.tenant.headers };
  const other = await request<{ id: string }>(s.base, 'POST', '/api/v1/sip-trunks', { ...h, body: { name: 'other carrier', inbound: { allowlist: ['192.0.2.20'] } } });
  const pinned = await request<{ id: string }>(s.base, 'POST', '/api/v1/phone-numbers', { ...h, body: { number: '+442071234568', agentId: s.agentId, trunkId: other.body.id } });
  t.is(pinned.status, 201, JSON.stringify(pinned.body));
  const r = await sipp('+442071234568', expect(404));
  t.is(r.code, 0, r.output + r.errors);
  const [log] = await errorLogs();
  t.like(log, { kind: 'sip', code: '404', message: 'INVITE refused: the number is not reachable through the calling trunk', details: { source: '127.0.0.1' } });
});
