/**
 * Webhooks (`/api/v1/webhooks`) on a real app and SQLite file, with real HTTP receivers on
 * 127.0.0.1: the write-only secret (never in a GET, a list or a trace-level log line), bad input
 * answering the error envelope, deliveries signed with the documented scheme and carrying the
 * event as the streams send it, retries after a 500 with each try in the delivery log, timeouts
 * and refused connections, the retry budget and redelivery, per-call order, the subscription
 * filters, a property over the route bodies (never a 5xx), and what queueing costs per event.
 *
 * Events are appended through the engine's event log, the way call control appends them.
 */
import { Writable } from 'node:stream';
import test from 'ava';
import fc from 'fast-check';
import { startApp, type App } from '../../api/app.js';
import { createLogger } from '../../config/logger.js';
import { emittedEventTypes, realtimeEventSchema } from '../../engine/events/schemas.js';
import type { Mode } from '../../engine/store/mode.js';
import { testConfig } from '../helpers/config.js';
import { waitFor } from '../helpers/http.js';
import { client, envelope, type Client } from '../helpers/resources.js';
import { mintKey, seedTenant, userWithRole } from '../helpers/tenant.js';
import { eventReceiver, type EventReceiver } from '../helpers/webhook-server.js';

/** Short retries so the schedule plays out within a test: 3 tries, 150 ms then 300 ms apart. */
const settings = { timeoutMs: 400, maxAttempts: 3, retryBaseMs: 150, retryMaxMs: 1000, concurrency: 4 };

let app: App;
/** Every log line the engine wrote (level trace), as text. */
const logText: string[] = [];
const receivers: EventReceiver[] = [];

test.before(async () => {
  const config = testConfig({ log: { level: 'trace' }, webhooks: settings });
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logText.push(chunk.toString());
      cb();
    },
  });
  app = await startApp(config, createLogger(config.log, dest));
});
test.after.always(async () => {
  await app?.close();
  await Promise.all(receivers.map((r) => r.close()));
});

interface Tenant {
  tenantId: string;
  c: Client;
  agentId: string;
}

/** A tenant of its own per test, with an admin key polling cannot exhaust and one agent. */
async function tenant(): Promise<Tenant> {
  const t = await seedTenant(app);
  const c = client(app, { 'x-api-key': mintKey(app, t.tenantId, { rateLimit: 1_000_000 }) });
  const agent = await c.post('/api/v1/agents', { name: 'Hooked', config: { prompt: { system: 'Hi.' } } });
  return { tenantId: t.tenantId, c, agentId: agent.body.id as string };
}

async function receiver(secret: string): Promise<EventReceiver> {
  const r = await eventReceiver(secret);
  receivers.push(r);
  return r;
}

/** Appends a `call.dtmf` event of `callId` (any emitted call event would do) as call control does. */
function dtmf(t: Tenant, callId: string, digit = '1', agentId = t.agentId, mode: Mode = 'live') {
  return app.engine.events.append('call.dtmf', { tenantId: t.tenantId, mode, callId }, { callId, agentId, digit });
}

interface DeliveryBody {
  id: string;
  eventId: number;
  status: string;
  attempts: number;
  callId: string | null;
  lastStatus: number | null;
  lastError: string | null;
  payload: unknown;
  attemptLog: { n: number; httpStatus: number | null; error: string | null; response: string | null; startedAt: string }[];
}

async function deliveries(t: Tenant, hookId: string, query = ''): Promise<DeliveryBody[]> {
  const r = await t.c.get(`/api/v1/webhooks/${hookId}/deliveries?limit=100${query}`);
  if (r.status !== 200) throw new Error(`deliveries: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.items as DeliveryBody[];
}

/** Waits until the hook has `n` deliveries and none is pending. */
const settled = (t: Tenant, hookId: string, n: number, timeoutMs = 10_000) =>
  waitFor(async () => {
    const all = await deliveries(t, hookId);
    return all.length === n && all.every((d) => d.status !== 'pending') ? all : undefined;
  }, timeoutMs);

const hook = async (t: Tenant, body: Record<string, unknown>) => {
  const r = await t.c.post('/api/v1/webhooks', { eventTypes: ['call.dtmf'], ...body });
  if (r.status !== 201) throw new Error(`create: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string; secret: string };
};

