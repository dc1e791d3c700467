/**
 * `POST /api/v1/calls` and its cancel, as a client sees them: the error envelopes of bad
 * requests, a test key's simulated call (its whole life, and no datagram to the gateway), a
 * queued call canceled before it is dialled, and a property that no request body makes the route
 * answer 5xx.
 */
import dgram from 'node:dgram';
import test from 'ava';
import fc from 'fast-check';
import { assertError } from '../helpers/envelope.js';
import { request, waitFor } from '../helpers/http.js';
import { inboundSetup, timeline, type InboundSetup } from '../helpers/inbound.js';
import { mintKey } from '../helpers/tenant.js';

/** Bodies per property run: with the engine in-process, about 1 s per 100 on a loaded machine. */
const RUNS = 300;

let s: InboundSetup;
/** A UDP socket as every trunk's gateway: what reaches it was sent by the engine. */
let gw: dgram.Socket;
const datagrams: string[] = [];
let gwPort = 0;
let trunkId = '';
let bareTrunkId = '';
let testHeaders: Record<string, string> = {};
let testAgentId = '';
let testTrunkId = '';

test.before(async () => {
  s = await inboundSetup();
  gw = dgram.createSocket('udp4');
  gw.on('message', (m) => datagrams.push(m.toString('latin1')));
  await new Promise<void>((resolve) => gw.bind(0, '127.0.0.1', () => resolve()));
  gwPort = gw.address().port;
  const h = s.tenant.headers;
  trunkId = (await request<{ id: string }>(s.base, 'POST', '/api/v1/sip-trunks', { headers: h, body: { name: 'gw', outbound: { host: '127.0.0.1', port: gwPort }, cpsLimit: 1 } })).body.id;
  bareTrunkId = (await request<{ id: string }>(s.base, 'POST', '/api/v1/sip-trunks', { headers: h, body: { name: 'inbound only' } })).body.id;
  // A test key sees (and writes) only test rows: its own agent and trunk.
  testHeaders = { 'x-api-key': mintKey(s.app, s.tenant.tenantId, { mode: 'test', rateLimit: 1_000_000 }) };
  testAgentId = (await request<{ id: string }>(s.base, 'POST', '/api/v1/agents', { headers: testHeaders, body: { name: 'test agent', config: { prompt: { system: 'x' } } } })).body.id;
  testTrunkId = (await request<{ id: string }>(s.base, 'POST', '/api/v1/sip-trunks', { headers: testHeaders, body: { name: 'test gw', outbound: { host: '127.0.0.1', port: gwPort } } })).body.id;
});
test.after.always(async () => {
  gw?.close();
  await s?.close();
});

const post = (body: unknown, headers = s.tenant.headers) => request<Record<string, unknown>>(s.base, 'POST', '/api/v1/calls', { headers, body });

