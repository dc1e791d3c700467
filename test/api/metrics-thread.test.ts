/**
 * `GET /metrics` with the SIP server in a worker thread (`sip.server = thread`): the SIP stack's
 * counters cross the thread on each scrape, as health does, and move with a real SIPp call.
 */
import test from 'ava';
import { request, waitFor } from '../helpers/http.js';
import { calls, inboundSetup, type InboundSetup } from '../helpers/inbound.js';
import { runSipp, sippMissing } from '../helpers/sipp.js';

const missing = sippMissing();
const sippTest = missing ? test.skip : test.serial;
if (missing) test('SIPp metrics tests (thread mode) are skipped: ' + missing, (t) => t.pass());

let s: InboundSetup;
let metricsBase: string;
test.before(async () => {
  if (missing) return;
  s = await inboundSetup({ sip: { server: 'thread' }, metrics: { listen: true, port: 0 } });
  metricsBase = `http://127.0.0.1:${s.app.metricsHttp!.port}`;
});
test.after.always(() => s?.close());

/** `name{labels} value` lines into a map keyed by the whole series (the format itself is checked in metrics.test.ts). */
async function scrape(): Promise<Map<string, number>> {
  const res = await request<string>(metricsBase, 'GET', '/metrics');
  if (res.status !== 200) throw new Error(`scrape answered ${res.status}`);
  const out = new Map<string, number>();
  for (const line of res.body.split('\n')) {
    const m = /^(\S+?(?:\{.*\})?) (\S+)$/.exec(line);
    if (m && !line.startsWith('#')) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

sippTest('thread mode: a SIPp call and an OPTIONS move the SIP counters read from the thread, and the call counters', async (t) => {
  const before = await scrape();
  const seen = (await calls(s)).length;
  const r = await runSipp({ transport: 'u1', target: s.sipTarget, scenario: { builtin: 'uac' }, args: [] });
  t.is(r.code, 0, r.output + r.errors);
  const o = await runSipp({ transport: 'u1', target: s.sipTarget, scenario: { file: 'uac-options.xml' } });
  t.is(o.code, 0, o.output + o.errors);
  await waitFor(async () => (await calls(s)).length > seen && (await calls(s)).at(-1)!.endReason === 'caller_hangup', 10_000);
  const after = await scrape();
  const moved = (series: string) => (after.get(series) ?? 0) - (before.get(series) ?? 0);
  t.is(moved('as_sip_requests_total{direction="in",method="INVITE"}'), 1);
  t.is(moved('as_sip_requests_total{direction="in",method="ACK"}'), 1);
  t.is(moved('as_sip_requests_total{direction="in",method="BYE"}'), 1);
  t.is(moved('as_sip_requests_total{direction="in",method="OPTIONS"}'), 1);
  t.is(moved('as_sip_responses_total{direction="out",class="2xx"}'), 3);
  t.is(moved('as_calls_started_total'), 1);
  t.is(moved('as_calls_ended_total{reason="caller_hangup"}'), 1);
  t.is(moved('as_call_setup_seconds_count'), 1);
  t.is(after.get('as_sip_call_control_connected'), 1);
  t.true(after.has('as_sip_abuse_failed_auths_total'), 'abuse counters come from the thread too');
  const p99 = after.get('as_sip_thread_eventloop_delay_seconds{quantile="0.99"}');
  t.true(p99 !== undefined && p99 >= 0 && p99 < 5, `SIP thread loop delay p99 ${p99} s`);
  t.log(`SIP thread event-loop delay p99 ${(p99! * 1000).toFixed(2)} ms`);
});