test('the secret is answered once (generated when not given); GET, list, PATCH and the trace-level log never show it', async (t) => {
  const tn = await tenant();
  const gen = await tn.c.post('/api/v1/webhooks', { url: 'https://hooks.example.com/a', eventTypes: ['call.started', 'call.ended'] });
  t.is(gen.status, 201);
  t.regex(gen.body.secret, /^whsec_[A-Za-z0-9_-]{43}$/, '256 random bits, base64url');
  const { id, createdAt, updatedAt, secret: generated } = gen.body;
  t.deepEqual(gen.body, {
    id,
    mode: 'live',
    url: 'https://hooks.example.com/a',
    eventTypes: ['call.started', 'call.ended'],
    agentId: null,
    description: null,
    enabled: true,
    createdAt,
    updatedAt,
    secret: generated,
  });

  const r = await receiver('given-secret-0123456789-abcdef');
  const given = await tn.c.post('/api/v1/webhooks', { url: r.url, eventTypes: ['call.dtmf'], secret: 'given-secret-0123456789-abcdef', agentId: tn.agentId, description: 'crm' });
  t.is(given.body.secret, 'given-secret-0123456789-abcdef');

  const shown = [
    await tn.c.get(`/api/v1/webhooks/${id}`),
    await tn.c.get('/api/v1/webhooks'),
    await tn.c.get('/api/v1/webhooks?enabled=true'),
    await tn.c.patch(`/api/v1/webhooks/${id}`, { secret: 'rotated-secret-0123456789', description: 'rotated' }),
    await tn.c.get(`/api/v1/webhooks/${given.body.id}`),
  ];
  for (const s of shown) t.is(s.status, 200);
  const { secret: _, ...withoutSecret } = gen.body;
  t.deepEqual(shown[0]!.body, withoutSecret);
  t.is(shown[1]!.body.total, 2);
  t.is(shown[3]!.body.description, 'rotated');
  t.is(app.engine.store.webhooks.get({ tenantId: tn.tenantId, mode: 'live' }, id)!.secret, 'rotated-secret-0123456789', 'PATCH replaced the stored secret');

  // A delivery goes out (logged at debug and trace), then the log is searched.
  dtmf(tn, 'call-secret-check');
  const [d] = await settled(tn, given.body.id, 1);
  t.is(d!.status, 'succeeded');
  const secrets = [generated, 'given-secret-0123456789-abcdef', 'rotated-secret-0123456789'];
  const bodies = JSON.stringify(shown.map((s) => s.body)) + JSON.stringify(await deliveries(tn, given.body.id));
  for (const s of secrets) {
    t.false(bodies.includes(s), 'a GET, list or PATCH answer holds a secret');
    t.false(logText.join('').includes(s), 'a log line holds a secret');
  }
  t.true(logText.some((l) => l.includes('webhook delivered')), 'the delivery was logged, so the search saw it');
});

