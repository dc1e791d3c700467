/**
 * `POST /api/v1/calls` and its cancel, as a client sees them: the error envelopes of bad
 * requests, a test key's simulated call (its whole life, and no datagram to the gateway), a
 * queued call canceled before it is dialled, and a property that no request body makes the route
 * answer 5xx. Calls to SIP users: the two ways to name one, another tenant's or mode's user
 * refused (even when registered: nothing reaches its device), a test key's simulated call to its
 * test user, the OpenAPI examples, and a property over the body shapes.
 */
import dgram from 'node:dgram';
import test from 'ava';
import fc from 'fast-check';
import { assertError } from '../helpers/envelope.js';
import { request, waitFor } from '../helpers/http.js';
import { inboundSetup, timeline, type InboundSetup } from '../helpers/inbound.js';
import { connectSipWs, registerOverWs } from '../helpers/sip-ws-client.js';
import { mintKey, seedTenant } from '../helpers/tenant.js';

/** Bodies per property run: with the engine in-process, about 1 s per 100 on a loaded machine. */
const RUNS = 300;
/** Bodies of the SIP-user shapes property (the same cost per body). */
const SHAPE_RUNS = 300;

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
/** The tenant's SIP user (live), its test-mode user, and another tenant's (registered, its Contact the gateway socket). */
let desk = { id: '', aor: '' };
let testDesk = { id: '', aor: '' };
let foreign = { id: '', aor: '' };

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
  const sipUser = async (headers: Record<string, string>, username: string) => {
    const r = await request<{ id: string; aor: string }>(s.base, 'POST', '/api/v1/sip-users', { headers, body: { username, password: `${username}-secret-1` } });
    if (r.status !== 201) throw new Error(`sip user: ${r.status} ${JSON.stringify(r.body)}`);
    return { id: r.body.id, aor: r.body.aor };
  };
  desk = await sipUser(h, 'desk');
  testDesk = await sipUser(testHeaders, 'desk');
  const other = await seedTenant(s.app, { name: 'Other' });
  foreign = await sipUser(other.headers, 'desk');
});
test.after.always(async () => {
  gw?.close();
  await s?.close();
});

const post = (body: unknown, headers = s.tenant.headers) => request<Record<string, unknown>>(s.base, 'POST', '/api/v1/calls', { headers, body });
const sipWsUrl = () => `${s.base.replace(/^http/, 'ws')}/sip`;

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

test.serial("calls to SIP users: bad shapes and other tenants' or modes' users get the error envelope, and nothing reaches a foreign user's registered device", async (t) => {
  // The other tenant's desk is registered, its Contact the gateway socket: a call placed to it would show there.
  const ws = await connectSipWs(sipWsUrl());
  t.teardown(() => ws.close());
  const domain = foreign.aor.split('@')[1]!;
  const reg = await registerOverWs(ws, { user: 'desk', password: 'desk-secret-1', domain, realm: 'agent-studio', callId: 'foreign-desk', cseq: 1, contacts: [`<sip:desk@127.0.0.1:${gwPort}>`], expires: '300' });
  t.is(reg.status, 200);
  const before = datagrams.length;
  const agentId = s.agentId;
  const bad = (field: string, message: string) => [{ field, message }];
  const cases: [unknown, { field: string; message: string }[]][] = [
    [{ agentId }, bad('trunkId', 'Give trunkId and to, or a SIP user (sipUserId, or to as its address of record)')],
    [{ agentId, trunkId, sipUserId: desk.id }, bad('sipUserId', 'Give either trunkId (with to) or a SIP user, not both')],
    [{ agentId, trunkId, to: '+15551234567', sipUserId: desk.id }, bad('sipUserId', 'Give either trunkId (with to) or a SIP user, not both')],
    [{ agentId, trunkId }, bad('to', 'Required with trunkId')],
    [{ agentId, sipUserId: desk.id, to: desk.aor }, bad('to', 'Leave out to with sipUserId (the user is called at its address of record)')],
    [{ agentId, to: '+15551234567' }, bad('to', "Without trunkId, to must be a SIP user's address of record (sip:<username>@<tenant id>.<mode>)")],
    [{ agentId, to: `${desk.aor};transport=udp` }, bad('to', "Without trunkId, to must be a SIP user's address of record (sip:<username>@<tenant id>.<mode>)")],
    [{ agentId, to: `sips:${desk.aor.slice(4)}` }, bad('to', "Without trunkId, to must be a SIP user's address of record (sip:<username>@<tenant id>.<mode>)")],
    [{ agentId, to: desk.aor.replace('sip:desk@', 'sip:nobody@') }, bad('to', 'No such SIP user')],
    // Another tenant's user, by id and by address; this tenant's test-mode user with a live key.
    [{ agentId, sipUserId: foreign.id }, bad('sipUserId', 'No such SIP user')],
    [{ agentId, to: foreign.aor }, bad('to', 'No such SIP user')],
    [{ agentId, sipUserId: testDesk.id }, bad('sipUserId', 'No such SIP user')],
    [{ agentId, to: testDesk.aor }, bad('to', 'No such SIP user')],
    [{ agentId: '00000000-0000-4000-8000-000000000000', sipUserId: desk.id }, bad('agentId', 'No such agent')],
  ];
  const total = async () => (await request<{ total: number }>(s.base, 'GET', '/api/v1/calls?limit=1', { headers: s.tenant.headers })).body.total;
  const calls = await total();
  for (const [body, details] of cases) assertError(t, await post(body), 'validation_error', 'Invalid request body', details);
  t.is(await total(), calls, 'no refused request was recorded as a call');
  await new Promise((r) => setTimeout(r, 300));
  // (An earlier test's INVITE may still be resent to the socket, which never answers: only INVITEs to a desk count.)
  t.deepEqual(datagrams.slice(before).filter((d) => d.startsWith('INVITE sip:desk@')), [], "no INVITE reached the other tenant's device");
});

