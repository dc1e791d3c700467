/**
 * `GET /metrics` on a real engine: who may read it (super-admins on the API listener, anyone on
 * the private listener), the text exposition format parsed strictly, and the counters moving
 * exactly as real SIPp calls and requests move them.
 */
import test from 'ava';
import { request, waitFor } from '../helpers/http.js';
import { calls, inboundSetup, scenario, type InboundSetup } from '../helpers/inbound.js';
import { assertError } from '../helpers/envelope.js';
import { runSipp, sippMissing } from '../helpers/sipp.js';
import { seedTenant, userWithRole } from '../helpers/tenant.js';
import { Gauge } from 'prom-client';

const missing = sippMissing();
const sippTest = missing ? test.skip : test.serial;
if (missing) test('SIPp metrics tests are skipped: ' + missing, (t) => t.pass());

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

let s: InboundSetup;
let superAdmin: Record<string, string>;
let metricsBase: string;

test.before(async () => {
  s = await inboundSetup({ metrics: { listen: true, port: 0 } });
  const admin = await seedTenant(s.app, { superAdmin: true });
  const login = await request<{ accessToken: string }>(s.base, 'POST', '/api/v1/auth/login', { body: { email: admin.ownerEmail, password: admin.ownerPassword } });
  superAdmin = { authorization: `Bearer ${login.body.accessToken}` };
  metricsBase = `http://127.0.0.1:${s.app.metricsHttp!.port}`;
});
test.after.always(() => s?.close());

// ------------------------------------------------------------------ a strict exposition parser

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(?:,|$)/;

/** Parses the text format 0.0.4, throwing on anything it does not allow. */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  if (!text.endsWith('\n')) throw new Error('the text must end with a newline');
  const familyOf = (sample: string): Family | undefined => {
    for (const suffix of ['', '_bucket', '_sum', '_count']) {
      if (!sample.endsWith(suffix)) continue;
      const f = families.get(sample.slice(0, sample.length - suffix.length));
      if (f && (suffix === '' || f.type === 'histogram' || f.type === 'summary')) return f;
    }
    return undefined;
  };
  for (const [i, line] of text.slice(0, -1).split('\n').entries()) {
    const where = `line ${i + 1}: ${line}`;
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name, ${where}`);
      const f = families.get(name) ?? { type: 'untyped', help: '', samples: [] };
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`bad type, ${where}`);
        if (f.samples.length) throw new Error(`TYPE after samples, ${where}`);
        f.type = rest as Family['type'];
      } else f.help = rest;
      families.set(name, f);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample, ${where}`);
    const [, name, labelText = '', valueText] = m as unknown as [string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    let rest = labelText;
    while (rest) {
      const l = LABEL.exec(rest);
      if (!l) throw new Error(`bad labels, ${where}`);
      if (l[1]! in labels) throw new Error(`label repeated, ${where}`);
      labels[l[1]!] = l[2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(l[0].length);
    }
    // Prometheus reads values with Go's strconv.ParseFloat: NaN and Inf in any case (prom-client writes `Nan`).
    const special = /^([+-]?)(inf|infinity|nan)$/i.exec(valueText);
    const value = special ? (special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity) : Number(valueText);
    if (Number.isNaN(value) && !special) throw new Error(`bad value, ${where}`);
    const f = familyOf(name);
    if (!f) throw new Error(`sample without a TYPE, ${where}`);
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`negative counter, ${where}`);
    f.samples.push({ name, labels, value });
  }
  for (const [name, f] of families) {
    if (f.type !== 'histogram') continue;
    // Per label set (without le): buckets ascending and cumulative, +Inf equal to _count.
    const groups = new Map<string, Sample[]>();
    for (const smp of f.samples.filter((x) => x.name === `${name}_bucket`)) {
      const { le, ...rest } = smp.labels;
      if (le === undefined) throw new Error(`${name}: bucket without le`);
      const key = JSON.stringify(rest);
      groups.set(key, [...(groups.get(key) ?? []), smp]);
    }
    for (const [key, buckets] of groups) {
      const les = buckets.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
      if (les.at(-1) !== Infinity) throw new Error(`${name}${key}: no +Inf bucket`);
      for (let i = 1; i < buckets.length; i++) {
        if (!(les[i]! > les[i - 1]!) || buckets[i]!.value < buckets[i - 1]!.value) throw new Error(`${name}${key}: buckets not ascending and cumulative`);
      }
      const count = f.samples.find((x) => x.name === `${name}_count` && JSON.stringify(x.labels) === key);
      if (count?.value !== buckets.at(-1)!.value) throw new Error(`${name}${key}: +Inf bucket is not _count`);
    }
  }
  return families;
}

/** One sample's value (0 when absent, as Prometheus sees a series not yet there). */
function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  const f = families.get(name) ?? families.get(base);
  const smp = f?.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v) && Object.keys(x.labels).length === Object.keys(labels).length);
  return smp?.value ?? 0;
}