test('bad input answers the error envelope', async (t) => {
  const tn = await tenant();
  const bad = async (body: unknown) => (await tn.c.post('/api/v1/webhooks', body)).body;
  const url = 'https://hooks.example.com/x';
  t.deepEqual(await bad({ eventTypes: ['call.ended'] }), envelope('validation_error', 'Invalid request body', [{ field: 'url', message: 'Field is required' }]));
  t.deepEqual(await bad({ url: 'ftp://example.com/x', eventTypes: ['call.ended'] }), envelope('validation_error', 'Invalid request body', [{ field: 'url', message: 'Must be an http or https URL' }]));
  const reserved = await bad({ url, eventTypes: ['call.ended', 'call.held'] });
  t.is(reserved.error.code, 'validation_error');
  t.is(reserved.error.details[0].field, 'eventTypes[1]', 'a reserved type is refused: it could never arrive');
  t.regex(reserved.error.details[0].message, /call\.ended/);
  t.deepEqual(await bad({ url, eventTypes: [] }), envelope('validation_error', 'Invalid request body', [{ field: 'eventTypes', message: 'Too small: expected array to have >=1 items' }]));
  t.deepEqual(await bad({ url, eventTypes: ['call.ended', 'call.ended'] }), envelope('validation_error', 'Invalid request body', [{ field: 'eventTypes', message: 'Must not repeat a type' }]));
  t.deepEqual(await bad({ url, eventTypes: ['call.ended'], secret: 'short' }), envelope('validation_error', 'Invalid request body', [{ field: 'secret', message: 'Must be at least 16 characters' }]));
  t.deepEqual(
    await bad({ url, eventTypes: ['call.ended'], agentId: '00000000-0000-4000-8000-000000000000' }),
    envelope('validation_error', 'Invalid request body', [{ field: 'agentId', message: 'No such agent' }]),
  );
  const extra = await bad({ url, eventTypes: ['call.ended'], headers: {} });
  t.is(extra.error.code, 'validation_error', 'unknown fields are refused');

  const h = await hook(tn, { url });
  const missing = '00000000-0000-4000-8000-000000000000';
  t.deepEqual((await tn.c.patch(`/api/v1/webhooks/${missing}`, { enabled: false })).body, envelope('not_found', 'No such webhook'));
  t.deepEqual((await tn.c.get(`/api/v1/webhooks/${missing}/deliveries`)).body, envelope('not_found', 'No such webhook'));
  t.deepEqual((await tn.c.post(`/api/v1/webhooks/${h.id}/deliveries/${missing}/redeliver`, {})).body, envelope('not_found', 'No such delivery'));
  const q = await tn.c.get(`/api/v1/webhooks/${h.id}/deliveries?status=done`);
  t.is(q.status, 422);
  t.is(q.body.error.details[0].field, 'query.status');
  t.deepEqual((await tn.c.patch(`/api/v1/webhooks/${h.id}`, { agentId: missing })).body, envelope('validation_error', 'Invalid request body', [{ field: 'agentId', message: 'No such agent' }]));

  // Another tenant sees nothing; a member reads but does not write.
  const other = await tenant();
  t.is((await other.c.get(`/api/v1/webhooks/${h.id}`)).status, 404);
  t.is((await other.c.get(`/api/v1/webhooks/${h.id}/deliveries`)).status, 404);
  const member = await userWithRole(app, tn.tenantId, 'member');
  const mc = client(app, member.headers);
  t.is((await mc.get(`/api/v1/webhooks/${h.id}`)).status, 200);
  t.is((await mc.post('/api/v1/webhooks', { url, eventTypes: ['call.ended'] })).body.error.code, 'authorization_error');
});

test('a delivery is signed with the documented scheme and carries the event as the streams send it', async (t) => {
  const tn = await tenant();
  const secret = 'signing-secret-for-this-test-42';
  const r = await receiver(secret);
  const h = await hook(tn, { url: r.url, secret });
  const event = dtmf(tn, 'call-signed', '7');
  const [d] = await settled(tn, h.id, 1);
  t.is(r.seen.length, 1);
  const got = r.seen[0]!;
  t.true(got.signatureOk, 'HMAC-SHA256(secret, "<timestamp>.<raw body>") verifies');
  t.is(got.headers['x-agentstudio-event'], 'call.dtmf');
  t.is(got.headers['x-agentstudio-delivery'], d!.id, 'the delivery id, to dedupe on');
  t.is(got.headers['x-agentstudio-attempt'], '1');
  t.is(got.headers['content-type'], 'application/json');
  t.deepEqual(JSON.parse(got.raw), event, 'the body is the stored event');
  t.notThrows(() => realtimeEventSchema.parse(JSON.parse(got.raw)), 'the RealtimeEvent schema of the document');
  t.like(d, { status: 'succeeded', attempts: 1, eventId: event.id, callId: 'call-signed', lastStatus: 200, lastError: null, payload: event });
  t.like(d!.attemptLog[0], { n: 1, httpStatus: 200, error: null, response: 'ok' });

  // The same bytes under a wrong secret do not verify (the check can fail).
  const forged = await receiver('not-the-secret-at-all-000000');
  await tn.c.patch(`/api/v1/webhooks/${h.id}`, { url: forged.url });
  dtmf(tn, 'call-signed', '8');
  await settled(tn, h.id, 2);
  t.false(forged.seen[0]!.signatureOk);
});

