/**
 * `GET /api/v1/events` (Server-Sent Events) on the real app: events in order with their log ids,
 * resume with Last-Event-ID, heartbeats, tenant and mode isolation, filters, auth (headers and
 * tickets), and no subscriber left behind.
 */
import { randomUUID } from 'node:crypto';
import { emittedEventTypes } from '../../../engine/events/schemas.js';
import test from 'ava';
import { hashApiKey } from '../../../api/auth/api-key-secret.js';
import { EventTickets } from '../../../api/realtime/tickets.js';
import { currentCaller } from '../../../api/realtime/caller.js';
import { login, useApp } from '../../helpers/app.js';
import { assertError } from '../../helpers/envelope.js';
import { waitFor } from '../../helpers/http.js';
import { mintKey, seedTenant, userWithRole } from '../../helpers/tenant.js';
import { agentUpdated, callEnded, callRinging, callStarted, sseBlock, sleep, transcript, type Scope } from './fixtures.js';
import { SseStream } from './sse-client.js';

const HEARTBEAT_MS = 250;
const r = useApp(test, { realtime: { heartbeatMs: HEARTBEAT_MS } });

test.before(async () => {
  await r.ready;
});

const url = (query = '') => `${r.base}/api/v1/events${query}`;

/** A fresh tenant (tests run concurrently: each has its own events) and its live admin key. */
async function tenant(): Promise<{ live: Scope; test: Scope; headers: Record<string, string>; tenantId: string }> {
  const t = await seedTenant(r.app);
  return { tenantId: t.tenantId, live: { tenantId: t.tenantId, mode: 'live' }, test: { tenantId: t.tenantId, mode: 'test' }, headers: t.headers };
}

test.serial('a closed stream leaves no subscriber, connection or log listener behind', async (t) => {
  const { headers, live } = await tenant();
  const { hub, connections } = r.app.realtime;
  const logListeners = r.app.engine.events.listenerCount;
  t.is(hub.size, 0);
  t.is(connections.size, 0);
  const streams = await Promise.all([
    SseStream.open(url(), headers),
    SseStream.open(url('?callId=c1'), headers),
    SseStream.open(url('?lastEventId=0'), headers),
  ]);
  await waitFor(() => hub.size === 3 && connections.size === 3);
  callStarted(r.app, live, 'c1');
  for (const s of streams) await s.count(1);
  await Promise.all(streams.map((s) => s.close()));
  await waitFor(() => hub.size === 0 && connections.size === 0, 5000);
  // A client that goes away in the middle of a long replay.
  for (let i = 0; i < 1200; i++) agentUpdated(r.app, live, 'a');
  const replaying = await SseStream.open(url('?lastEventId=0'), headers);
  await replaying.count(1);
  await replaying.close();
  await waitFor(() => hub.size === 0 && connections.size === 0, 5000);
  t.is(r.app.engine.events.listenerCount, logListeners, 'the hub is the only log listener, and stays one');
});

test.serial('replay and live meet with no gap and no duplicate, at a page boundary and after the last page', async (t) => {
  const { headers, live } = await tenant();
  const first = agentUpdated(r.app, live, 'a');
  for (let i = 0; i < 999; i++) agentUpdated(r.app, live, 'a');
  // Events appended while the replay runs: one right after it reads its first page (so the next
  // page reads it too: a duplicate unless dropped), one after each later read (after the last
  // one it is only live: a gap unless sent). The log is the real one, read through its method.
  const events = r.app.engine.events;
  const since = events.since.bind(events);
  const during: number[] = [];
  events.since = (id, tenantId, mode, limit) => {
    const rows = since(id, tenantId, mode, limit);
    if (tenantId === live.tenantId) during.push(agentUpdated(r.app, live, 'during').id);
    return rows;
  };
  let s: SseStream;
  try {
    s = await SseStream.open(url(), { ...headers, 'last-event-id': String(first.id) });
    await s.count(999 + 3);
  } finally {
    events.since = since;
  }
  const after = agentUpdated(r.app, live, 'after');
  await s.count(999 + 3 + 1);
  t.is(during.length, 3, 'pages read: 500, 500, then the short one');
  const expected = [...Array.from({ length: 999 }, (_, i) => first.id + 1 + i), ...during, after.id].sort((a, b) => a - b);
  t.deepEqual(s.ids(), expected);
  await s.close();
});