async function scrape(): Promise<Map<string, Family>> {
  const res = await request<string>(metricsBase, 'GET', '/metrics');
  if (res.status !== 200) throw new Error(`scrape answered ${res.status}`);
  return parseExposition(res.body);
}

// ------------------------------------------------------------------ auth

test.serial('on the API listener: no credentials 401, a tenant key or owner 403, a super-admin 200 in text format 0.0.4', async (t) => {
  assertError(t, await request(s.base, 'GET', '/metrics'), 'authentication_error', 'Missing credentials: send X-API-Key or Authorization: Bearer');
  assertError(t, await request(s.base, 'GET', '/metrics', { headers: s.tenant.headers }), 'authorization_error', 'Super-admin only');
  const owner = await userWithRole(s.app, s.tenant.tenantId, 'owner');
  assertError(t, await request(s.base, 'GET', '/metrics', { headers: owner.headers }), 'authorization_error', 'Super-admin only');
  const ok = await request<string>(s.base, 'GET', '/metrics', { headers: superAdmin });
  t.is(ok.status, 200);
  t.is(ok.headers.get('content-type'), CONTENT_TYPE);
  t.is(ok.headers.get('cache-control'), 'no-store');
  const families = parseExposition(ok.body);
  t.is(families.get('as_calls_started_total')?.type, 'counter');
  t.is(families.get('as_call_setup_seconds')?.type, 'histogram');
  t.is(families.get('nodejs_eventloop_lag_p99_seconds')?.type, 'gauge');
  t.log(`${families.size} metric families, ${[...families.values()].reduce((n, f) => n + f.samples.length, 0)} samples`);
});

test.serial('the private listener serves /metrics without credentials, and nothing else', async (t) => {
  const res = await request<string>(metricsBase, 'GET', '/metrics');
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), CONTENT_TYPE);
  t.true(parseExposition(res.body).has('as_sip_requests_total'));
  const other = await request(metricsBase, 'GET', '/api/v1/health');
  t.is(other.status, 404);
  // The private route is not in the API's document; the super-admin one is.
  const doc = await request<{ paths: Record<string, { get?: { security?: unknown } }> }>(s.base, 'GET', '/openapi.json');
  t.truthy(doc.body.paths['/metrics']?.get);
});

// ------------------------------------------------------------------ counters

sippTest('a SIPp call moves the call, setup latency, SIP message and transaction counters by exactly one call', async (t) => {
  const before = await scrape();
  const seen = (await calls(s)).length;
  const r = await runSipp({ transport: 'u1', target: s.sipTarget, scenario: { builtin: 'uac' }, args: [] });
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder, ['-> INVITE', '<- 100 INVITE', '<- 200 INVITE', '-> ACK', '-> BYE', '<- 200 BYE']);
  await waitFor(async () => (await calls(s)).length > seen && (await calls(s)).at(-1)!.endReason === 'caller_hangup', 10_000);
  const after = await scrape();
  const moved = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);

  t.is(moved('as_calls_started_total'), 1);
  t.is(moved('as_calls_answered_total'), 1);
  t.is(moved('as_calls_ended_total', { reason: 'caller_hangup' }), 1);
  t.is(moved('as_calls_ended_total', { reason: 'canceled' }), 0);
  t.is(moved('as_call_setup_seconds_count'), 1);
  t.true(moved('as_call_setup_seconds_sum') > 0 && moved('as_call_setup_seconds_sum') < 5, `setup ${moved('as_call_setup_seconds_sum')} s`);
  t.log(`setup latency ${(moved('as_call_setup_seconds_sum') * 1000).toFixed(1)} ms`);
  for (const state of ['trying', 'ringing', 'answered']) t.is(value(after, 'as_calls_active', { state }), 0, state);

  // The SIP stack saw INVITE, ACK, BYE; it sent 100, 200 (INVITE) and 200 (BYE).
  t.is(moved('as_sip_requests_total', { direction: 'in', method: 'INVITE' }), 1);
  t.is(moved('as_sip_requests_total', { direction: 'in', method: 'ACK' }), 1);
  t.is(moved('as_sip_requests_total', { direction: 'in', method: 'BYE' }), 1);
  t.is(moved('as_sip_requests_total', { direction: 'in', method: 'OPTIONS' }), 0);
  t.is(moved('as_sip_responses_total', { direction: 'out', class: '1xx' }), 1);
  t.is(moved('as_sip_responses_total', { direction: 'out', class: '2xx' }), 2);
  t.is(moved('as_sip_responses_total', { direction: 'out', class: '4xx' }), 0);
  // Three event-log transactions: started, answered, ended.
  t.is(moved('as_db_transaction_seconds_count'), 3);
  t.is(value(after, 'as_sip_call_control_connected'), 1);
  t.is(value(after, 'as_media_workers', { state: 'alive' }), 1);
  t.true(value(after, 'as_media_worker_cpu_seconds_total', { worker: '0', mode: 'user' }) > 0);
});