test('a receiver answering 500 then 200: retried after the backoff, and the delivery log shows each try', async (t) => {
  const tn = await tenant();
  const secret = 'retry-secret-0123456789abcdef';
  const r = await receiver(secret);
  r.answer = (_req, n) => (n === 0 ? 500 : 200);
  const h = await hook(tn, { url: r.url, secret });
  dtmf(tn, 'call-retry');
  const [d] = await settled(tn, h.id, 1);
  t.like(d, { status: 'succeeded', attempts: 2, lastStatus: 200, lastError: null });
  t.deepEqual(
    d!.attemptLog.map((a) => [a.n, a.httpStatus, a.error, a.response]),
    [
      [1, 500, null, 'refused with 500'],
      [2, 200, null, 'ok'],
    ],
  );
  t.deepEqual(r.seen.map((s) => s.headers['x-agentstudio-attempt']), ['1', '2']);
  t.deepEqual(r.seen.map((s) => s.headers['x-agentstudio-delivery']), [d!.id, d!.id], 'one delivery id across retries');
  t.true(r.seen.every((s) => s.signatureOk), 'each try is signed afresh');
  const gap = r.seen[1]!.at - r.seen[0]!.at;
  t.true(gap >= settings.retryBaseMs - 5, `retried after ${gap.toFixed(0)} ms (base ${settings.retryBaseMs} ms)`);
  t.log(`500 → retry after ${gap.toFixed(0)} ms → 200`);
  t.deepEqual((await deliveries(tn, h.id, '&status=succeeded')).map((x) => x.id), [d!.id]);
  t.deepEqual(await deliveries(tn, h.id, '&status=failed'), []);
});

test('refused connections and timeouts are tries; past maxAttempts the delivery fails; redelivery starts a new round', async (t) => {
  const tn = await tenant();
  const secret = 'redeliver-secret-0123456789ab';
  const closed = await eventReceiver(secret);
  const deadUrl = closed.url;
  await closed.close();
  const h = await hook(tn, { url: deadUrl, secret });
  dtmf(tn, 'call-dead');
  const [dead] = await settled(tn, h.id, 1);
  t.like(dead, { status: 'failed', attempts: settings.maxAttempts, lastStatus: null });
  t.deepEqual(dead!.attemptLog.map((a) => a.error), Array(settings.maxAttempts).fill('connection_refused: Connection refused'));

  const hanging = await receiver(secret);
  hanging.answer = () => 'hang';
  await tn.c.patch(`/api/v1/webhooks/${h.id}`, { url: hanging.url });
  const t0 = performance.now();
  const re = await tn.c.post(`/api/v1/webhooks/${h.id}/deliveries/${dead!.id}/redeliver`, {});
  t.is(re.status, 202);
  t.like(re.body, { id: dead!.id, status: 'pending', attempts: settings.maxAttempts });
  t.deepEqual((await tn.c.post(`/api/v1/webhooks/${h.id}/deliveries/${dead!.id}/redeliver`, {})).body, envelope('conflict', 'The delivery is still pending'));
  const [timedOut] = await settled(tn, h.id, 1);
  const took = performance.now() - t0;
  t.like(timedOut, { status: 'failed', attempts: 2 * settings.maxAttempts });
  t.deepEqual(timedOut!.attemptLog.slice(settings.maxAttempts).map((a) => a.error), Array(settings.maxAttempts).fill(`timeout: No response within ${settings.timeoutMs} ms`));
  t.is(hanging.seen.length, settings.maxAttempts);
  t.log(`a hanging receiver: ${settings.maxAttempts} tries of ${settings.timeoutMs} ms, failed after ${took.toFixed(0)} ms`);

  hanging.answer = () => 204;
  t.is((await tn.c.post(`/api/v1/webhooks/${h.id}/deliveries/${dead!.id}/redeliver`, {})).status, 202);
  const [ok] = await settled(tn, h.id, 1);
  t.like(ok, { status: 'succeeded', attempts: 2 * settings.maxAttempts + 1, lastStatus: 204 });
});

