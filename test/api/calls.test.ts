import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import type { Scope } from '../../engine/store/repositories/scoped.js';
import { testConfig, testLogger } from '../helpers/config.js';
import { at, client, insertEvent, recordCall, seedObjects, type Client, type Seeded } from '../helpers/resources.js';
import { seedTenant, userWithRole } from '../helpers/tenant.js';

let app: App;
let viewer: Client;
let scope: Scope;
let o: Seeded;

test.before(async () => {
  const config = testConfig();
  app = await startApp(config, testLogger(config));
  const t1 = await seedTenant(app);
  scope = { tenantId: t1.tenantId, mode: 'live' };
  viewer = client(app, (await userWithRole(app, t1.tenantId, 'viewer')).headers);
  o = seedObjects(app, scope);
});
test.after.always(() => app?.close());

const T0 = '2024-06-01T10:00:00.000Z';

test('call control writes a call; GET /calls/{id} shows all of it', async (t) => {
  const calls = app.engine.store.calls;
  const call = calls.create({
    tenantId: scope.tenantId,
    mode: 'live',
    direction: 'inbound',
    fromUri: 'sip:+15550001111@carrier.example',
    toUri: 'sip:+15552223333@agentstudio.local',
    fromNumber: '+15550001111',
    toNumber: '+15552223333',
    trunkId: o.trunkId,
    agentId: o.agentId,
    phoneNumberId: o.numberId,
    workflowId: o.workflowId,
    workflowVersion: 1,
    sipCallId: 'a84b4c76e66710@carrier.example',
    metadata: { campaign: 'spring' },
    startedAt: T0,
  });
  t.is(call.status, 'ringing');
  t.false(calls.markRinging(call.id), 'only a queued call can start ringing');
  t.true(calls.markAnswered(call.id, at(T0, 2)));
  t.false(calls.markAnswered(call.id, at(T0, 3)), 'answered once');
  t.is(calls.getById(call.id)!.status, 'in_progress');
  const ended = calls.end(call.id, {
    reason: 'caller_hangup',
    hangupBy: 'caller',
    rtpStats: { packetsSent: 4500, packetsReceived: 4490, packetsLost: 10, jitterMs: 3.5 },
    transcript: [
      { role: 'agent', text: 'Hello, Smile Dental.', at: at(T0, 2) },
      { role: 'caller', text: 'I need an appointment.', at: at(T0, 5) },
    ],
    metrics: { turnLatencyMs: [640, 710] },
    at: at(T0, 92),
  });
  t.like(ended, { status: 'completed', durationMs: 90_000, endedAt: at(T0, 92) });
  t.is(calls.end(call.id, { reason: 'api_hangup' }), undefined, 'a call ends once');
  t.is(calls.bySipCallId('a84b4c76e66710@carrier.example')?.id, call.id);

  const res = await viewer.get(`/api/v1/calls/${call.id}`);
  t.is(res.status, 200);
  t.deepEqual(res.body, {
    id: call.id,
    mode: 'live',
    direction: 'inbound',
    status: 'completed',
    from: '+15550001111',
    to: '+15552223333',
    fromUri: 'sip:+15550001111@carrier.example',
    toUri: 'sip:+15552223333@agentstudio.local',
    agentId: o.agentId,
    trunkId: o.trunkId,
    phoneNumberId: o.numberId,
    workflowId: o.workflowId,
    workflowVersion: 1,
    sipCallId: 'a84b4c76e66710@carrier.example',
    startedAt: T0,
    answeredAt: at(T0, 2),
    endedAt: at(T0, 92),
    durationMs: 90_000,
    endReason: 'caller_hangup',
    hangupBy: 'caller',
    sipCode: null,
    createdAt: call.createdAt,
    updatedAt: at(T0, 92),
    transcript: [
      { role: 'agent', text: 'Hello, Smile Dental.', at: at(T0, 2) },
      { role: 'caller', text: 'I need an appointment.', at: at(T0, 5) },
    ],
    rtpStats: { packetsSent: 4500, packetsReceived: 4490, packetsLost: 10, jitterMs: 3.5 },
    metrics: { turnLatencyMs: [640, 710] },
    metadata: { campaign: 'spring' },
    recording: null,
    queuePosition: null,
    estimatedStartAt: null,
  });
});