test.serial('bad requests get the error envelope: unknown agent or trunk, a trunk without a gateway, a bad or foreign to, bad headers', async (t) => {
  const ok = { agentId: s.agentId, trunkId, to: '+15551234567' };
  const unknown = '00000000-0000-4000-8000-000000000000';
  assertError(t, await post({ ...ok, agentId: unknown }), 'validation_error', 'Invalid request body', [{ field: 'agentId', message: 'No such agent' }]);
  assertError(t, await post({ ...ok, trunkId: unknown }), 'validation_error', 'Invalid request body', [{ field: 'trunkId', message: 'No such SIP trunk' }]);
  assertError(t, await post({ ...ok, trunkId: bareTrunkId }), 'validation_error', 'Invalid request body', [{ field: 'trunkId', message: 'The trunk has no outbound gateway' }]);
  assertError(t, await post({ ...ok, to: '5551234' }), 'validation_error', 'Invalid request body', [{ field: 'to', message: 'target must be an E.164 number or a sip: URI' }]);
  assertError(t, await post({ ...ok, to: 'sip:bob@198.51.100.7' }), 'validation_error', 'Invalid request body', [{ field: 'to', message: "A sip: URI must be on the trunk's outbound gateway host" }]);
  assertError(t, await post({ ...ok, to: 'sip:bob@127.0.0.1?Replaces=x' }), 'validation_error', 'Invalid request body', [{ field: 'to', message: 'target URI must not carry headers' }]);
  // The gateway's host with maddr elsewhere would take the trunk's credentials to another host.
  assertError(t, await post({ ...ok, to: 'sip:bob@127.0.0.1;maddr=198.51.100.7' }), 'validation_error', 'Invalid request body', [{ field: 'to', message: 'target URI must not carry maddr' }]);
  const fields = async (body: unknown) => ((await post(body)).body as { error: { code: string; details: { field: string }[] } }).error;
  t.like(await fields({ ...ok, headers: { 'X-Ok': 'a\r\nVia: evil' } }), { code: 'validation_error', details: [{ field: 'headers.X-Ok' }] });
  t.like(await fields({ ...ok, headers: { Via: 'x' } }), { code: 'validation_error' });
  t.like(await fields({ ...ok, headers: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`X-H${i}`, 'v'])) }), { code: 'validation_error', details: [{ field: 'headers' }] });
  t.like(await fields({ ...ok, ringTimeoutSeconds: 1 }), { code: 'validation_error', details: [{ field: 'ringTimeoutSeconds' }] });
  t.like(await fields({ ...ok, from: 'anonymous' }), { code: 'validation_error', details: [{ field: 'from' }] });
  t.like(await fields({ ...ok, extra: 1 }), { code: 'validation_error' });
  assertError(t, await request(s.base, 'DELETE', `/api/v1/calls/${unknown}`, { headers: s.tenant.headers }), 'not_found', 'No such call');
  t.deepEqual(datagrams, [], 'no refused request reached the gateway');
});

test.serial('a test key never places a real call: queued, ringing, in_progress, completed with their events, and no datagram to the gateway', async (t) => {
  const before = datagrams.length;
  const res = await post({ agentId: testAgentId, trunkId: testTrunkId, to: '+15551234567' }, testHeaders);
  t.is(res.status, 201, JSON.stringify(res.body));
  t.like(res.body, { mode: 'test', status: 'ringing', direction: 'outbound' });
  const get = async () => (await request<{ status: string; endReason: string | null; sipCode: number | null }>(s.base, 'GET', `/api/v1/calls/${res.body.id as string}`, { headers: testHeaders })).body;
  await waitFor(async () => (await get()).status === 'in_progress', 3000, 20);
  const done = await waitFor(async () => ((await get()).endReason ? get() : undefined), 5000);
  t.like(done, { status: 'completed', endReason: 'callee_hangup', sipCode: 200 });
  const types = (await request<{ items: { type: string }[] }>(s.base, 'GET', `/api/v1/calls/${res.body.id as string}/events`, { headers: testHeaders })).body.items.map((e) => e.type);
  t.deepEqual(types, ['call.started', 'call.ringing', 'call.answered', 'call.ended']);
  await new Promise((r) => setTimeout(r, 300));
  t.is(datagrams.length, before, 'nothing was sent to the gateway');
  // A live key does not see the test call.
  t.is((await request(s.base, 'GET', `/api/v1/calls/${res.body.id as string}`, { headers: s.tenant.headers })).status, 404);
});

test.serial('a queued call (behind a CPS cap of 1/s) shows its place, and DELETE takes it out before any INVITE: canceled; the call ahead is dialled', async (t) => {
  const first = await post({ agentId: s.agentId, trunkId, to: '+15551230001', ringTimeoutSeconds: 5 });
  const second = await post({ agentId: s.agentId, trunkId, to: '+15551230002' });
  t.is(second.status, 201);
  t.like(second.body, { status: 'queued', queuePosition: 1 });
  t.true(Date.parse(second.body.estimatedStartAt as string) > Date.now() + 300, String(second.body.estimatedStartAt));
  const del = await request<Record<string, unknown>>(s.base, 'POST', `/api/v1/calls/${second.body.id as string}/cancel`, { headers: s.tenant.headers });
  t.is(del.status, 200, JSON.stringify(del.body));
  t.like(del.body, { status: 'canceled', endReason: 'canceled', sipCode: null, queuePosition: null });
  t.deepEqual(await timeline(s, second.body.id as string), ['call.started', 'call.ended']);
  // The first goes out (the gateway never answers: the engine retransmits, then CANCELs it).
  await waitFor(() => datagrams.some((d) => d.startsWith('INVITE sip:+15551230001@')), 3000);
  await new Promise((r) => setTimeout(r, 1500));
  t.false(datagrams.some((d) => d.includes('+15551230002')), 'the canceled call never left');
  const canceledFirst = await request<Record<string, unknown>>(s.base, 'DELETE', `/api/v1/calls/${first.body.id as string}`, { headers: s.tenant.headers });
  t.like(canceledFirst.body, { status: 'canceled' });
  assertError(t, await request(s.base, 'DELETE', `/api/v1/calls/${first.body.id as string}`, { headers: s.tenant.headers }), 'conflict', 'The call cannot be canceled (canceled)');
});