test('per-call order: a later delivery of a call waits for the earlier one; other calls do not', async (t) => {
  const tn = await tenant();
  const secret = 'order-secret-0123456789abcdef';
  const r = await receiver(secret);
  const first = { id: 0 };
  // The call's first event is refused twice (it succeeds on its third, last try).
  r.answer = (req) => ((JSON.parse(req.raw) as { id: number }).id === first.id && r.seen.filter((s) => s.raw === req.raw).length < 2 ? 503 : 200);
  const h = await hook(tn, { url: r.url, secret });
  const a = [dtmf(tn, 'call-A', '1'), dtmf(tn, 'call-A', '2'), dtmf(tn, 'call-A', '3')];
  first.id = a[0]!.id;
  // Appended in one transaction, as call control writes a row and its event together.
  const b = app.engine.events.transaction(() => dtmf(tn, 'call-B', '9'));
  await settled(tn, h.id, 4);
  const order = r.seen.map((s) => (JSON.parse(s.raw) as { id: number }).id);
  t.log(`arrival order (event ids): ${order.join(', ')}; A = ${a.map((e) => e.id).join(', ')}, B = ${b.id}`);
  t.deepEqual(r.accepted().filter((id) => id !== b.id), a.map((e) => e.id), "the call's events were accepted in order");
  const firstOk = r.seen.findIndex((s) => s.answered === 200 && (JSON.parse(s.raw) as { id: number }).id === a[0]!.id);
  t.deepEqual(order.slice(0, firstOk + 1).filter((id) => id !== b.id), [a[0]!.id, a[0]!.id, a[0]!.id], 'nothing later of call A went out before its first event was accepted');
  t.true(order.indexOf(b.id) < firstOk, "call B's event did not wait for call A");
});

test('a receiver that hangs holds one slot of four, not all: another subscription is delivered meanwhile', async (t) => {
  const tn = await tenant();
  const secret = 'share-secret-0123456789abcdef';
  const slow = await receiver(secret);
  slow.answer = () => 'hang';
  const fast = await receiver(secret);
  const h = await hook(tn, { url: slow.url, secret, eventTypes: ['call.dtmf'] });
  const g = await hook(tn, { url: fast.url, secret, eventTypes: ['call.ended'] });
  // Six calls' events (no per-call wait between them), then one for the other subscription.
  for (let i = 0; i < 6; i++) dtmf(tn, `call-share-${i}`);
  app.engine.events.append('call.ended', { tenantId: tn.tenantId, mode: 'live', callId: 'call-share-x' }, { callId: 'call-share-x', agentId: tn.agentId, endReason: 'caller_hangup', hangupBy: 'caller', durationMs: 1 });
  const [d] = await settled(tn, g.id, 1);
  t.is(d!.status, 'succeeded');
  const slowPending = (await deliveries(tn, h.id, '&status=pending')).length;
  t.true(slowPending >= 4, `the hanging subscription still had ${slowPending} of 6 pending`);
  t.is(slow.maxOpen, 1, 'the hanging subscription had at most its share (a quarter of 4 slots) out at once');
  t.is((await tn.c.del(`/api/v1/webhooks/${h.id}`)).status, 204);
});