test.serial("a test key's call to its test-mode SIP user is simulated (not registered, no INVITE): ringing, in_progress, completed", async (t) => {
  const before = datagrams.length;
  for (const body of [{ sipUserId: testDesk.id }, { to: testDesk.aor }]) {
    const res = await post({ agentId: testAgentId, ...body }, testHeaders);
    t.is(res.status, 201, JSON.stringify(res.body));
    t.like(res.body, { mode: 'test', status: 'ringing', to: testDesk.aor, toUri: testDesk.aor, trunkId: null, metadata: { sipUserId: testDesk.id } });
    const get = async () => (await request<{ status: string; endReason: string | null }>(s.base, 'GET', `/api/v1/calls/${res.body.id as string}`, { headers: testHeaders })).body;
    const done = await waitFor(async () => ((await get()).endReason ? get() : undefined), 5000);
    t.like(done, { status: 'completed', endReason: 'callee_hangup' });
  }
  t.deepEqual(datagrams.slice(before).filter((d) => d.startsWith('INVITE sip:desk@')), []);
});

test.serial("the OpenAPI document's examples of POST /api/v1/calls are requests the route takes (ids replaced by a test key's)", async (t) => {
  const doc = (await request<{ paths: Record<string, Record<string, { requestBody: { content: Record<string, { examples: Record<string, { value: Record<string, unknown> }> }> } }>> }>(s.base, 'GET', '/openapi.json')).body;
  const examples = doc.paths['/api/v1/calls']!.post!.requestBody.content['application/json']!.examples;
  t.deepEqual(Object.keys(examples).sort(), ['sipUser', 'sipUserAor', 'trunk']);
  for (const [name, { value }] of Object.entries(examples)) {
    const body: Record<string, unknown> = { ...value, agentId: testAgentId };
    if ('trunkId' in body) body.trunkId = testTrunkId;
    if ('sipUserId' in body) body.sipUserId = testDesk.id;
    else if (typeof body.to === 'string' && !('trunkId' in body)) body.to = testDesk.aor;
    const res = await post(body, testHeaders);
    t.is(res.status, 201, `${name}: ${JSON.stringify(res.body)}`);
  }
});

test.serial(`SIP-user body shapes: 201 exactly when one of trunk or user is named rightly, else 422, never 5xx (${SHAPE_RUNS} bodies, test key)`, async (t) => {
  const foreignDomain = foreign.aor.split('@')[1]!;
  const liveDomain = desk.aor.split('@')[1]!;
  const testDomain = testDesk.aor.split('@')[1]!;
  /** A value, and whether the route takes it (`to`: with a trunk, and without one). */
  type Id = { value: string; ok: boolean };
  type To = { value: string; trunk: boolean; user: boolean };
  /** Absent (weight `none`), one of the good values (weight 3 each), or one of the bad ones (weight 1 each). */
  const pick = <T>(none: number, good: T[], bad: T[]) =>
    fc.oneof(
      { arbitrary: fc.constant<T | undefined>(undefined), weight: none },
      ...good.map((v) => ({ arbitrary: fc.constant<T | undefined>(v), weight: 3 })),
      ...bad.map((v) => ({ arbitrary: fc.constant<T | undefined>(v), weight: 1 })),
    );
  const shape = fc.record({
    trunkId: pick<Id>(6, [{ value: testTrunkId, ok: true }], [{ value: trunkId, ok: false }, { value: 'not-a-uuid', ok: false }]),
    sipUserId: pick<Id>(
      6,
      [{ value: testDesk.id, ok: true }],
      [{ value: desk.id, ok: false }, { value: foreign.id, ok: false }, { value: '00000000-0000-4000-8000-000000000000', ok: false }, { value: 'desk', ok: false }],
    ),
    to: pick<To>(
      4,
      [
        { value: testDesk.aor, trunk: false, user: true },
        { value: '+15551234567', trunk: true, user: false },
      ],
      [
        { value: 'sip:a@127.0.0.1', trunk: true, user: false },
        { value: `sip:desk@${liveDomain}`, trunk: false, user: false },
        { value: `sip:desk@${foreignDomain}`, trunk: false, user: false },
        { value: `sip:nobody@${testDomain}`, trunk: false, user: false },
        { value: `sip:desk@${testDomain}:5060`, trunk: false, user: false },
        { value: '', trunk: false, user: false },
      ],
    ),
  });
  /** What the route must answer, from the rules in its description: exactly one of a trunk (with to) or a user. */
  const expected = ({ trunkId: tr, sipUserId: u, to }: { trunkId?: Id; sipUserId?: Id; to?: To }): number => {
    if (tr) return tr.ok && !u && to?.trunk ? 201 : 422;
    if (u) return u.ok && !to ? 201 : 422;
    return to?.user ? 201 : 422;
  };
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(shape, async (picked) => {
      const body: Record<string, unknown> = { agentId: testAgentId };
      for (const [k, v] of Object.entries(picked)) if (v) body[k] = v.value;
      const r = await post(body, testHeaders);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      return r.status === expected(picked);
    }),
    { numRuns: SHAPE_RUNS },
  );
  t.log(`${SHAPE_RUNS} bodies: ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.true((statuses.get(201) ?? 0) > 0 && (statuses.get(422) ?? 0) > 0);
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