test.serial(`no request body makes POST /api/v1/calls answer 5xx (${RUNS} bodies, test key)`, async (t) => {
  // Each field is mostly well formed (so some bodies are valid calls), else near misses, else anything.
  const field = <T, U>(valid: fc.Arbitrary<T>, near: fc.Arbitrary<U>) =>
    fc.oneof({ arbitrary: valid, weight: 8 }, { arbitrary: near, weight: 1 }, { arbitrary: fc.anything(), weight: 1 });
  const body = fc.oneof(
    { arbitrary: fc.anything(), weight: 1 },
    {
      arbitrary: fc.record(
        {
          agentId: field(fc.constant(testAgentId), fc.uuid()),
          trunkId: field(fc.constant(testTrunkId), fc.uuid()),
          to: field(fc.constantFrom('+15551234567', '+4420123456', 'sip:a@127.0.0.1', 'sips:b@127.0.0.1:5061'), fc.oneof(fc.constantFrom('sip:', '+0', 'tel:+1555', 'sip:x@[::1]', 'sip:a@127.0.0.1?x=y'), fc.string({ maxLength: 40 }))),
          from: field(fc.constantFrom('+15550100', '+4420123'), fc.string({ maxLength: 20 })),
          headers: field(
            fc.dictionary(fc.constantFrom('X-A', 'X-B-C', 'x-campaign'), fc.stringMatching(/^[ -~]{0,40}$/), { maxKeys: 3 }),
            fc.dictionary(fc.oneof(fc.constantFrom('x-', 'Via', 'X-\r\n'), fc.string({ maxLength: 70 })), fc.string({ maxLength: 300 }), { maxKeys: 20 }),
          ),
          ringTimeoutSeconds: field(fc.integer({ min: 5, max: 300 }), fc.oneof(fc.integer(), fc.double())),
          variables: field(
            fc.dictionary(fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/), fc.oneof(fc.string({ maxLength: 50 }), fc.integer(), fc.boolean(), fc.constant(null)), { maxKeys: 5 }),
            fc.dictionary(fc.string({ maxLength: 70 }), fc.oneof(fc.string({ maxLength: 1100 }), fc.object()), { maxKeys: 40 }),
          ),
        },
        { requiredKeys: ['agentId', 'trunkId', 'to'] },
      ),
      weight: 6,
    },
  );
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(body, async (b) => {
      const r = await request(s.base, 'POST', '/api/v1/calls', { headers: testHeaders, body: b });
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      return r.status < 500;
    }),
    { numRuns: RUNS },
  );
  t.log(`${RUNS} bodies: ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.true((statuses.get(201) ?? 0) > 0, 'some bodies were valid calls');
});

// Last: it stops this file's dialer.
test.serial('once the engine is stopping, POST /api/v1/calls answers service_unavailable and records nothing', async (t) => {
  const before = (await request<{ total: number }>(s.base, 'GET', '/api/v1/calls?limit=1', { headers: s.tenant.headers })).body.total;
  s.app.engine.calls.outbound.close();
  t.false(s.app.engine.calls.outbound.accepting);
  assertError(t, await post({ agentId: s.agentId, trunkId, to: '+15551234567' }), 'service_unavailable', 'The engine is stopping: no call was placed');
  t.is((await request<{ total: number }>(s.base, 'GET', '/api/v1/calls?limit=1', { headers: s.tenant.headers })).body.total, before);
});