sippTest('refusals and out-of-dialog requests: a 404 INVITE, an OPTIONS and a 488 move only their own series', async (t) => {
  const before = await scrape();
  const PCMU = { payloadTypes: '0', rtpmaps: '      a=rtpmap:0 PCMU/8000', extraHeaders: '' };
  const nobody = await runSipp({ transport: 'u1', target: s.sipTarget, scenario: scenario('inbound-expect-final.xml', { ...PCMU, status: 404, headerRegexp: 'SIP/2.0 404' }), args: ['-s', 'nobody'] });
  t.is(nobody.code, 0, nobody.output + nobody.errors);
  const options = await runSipp({ transport: 'u1', target: s.sipTarget, scenario: { file: 'uac-options.xml' } });
  t.is(options.code, 0, options.output + options.errors);
  const codec = await runSipp({
    transport: 'u1',
    target: s.sipTarget,
    scenario: scenario('inbound-expect-final.xml', { status: 488, headerRegexp: 'SIP/2.0 488', extraHeaders: '', payloadTypes: '18', rtpmaps: '      a=rtpmap:18 G729/8000' }),
    args: [],
  });
  t.is(codec.code, 0, codec.output + codec.errors);
  const after = await waitFor(async () => {
    const a = await scrape();
    return value(a, 'as_calls_ended_total', { reason: 'no_common_codec' }) > value(before, 'as_calls_ended_total', { reason: 'no_common_codec' }) ? a : undefined;
  });
  const moved = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
  // The 404 is no call; the 488 is a call that started and ended unanswered.
  t.is(moved('as_calls_started_total'), 1);
  t.is(moved('as_calls_answered_total'), 0);
  t.is(moved('as_call_setup_seconds_count'), 0);
  t.is(moved('as_calls_ended_total', { reason: 'no_common_codec' }), 1);
  t.is(moved('as_sip_requests_total', { direction: 'in', method: 'INVITE' }), 2);
  t.is(moved('as_sip_requests_total', { direction: 'in', method: 'OPTIONS' }), 1);
  t.is(moved('as_sip_requests_total', { direction: 'in', method: 'ACK' }), 2);
  t.is(moved('as_sip_responses_total', { direction: 'out', class: '4xx' }), 2);
  t.is(moved('as_sip_responses_total', { direction: 'out', class: '2xx' }), 1);
  t.is(moved('as_sip_abuse_failed_auths_total'), 0);
});

sippTest('the abuse counters: an INVITE from a source no trunk allows is a 403 and one failed authentication', async (t) => {
  const before = await scrape();
  const PCMU = { payloadTypes: '0', rtpmaps: '      a=rtpmap:0 PCMU/8000', extraHeaders: '' };
  const r = await runSipp({ transport: 'u1', target: s.sipTarget, localIp: '127.0.0.2', scenario: scenario('inbound-expect-final.xml', { ...PCMU, status: 403, headerRegexp: 'SIP/2.0 403' }), args: [] });
  t.is(r.code, 0, r.output + r.errors);
  const after = await scrape();
  const moved = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
  t.is(moved('as_sip_abuse_failed_auths_total'), 1);
  t.is(moved('as_sip_abuse_bans_total'), 0);
  t.is(moved('as_sip_responses_total', { direction: 'out', class: '4xx' }), 1);
  t.is(moved('as_calls_started_total'), 0);
  t.true(value(after, 'as_sip_abuse_sources_tracked') >= 2, 'two sources seen (127.0.0.1 and 127.0.0.2)');
});

// ------------------------------------------------------------------ cost

test.serial('scrape cost: ms per scrape of the engine registry, and with 1,000 more live series', async (t) => {
  const time = async (n: number) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await s.app.engine.metrics.scrape();
    return (performance.now() - t0) / n;
  };
  const series = async () => [...parseExposition(await s.app.engine.metrics.scrape()).values()].reduce((n, f) => n + f.samples.length, 0);
  await time(5);
  const base = await series();
  const msBase = await time(50);
  const extra = new Gauge({ name: 'as_test_extra', help: 'load for the scrape cost test', labelNames: ['i'], registers: [s.app.engine.metrics.registry] });
  for (let i = 0; i < 1000; i++) extra.set({ i: String(i) }, i);
  const msMore = await time(50);
  const more = await series();
  s.app.engine.metrics.registry.removeSingleMetric('as_test_extra');
  t.is(more - base, 1000);
  t.log(`${base} series: ${msBase.toFixed(2)} ms per scrape; ${more} series: ${msMore.toFixed(2)} ms per scrape (50 scrapes each)`);
  t.pass();
});