test('events arrive in order, each as id, event type and the event as JSON', async (t) => {
  const { headers, live } = await tenant();
  const s = await SseStream.open(url(), headers);
  t.is(s.status, 200);
  t.is(s.response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  t.is(s.response.headers.get('cache-control'), 'no-store');
  t.truthy(s.response.headers.get('x-ratelimit-remaining'));
  await s.until(() => s.retry !== undefined);
  t.is(s.retry, 2000);
  const sent = [callStarted(r.app, live, 'c1', 'a1'), callRinging(r.app, live, 'c1', 'a1'), callEnded(r.app, live, 'c1', 'a1')];
  await s.count(3);
  t.deepEqual(s.messages, sent.map(sseBlock));
  t.true(sent[0]!.id < sent[1]!.id && sent[1]!.id < sent[2]!.id);
  await s.close();
});

test('Last-Event-ID replays exactly the missed events, then continues live; the header wins over ?lastEventId', async (t) => {
  const { headers, live } = await tenant();
  const first = await SseStream.open(url(), headers);
  const e1 = callStarted(r.app, live, 'c1');
  await first.count(1);
  await first.close();
  const missed = [callRinging(r.app, live, 'c1'), callEnded(r.app, live, 'c1')];

  const resumed = await SseStream.open(url(), { ...headers, 'last-event-id': String(e1.id) });
  await resumed.count(2);
  const live1 = agentUpdated(r.app, live, 'a1');
  await resumed.count(3);
  t.deepEqual(resumed.messages, [...missed, live1].map(sseBlock));

  // A new EventSource cannot set the header: the query does it.
  const byQuery = await SseStream.open(url(`?lastEventId=${missed[0]!.id}`), headers);
  await byQuery.count(2);
  t.deepEqual(byQuery.ids(), [missed[1]!.id, live1.id]);
  const both = await SseStream.open(url(`?lastEventId=${e1.id}`), { ...headers, 'last-event-id': String(missed[1]!.id) });
  await both.count(1);
  t.deepEqual(both.ids(), [live1.id]);
  await sleep(100);
  t.is(resumed.messages.length, 3, 'nothing twice');
  await Promise.all([resumed.close(), byQuery.close(), both.close()]);
});

test('replay and live meet with no gap and no duplicate while events keep coming', async (t) => {
  const { headers, live } = await tenant();
  const first = agentUpdated(r.app, live, 'a');
  // 12 MB of history: more than the socket buffers hold, so the replay waits for the client
  // between events, while live events keep landing both in the log pages it has yet to read and
  // in the hub (each must arrive once). The last page's edge is the test above.
  const backlog = 1500;
  const big = 8 * 1024;
  for (let i = 0; i < backlog; i++) transcript(r.app, live, 'c', big);
  const s = await SseStream.open(url(), { ...headers, 'last-event-id': String(first.id) });
  const liveIds: number[] = [];
  let seenAtFirstLive = -1;
  // Until the client has nearly caught up: by then the replay is over and events go out live.
  while (s.messages.length < backlog + liveIds.length - 20 && liveIds.length < 2000) {
    if (seenAtFirstLive < 0) seenAtFirstLive = s.messages.length;
    liveIds.push(transcript(r.app, live, 'c', big).id);
    await new Promise((res) => setImmediate(res));
  }
  await s.count(backlog + liveIds.length, 30_000);
  await sleep(100);
  t.log(`${liveIds.length} live events; the client had ${seenAtFirstLive} of ${backlog} replayed ones when they began`);
  // The server cannot be more than the socket buffers and the bound ahead of the client: with
  // fewer than 800 of 1500 read, it was still replaying.
  t.true(seenAtFirstLive < 800, 'live events arrived during the replay');
  t.deepEqual(s.ids(), [...Array.from({ length: backlog }, (_, i) => first.id + 1 + i), ...liveIds]);
  await s.close();
});

test('heartbeats: a comment line every heartbeatMs', async (t) => {
  const { headers } = await tenant();
  // Taken before the stream opens: the server's beats (one timer for every connection) can come
  // at once after it registers the stream, and this process may see the open late under load.
  const t0 = Date.now();
  const s = await SseStream.open(url(), headers);
  await s.until(() => s.comments.filter((c) => c === 'heartbeat').length >= 3, 10_000);
  // Three beats span two intervals (less a few ms of timer granularity).
  t.true(Date.now() - t0 >= HEARTBEAT_MS * 2 - 20, 'not faster than configured');
  t.deepEqual(s.messages, [], 'heartbeats are not events');
  await s.close();
});

test('a stream sees only its tenant and mode: a test key test events, a user and a live key live events', async (t) => {
  const a = await tenant();
  const b = await tenant();
  const testKey = { 'x-api-key': mintKey(r.app, a.tenantId, { mode: 'test', role: 'viewer' }) };
  const user = await userWithRole(r.app, a.tenantId, 'viewer');
  const [aLive, aTest, aUser, bLive] = await Promise.all([
    SseStream.open(url(), a.headers),
    SseStream.open(url(), testKey),
    SseStream.open(url(), user.headers),
    SseStream.open(url(), b.headers),
  ]);
  const e1 = callStarted(r.app, a.live, 'a-live');
  const e2 = callStarted(r.app, a.test, 'a-test');
  const e3 = callStarted(r.app, b.live, 'b-live');
  // A last event in every scope: once it is there, nothing else is coming.
  const ends = [agentUpdated(r.app, a.live, 'end'), agentUpdated(r.app, a.test, 'end'), agentUpdated(r.app, b.live, 'end')];
  await Promise.all([aLive.count(2), aTest.count(2), aUser.count(2), bLive.count(2)]);
  await sleep(50);
  t.deepEqual(aLive.ids(), [e1.id, ends[0]!.id]);
  t.deepEqual(aUser.ids(), [e1.id, ends[0]!.id]);
  t.deepEqual(aTest.ids(), [e2.id, ends[1]!.id]);
  t.deepEqual(bLive.ids(), [e3.id, ends[2]!.id]);
  // Replay obeys the same rule.
  const replay = await SseStream.open(url('?lastEventId=0'), testKey);
  await replay.count(2);
  await sleep(50);
  t.deepEqual(replay.ids(), [e2.id, ends[1]!.id]);
  await Promise.all([aLive, aTest, aUser, bLive, replay].map((s) => s.close()));
});

test('filters: callId, agentId and types, all given must hold, in replay and live', async (t) => {
  const { headers, live } = await tenant();
  const before = [callStarted(r.app, live, 'c1', 'a1'), callStarted(r.app, live, 'c2', 'a2'), agentUpdated(r.app, live, 'a2')];
  const since = `lastEventId=${before[0]!.id - 1}`;
  const [byCall, byAgent, byTypes, combined] = await Promise.all([
    SseStream.open(url(`?${since}&callId=c1`), headers),
    SseStream.open(url(`?${since}&agentId=a2`), headers),
    SseStream.open(url(`?${since}&types=agent.updated,call.ended`), headers),
    SseStream.open(url(`?${since}&agentId=a2&types=call.started`), headers),
  ]);
  const after = [callEnded(r.app, live, 'c1', 'a1'), callEnded(r.app, live, 'c2', 'a2'), callStarted(r.app, live, 'c3', 'a2')];
  await Promise.all([byCall.count(2), byAgent.count(4), byTypes.count(3), combined.count(2)]);
  await sleep(50);
  const ids = (...es: { id: number }[]) => es.map((e) => e.id);
  t.deepEqual(byCall.ids(), ids(before[0]!, after[0]!));
  t.deepEqual(byAgent.ids(), ids(before[1]!, before[2]!, after[1]!, after[2]!));
  t.deepEqual(byTypes.ids(), ids(before[2]!, after[0]!, after[1]!));
  t.deepEqual(combined.ids(), ids(before[1]!, after[2]!));
  await Promise.all([byCall, byAgent, byTypes, combined].map((s) => s.close()));

  assertError(t, await r.req('GET', '/api/v1/events?types=call.started,call.nope', { headers }), 'validation_error', 'Invalid query', [
    { field: 'query.types[1]', message: `must be one of ${emittedEventTypes.join(', ')}` },
  ]);
});

test('no or bad credentials: 401 in the envelope; a credential in the URL is refused; a bad Last-Event-ID is 422', async (t) => {
  const { headers, tenantId } = await tenant();
  assertError(t, await r.req('GET', '/api/v1/events'), 'authentication_error', 'Missing credentials: send X-API-Key or Authorization: Bearer');
  assertError(t, await r.req('GET', '/api/v1/events', { headers: { 'x-api-key': 'as_live_nope' } }), 'authentication_error', 'Malformed API key');
  assertError(t, await r.req('GET', '/api/v1/events', { headers: { authorization: 'Bearer x.y.z' } }), 'authentication_error', 'Invalid or expired token');
  const key = headers['x-api-key']!;
  for (const p of ['apiKey', 'api_key', 'token', 'access_token']) {
    assertError(
      t,
      await r.req('GET', `/api/v1/events?${p}=${encodeURIComponent(key)}`),
      'authentication_error',
      'Credentials are not accepted in a URL: get a ticket from POST /api/v1/events/tickets',
    );
  }
  assertError(t, await r.req('GET', '/api/v1/events', { headers: { ...headers, 'last-event-id': 'abc' } }), 'validation_error', 'Invalid Last-Event-ID', [
    { field: 'headers.last-event-id', message: 'must be an event id (a non-negative integer)' },
  ]);
  assertError(t, await r.req('GET', '/api/v1/events?lastEventId=-1', { headers }), 'validation_error', 'Invalid query', [
    { field: 'query.lastEventId', message: 'must be an event id (a non-negative integer)' },
  ]);
  const scoped = { 'x-api-key': mintKey(r.app, tenantId, { scopes: ['calls:read'] }) };
  assertError(t, await r.req('GET', '/api/v1/events', { headers: scoped }), 'authorization_error', 'API key lacks scope events:read');
  assertError(t, await r.req('POST', '/api/v1/events/tickets', { headers: scoped }), 'authorization_error', 'API key lacks scope events:read');
  const allowed = await r.req('GET', '/api/v1/events', { headers: { 'x-api-key': mintKey(r.app, tenantId, { scopes: ['events:read'] }) } });
  t.is(allowed.status, 200);
});

test('tickets: a signed one-minute ticket opens the stream once, as its caller, and nothing else', async (t) => {
  const { headers, live, test: testScope, tenantId } = await tenant();
  assertError(t, await r.req('POST', '/api/v1/events/tickets'), 'authentication_error', 'Missing credentials: send X-API-Key or Authorization: Bearer');
  const issued = await r.req<{ ticket: string; expiresAt: string; expiresIn: number }>('POST', '/api/v1/events/tickets', { headers });
  t.is(issued.status, 201);
  t.is(issued.body.expiresIn, 60);
  const ms = Date.parse(issued.body.expiresAt) - Date.now();
  t.true(ms > 55_000 && ms <= 60_000, `expires in ${ms} ms`);
  t.false(issued.body.ticket.includes(headers['x-api-key']!), 'the key is not in the ticket');

  const e0 = callStarted(r.app, live, 'c0');
  const s = await SseStream.open(url(`?ticket=${encodeURIComponent(issued.body.ticket)}&lastEventId=${e0.id - 1}`));
  t.is(s.status, 200);
  const e1 = callRinging(r.app, live, 'c0');
  callStarted(r.app, testScope, 'not-mine');
  await s.count(2);
  await sleep(50);
  t.deepEqual(s.ids(), [e0.id, e1.id]);
  await s.close();

  // Spent, tampered, or for another door.
  assertError(t, await r.req('GET', `/api/v1/events?ticket=${encodeURIComponent(issued.body.ticket)}`), 'authentication_error', 'Ticket already used');
  const [payload, mac] = issued.body.ticket.split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), tenantId: randomUUID() })).toString('base64url');
  assertError(t, await r.req('GET', `/api/v1/events?ticket=${forged}.${mac}`), 'authentication_error', 'Invalid ticket');
  assertError(t, await r.req('GET', '/api/v1/events?ticket=garbage'), 'authentication_error', 'Malformed ticket');
  const other = await r.req<{ ticket: string }>('POST', '/api/v1/events/tickets', { headers });
  assertError(t, await r.req('GET', `/api/v1/auth/me?ticket=${encodeURIComponent(other.body.ticket)}`), 'authentication_error', 'Missing credentials: send X-API-Key or Authorization: Bearer');

  // A test key's ticket streams test events only.
  const testKey = { 'x-api-key': mintKey(r.app, tenantId, { mode: 'test' }) };
  const testTicket = await r.req<{ ticket: string }>('POST', '/api/v1/events/tickets', { headers: testKey });
  const ts = await SseStream.open(url(`?ticket=${encodeURIComponent(testTicket.body.ticket)}`));
  const te = callStarted(r.app, testScope, 't1');
  callStarted(r.app, live, 'l1');
  const tEnd = agentUpdated(r.app, testScope, 'end');
  await ts.count(2);
  t.deepEqual(ts.ids(), [te.id, tEnd.id]);
  await ts.close();

  // The store is asked at redemption: a key revoked after its ticket was issued gets nothing.
  const doomedKey = mintKey(r.app, tenantId, {});
  const doomed = await r.req<{ ticket: string }>('POST', '/api/v1/events/tickets', { headers: { 'x-api-key': doomedKey } });
  const keyId = r.app.engine.store.apiKeys.byHash(hashApiKey(doomedKey))!.id;
  r.app.engine.store.apiKeys.revoke(tenantId, keyId);
  assertError(t, await r.req('GET', `/api/v1/events?ticket=${encodeURIComponent(doomed.body.ticket)}`), 'authentication_error', 'API key revoked');
});