test('deleting a tenant deletes its webhooks, their deliveries and their tries', async (t) => {
  const tn = await tenant();
  const closed = await eventReceiver('gone-secret-0123456789abcdef');
  await closed.close();
  const h = await hook(tn, { url: closed.url });
  dtmf(tn, 'call-gone');
  const d = await waitFor(async () => (await deliveries(tn, h.id)).find((x) => x.attempts > 0));
  const count = (table: string) => (app.engine.db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE tenant_id = ?`).get(tn.tenantId) as { n: number }).n;
  const attempts = () => (app.engine.db.prepare('SELECT COUNT(*) AS n FROM webhook_delivery_attempts WHERE delivery_id = ?').get(d.id) as { n: number }).n;
  t.deepEqual([count('webhooks'), count('webhook_deliveries')], [1, 1]);
  t.true(attempts() >= 1);
  t.truthy(app.engine.store.tenants.delete(tn.tenantId));
  t.deepEqual([count('webhooks'), count('webhook_deliveries'), attempts()], [0, 0, 0]);
});

// Serial: a prune is installation-wide, and the concurrent tests' deliveries must not be its victims.
test.serial('finished deliveries and their tries are pruned after the retention period; pending ones stay', async (t) => {
  const tn = await tenant();
  const r = await receiver('prune-secret-0123456789abcdef');
  const h = await hook(tn, { url: r.url });
  dtmf(tn, 'call-prune');
  const [done] = await settled(tn, h.id, 1);
  const off = await hook(tn, { url: r.url, enabled: false });
  const waiting = app.engine.store.webhookDeliveries.enqueue({ tenantId: tn.tenantId, mode: 'live' }, off.id, { id: done!.eventId, type: 'call.dtmf', callId: null, payload: JSON.stringify(done!.payload) });
  const tries = (id: string) => (app.engine.db.prepare('SELECT COUNT(*) AS n FROM webhook_delivery_attempts WHERE delivery_id = ?').get(id) as { n: number }).n;
  t.is(tries(done!.id), 1);
  t.is(await app.engine.webhooks.prune(Date.now() + 29 * 86_400_000), 0, 'nothing is 30 days old yet');
  t.is(await app.engine.webhooks.prune(Date.now() + 31 * 86_400_000), 1);
  t.deepEqual(await deliveries(tn, h.id), []);
  t.is(tries(done!.id), 0);
  t.deepEqual((await deliveries(tn, off.id)).map((d) => [d.id, d.status]), [[waiting.id, 'pending']]);
});

test('filters: event types, the agent, the mode, and a disabled subscription queue nothing', async (t) => {
  const tn = await tenant();
  const r = await receiver('filters-secret-0123456789abc');
  const other = await tn.c.post('/api/v1/agents', { name: 'Other', config: { prompt: { system: 'Hi.' } } });
  const mine = await hook(tn, { url: r.url, agentId: tn.agentId, eventTypes: ['call.dtmf', 'agent.updated'] });
  const all = await hook(tn, { url: r.url, eventTypes: ['call.ended'] });
  const off = await hook(tn, { url: r.url, eventTypes: ['call.dtmf'], enabled: false });
  dtmf(tn, 'call-f1', '1', tn.agentId);
  dtmf(tn, 'call-f2', '2', other.body.id as string);
  dtmf(tn, 'call-f3', '3', tn.agentId, 'test');
  t.is((await tn.c.patch(`/api/v1/agents/${tn.agentId}`, { name: 'Renamed' })).status, 200);
  app.engine.events.append('call.ended', { tenantId: tn.tenantId, mode: 'live', callId: 'call-f2' }, { callId: 'call-f2', agentId: other.body.id as string, endReason: 'caller_hangup', hangupBy: 'caller', durationMs: 1000 });
  const got = await settled(tn, mine.id, 2);
  t.deepEqual(got.map((d) => (d.payload as { type: string }).type).sort(), ['agent.updated', 'call.dtmf']);
  t.deepEqual((await settled(tn, all.id, 1)).map((d) => d.callId), ['call-f2'], 'no agent filter: every agent');
  t.deepEqual(await deliveries(tn, off.id), []);
  t.is(r.seen.length, 3);
});

test('property: any body on the webhook routes answers 2xx or a 4xx envelope, never a 5xx', async (t) => {
  const tn = await tenant();
  const h = await hook(tn, { url: 'https://hooks.example.com/p' });
  const field = fc.oneof(
    fc.constantFrom<unknown>('https://x.example/h', 'http://127.0.0.1:1/h', 'ftp://x', '', 'not a url', null, 0, true, [], {}),
    fc.string({ maxLength: 40 }),
    fc.array(fc.oneof(fc.constantFrom(...emittedEventTypes, 'call.held', 'nope', ''), fc.string({ maxLength: 12 })), { maxLength: 20 }),
    fc.uuid(),
    fc.constantFrom(tn.agentId, 'x'.repeat(300)),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const valid = fc.record(
    {
      url: fc.constantFrom('https://x.example/h', 'http://127.0.0.1:1/h'),
      eventTypes: fc.subarray([...emittedEventTypes], { minLength: 1 }),
      secret: fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 14, maxLength: 40 }),
      agentId: fc.constantFrom(null, tn.agentId, '00000000-0000-4000-8000-000000000000'),
      description: fc.option(fc.string({ maxLength: 60 })),
      enabled: fc.boolean(),
    },
    { requiredKeys: ['url', 'eventTypes'] },
  );
  const body = fc.oneof(
    valid,
    fc.tuple(valid, fc.string({ maxLength: 10 }), field).map(([v, k, x]) => ({ ...v, [k]: x })),
    fc.record(
      { url: field, eventTypes: field, secret: field, agentId: field, description: field, enabled: field },
      { requiredKeys: [] },
    ),
    fc.dictionary(fc.string({ maxLength: 12 }), field, { maxKeys: 4 }),
    fc.jsonValue({ maxDepth: 3 }),
  );
  const runs = 150;
  const seen = new Map<number, number>();
  const t0 = performance.now();
  await fc.assert(
    fc.asyncProperty(body, fc.constantFrom('POST', 'PATCH'), async (b, method) => {
      const path = method === 'POST' ? '/api/v1/webhooks' : `/api/v1/webhooks/${h.id}`;
      const r = await tn.c.call(method, path, b);
      seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
      if (r.status >= 500) return false;
      if (r.status >= 400) return typeof r.body?.error?.code === 'string' && Array.isArray(r.body.error.details);
      if (method === 'POST') return r.status === 201 && typeof r.body.secret === 'string';
      return r.status === 200 && r.body.secret === undefined;
    }),
    { numRuns: runs },
  );
  t.log(`${runs} cases in ${(performance.now() - t0).toFixed(0)} ms; statuses ${JSON.stringify(Object.fromEntries(seen))}`);
  t.pass();
});

// Serial, so it runs alone before the others, and its 6,000 deliveries are deleted before they start.
test.serial('queueing costs one indexed lookup per event: figures with no subscription and with three matching ones', async (t) => {
  const none = await tenant();
  const three = await tenant();
  const r = await receiver('cost-secret-0123456789abcdef');
  const hooks = [];
  for (let i = 0; i < 3; i++) hooks.push(await hook(three, { url: r.url }));
  const n = 2000;
  const perEvent = (tn: Tenant) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) dtmf(tn, `call-cost-${i % 50}`);
    return ((performance.now() - t0) * 1000) / n;
  };
  perEvent(none); // warm the statements
  const base = perEvent(none);
  const queued = perEvent(three);
  const rows = app.engine.db.prepare('SELECT COUNT(*) AS n FROM webhook_deliveries WHERE tenant_id = ?').get(three.tenantId) as { n: number };
  t.is(rows.n, 3 * n, 'every matching event was queued, once per subscription');
  t.is((app.engine.db.prepare('SELECT COUNT(*) AS n FROM webhook_deliveries WHERE tenant_id = ?').get(none.tenantId) as { n: number }).n, 0);
  for (const h of hooks) t.is((await three.c.del(`/api/v1/webhooks/${h.id}`)).status, 204, 'deleting a webhook deletes its deliveries');
  t.is((app.engine.db.prepare('SELECT COUNT(*) AS n FROM webhook_deliveries WHERE tenant_id = ?').get(three.tenantId) as { n: number }).n, 0);
  t.log(`append (each its own transaction): ${base.toFixed(1)} µs/event with no subscription, ${queued.toFixed(1)} µs/event queueing 3 deliveries`);
});