// Serial: endAllOpen closes every open call of the installation, so it must not overlap other tests.
test.serial('an unanswered call ends failed or as told, without talk time; open calls close at start-up', async (t) => {
  const calls = app.engine.store.calls;
  const busy = recordCall(app, { ...scope, direction: 'outbound', status: 'queued', startedAt: T0 });
  t.true(calls.markRinging(busy, at(T0, 1)));
  t.like(calls.end(busy, { reason: 'callee_hangup', status: 'busy', hangupBy: 'callee', at: at(T0, 4) }), { status: 'busy', durationMs: null, hangupBy: 'callee' });
  const lost = recordCall(app, { ...scope, direction: 'inbound', startedAt: T0 });
  t.like(calls.end(lost, { reason: 'rtp_timeout' }), { status: 'failed', durationMs: null });

  const tenant = await seedTenant(app);
  const other = { tenantId: tenant.tenantId, mode: 'live' as const };
  const open1 = recordCall(app, { ...other, direction: 'inbound', startedAt: T0 }, { answeredAt: at(T0, 1) });
  const open2 = recordCall(app, { ...other, direction: 'web', startedAt: T0 });
  const ended = calls.endAllOpen('engine_restart', at(T0, 61));
  t.true(ended.length >= 2);
  t.like(ended.find((c) => c.id === open1), { status: 'completed', endReason: 'engine_restart', durationMs: 60_000 });
  t.like(calls.getById(open1), { status: 'completed', endReason: 'engine_restart', hangupBy: 'system', durationMs: 60_000 });
  t.like(calls.getById(open2), { status: 'failed', endReason: 'engine_restart', durationMs: null });
  t.deepEqual(calls.endAllOpen('engine_restart'), []);
});

test('the list filters by status, direction, agent and start time, newest first', async (t) => {
  const tenant = await seedTenant(app);
  const s = { tenantId: tenant.tenantId, mode: 'live' as const };
  const mine = seedObjects(app, s);
  const c = client(app, tenant.headers);
  const done = recordCall(app, { ...s, direction: 'inbound', agentId: mine.agentId, startedAt: at(T0, 100) }, { answeredAt: at(T0, 101), end: { reason: 'caller_hangup', at: at(T0, 160) } });
  const out = recordCall(app, { ...s, direction: 'outbound', toNumber: '+15559998888', startedAt: at(T0, 200) });
  const web = recordCall(app, { ...s, direction: 'web', agentId: mine.agentId, startedAt: at(T0, 300) }, { answeredAt: at(T0, 301) });
  const ids = async (q: string) => (await c.get(`/api/v1/calls${q}`)).body.items.map((x: { id: string }) => x.id);

  t.deepEqual(await ids(''), [mine.callId, web, out, done], 'the seeded call started now, the others in 2024');
  t.deepEqual(await ids('?status=completed'), [done]);
  t.deepEqual(await ids('?status=in_progress'), [web]);
  t.deepEqual(await ids('?direction=outbound'), [out]);
  t.deepEqual(await ids(`?agentId=${mine.agentId}&direction=web`), [web]);
  t.deepEqual(await ids(`?from=${at(T0, 200)}&to=${at(T0, 300)}`), [out]);
  const item = (await c.get(`/api/v1/calls?direction=outbound`)).body.items[0];
  t.like(item, { id: out, status: 'ringing', from: null, to: '+15559998888', durationMs: null });
  t.false('transcript' in item, 'list items leave the transcript out');

  const bad = await c.get('/api/v1/calls?status=talking&direction=sideways');
  t.deepEqual(bad.body.error.details.map((d: { field: string }) => d.field), ['query.status', 'query.direction']);
});

test("the call's timeline comes from the event log, in order and paginated", async (t) => {
  const call = recordCall(app, { ...scope, direction: 'inbound', startedAt: T0 });
  const types = ['call.started', 'call.ringing', 'call.answered', 'call.transcript', 'call.ended'];
  const ids = types.map((type, i) => insertEvent(app, scope, call, type, { seq: i }));
  insertEvent(app, { ...scope, mode: 'test' }, call, 'call.leak', {});
  insertEvent(app, scope, o.callId, 'call.other', {});

  const page1 = await viewer.get(`/api/v1/calls/${call}/events?limit=3`);
  t.is(page1.status, 200);
  t.like(page1.body, { total: 5, limit: 3, offset: 0 });
  t.deepEqual(page1.body.items.map((e: { id: number; type: string; data: unknown }) => [e.id, e.type, e.data]), [
    [ids[0], 'call.started', { seq: 0 }],
    [ids[1], 'call.ringing', { seq: 1 }],
    [ids[2], 'call.answered', { seq: 2 }],
  ]);
  const page2 = await viewer.get(`/api/v1/calls/${call}/events?limit=3&offset=3`);
  t.deepEqual(page2.body.items.map((e: { type: string }) => e.type), ['call.transcript', 'call.ended']);
  t.regex(page2.body.items[0].createdAt, /^\d{4}-\d\d-\d\dT/);
});