test('a ticket expires', async (t) => {
  const { tenantId } = await tenant();
  let now = Date.now();
  const tickets = new EventTickets(r.app.engine.store, 60, 100, () => now);
  const apiKeyId = r.app.engine.store.apiKeys.list(tenantId, 1, 0).items[0]!.id;
  const auth = { kind: 'api_key' as const, tenantId, role: 'admin' as const, mode: 'live' as const, superAdmin: false, userId: null, apiKeyId, scopes: null, rateLimit: 100 };
  const { ticket } = tickets.issue(auth);
  now += 60_000;
  t.throws(() => tickets.redeem(ticket), { message: 'Ticket expired' });
  now -= 1;
  t.like(tickets.redeem(ticket), { tenantId: auth.tenantId, apiKeyId: auth.apiKeyId, mode: 'live' });
});

test('a revoked key, a disabled user or a signed-out session has its open stream ended at the next heartbeat', async (t) => {
  const seeded = await seedTenant(r.app);
  const tenantId = seeded.tenantId;
  const key = mintKey(r.app, tenantId, {});
  const s = await SseStream.open(url(), { 'x-api-key': key });
  const user = await userWithRole(r.app, tenantId, 'member');
  const us = await SseStream.open(url(), user.headers);
  // The owner signs in, streams through a ticket, then signs out.
  const session = await login(r, seeded.ownerEmail, seeded.ownerPassword);
  const ticket = await r.req<{ ticket: string }>('POST', '/api/v1/events/tickets', { headers: session.headers });
  const os = await SseStream.open(url(`?ticket=${encodeURIComponent(ticket.body.ticket)}`));
  const bystander = await SseStream.open(url(), seeded.headers);
  await sleep(HEARTBEAT_MS * 2);
  t.false(s.ended || us.ended || os.ended);
  r.app.engine.store.apiKeys.revoke(tenantId, r.app.engine.store.apiKeys.byHash(hashApiKey(key))!.id);
  r.app.engine.store.users.update(tenantId, user.userId, { status: 'disabled' });
  t.is((await r.req('POST', '/api/v1/auth/logout', { body: { refreshToken: session.refreshToken } })).status, 204);
  await s.until(() => s.ended, 5000, 'the key stream ends');
  await us.until(() => us.ended, 5000, 'the user stream ends');
  await os.until(() => os.ended, 5000, 'the signed-out stream ends');
  await sleep(HEARTBEAT_MS * 2);
  t.false(bystander.ended, 'other callers stay');
  await bystander.close();
});

test('a user stream ends when the access token it was opened with expires', (t) => {
  const { store } = r.app.engine;
  const ref = { kind: 'user' as const, tenantId: 'x', id: 'y', mode: 'live' as const, session: { sid: 's', expMs: Date.now() - 1 } };
  const tenant = store.tenants.create({ name: 'expiry' });
  t.throws(() => currentCaller(store, { ...ref, tenantId: tenant.id }, 100), { message: 'Access token expired' });
  t.throws(() => currentCaller(store, { ...ref, tenantId: tenant.id, session: { sid: 'gone', expMs: Date.now() + 60_000 } }, 100), { message: 'Session ended' });
});
