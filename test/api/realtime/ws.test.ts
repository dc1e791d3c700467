/**
 * `GET /api/v1/ws` on the real app: authentication (upgrade header, auth frame, failures and
 * their close codes), topics and resume, tenant isolation, commands and their errors, malformed
 * frames, and no subscriber left behind. Live calls and SIPp are in ws-calls.test.ts.
 */
import test from 'ava';
import { hashApiKey } from '../../../api/auth/api-key-secret.js';
import { login, useApp } from '../../helpers/app.js';
import { assertError } from '../../helpers/envelope.js';
import { waitFor } from '../../helpers/http.js';
import { mintKey, seedTenant, userWithRole } from '../../helpers/tenant.js';
import { agentUpdated, callEnded, callRinging, callStarted, sleep, type Scope } from './fixtures.js';
import { UpgradeRefused, WsClient, type Frame } from './ws-client.js';

const AUTH_TIMEOUT_MS = 600;
const r = useApp(test, { realtime: { heartbeatMs: 250, wsAuthTimeoutMs: AUTH_TIMEOUT_MS } });

test.before(async () => {
  await r.ready;
});

const port = () => r.app.http.port;

async function tenant(): Promise<{ tenantId: string; key: string; live: Scope; test: Scope }> {
  const t = await seedTenant(r.app);
  return { tenantId: t.tenantId, key: t.apiKey, live: { tenantId: t.tenantId, mode: 'live' }, test: { tenantId: t.tenantId, mode: 'test' } };
}

/** A connection authenticated by the upgrade's header, past its `ready` frame. */
async function connect(key: string): Promise<WsClient> {
  const ws = await WsClient.connect(port(), { 'x-api-key': key });
  await ws.waitFor((f) => f.type === 'ready');
  return ws;
}

const errorFrame = (id: string | number | null, code: string, message: string, details: { field: string; message: string }[] = []) => ({
  type: 'error',
  id,
  error: { code, message, details },
});

test.serial('closed connections leave no subscriber, connection or log listener behind', async (t) => {
  const { key, live } = await tenant();
  const { hub, connections } = r.app.realtime;
  const listeners = r.app.engine.events.listenerCount;
  t.is(hub.size, 0);
  const clients = await Promise.all([connect(key), connect(key), connect(key), WsClient.connect(port())]);
  for (const c of clients.slice(0, 3)) await c.request({ type: 'subscribe', topics: ['tenant'] });
  t.is(hub.size, 3);
  t.is(connections.size, 4);
  agentUpdated(r.app, live, 'a');
  await clients[0]!.waitFor((f) => f.type === 'event');
  await clients[0]!.close();
  clients[1]!.destroy();
  await clients[2]!.request({ type: 'unsubscribe', topics: ['tenant'] });
  await clients[2]!.close();
  clients[3]!.destroy();
  await waitFor(() => hub.size === 0 && connections.size === 0, 5000);
  t.is(r.app.engine.events.listenerCount, listeners);
});

test('the upgrade request authenticates with X-API-Key or Bearer, greeted by ready', async (t) => {
  const { tenantId, key } = await tenant();
  const ws = await WsClient.connect(port(), { 'x-api-key': key });
  t.deepEqual(await ws.waitFor((f) => f.type === 'ready'), { type: 'ready', tenantId, mode: 'live', role: 'admin' });
  await ws.close();
  const user = await userWithRole(r.app, tenantId, 'viewer');
  const wu = await WsClient.connect(port(), user.headers);
  t.deepEqual(await wu.waitFor((f) => f.type === 'ready'), { type: 'ready', tenantId, mode: 'live', role: 'viewer' });
  await wu.close();
});

test('a bad credential on the upgrade request is refused with 401 and the error envelope', async (t) => {
  const refused = async (headers: Record<string, string>) => {
    const err = await t.throwsAsync(WsClient.connect(port(), headers), { instanceOf: UpgradeRefused });
    const res = (err as UpgradeRefused).response;
    return { status: res.status, headers: new Headers(res.headers), body: JSON.parse(res.body) as unknown };
  };
  assertError(t, await refused({ 'x-api-key': `as_live_${'0'.repeat(32)}` }), 'authentication_error', 'Invalid API key');
  assertError(t, await refused({ 'x-api-key': 'as_live_short' }), 'authentication_error', 'Malformed API key');
  assertError(t, await refused({ authorization: 'Bearer not.a.jwt' }), 'authentication_error', 'Invalid or expired token');
  assertError(t, await refused({ authorization: 'Basic abc' }), 'authentication_error', 'Authorization must be "Bearer <token>"');
});

test('an auth frame authenticates (API key or access token) and is answered by a reply', async (t) => {
  const { tenantId, key } = await tenant();
  const ws = await WsClient.connect(port());
  t.deepEqual(await ws.request({ type: 'auth', id: 'a1', apiKey: key }), { type: 'reply', id: 'a1', result: { tenantId, mode: 'live', role: 'admin' } });
  t.deepEqual(await ws.request({ type: 'auth', id: 2, apiKey: key }), errorFrame(2, 'conflict', 'Already authenticated'));
  await ws.close();
  const { accessToken } = await r.app.sessions.start(r.app.engine.store.users.create({ tenantId, email: `m-${tenantId}@example.test`, passwordHash: 'x', role: 'member' }));
  const wt = await WsClient.connect(port());
  // Frames sent right behind auth wait for it.
  wt.send({ type: 'auth', id: 'a', token: accessToken });
  t.like(await wt.request({ type: 'ping', id: 'p' }), { type: 'reply', id: 'p', result: { pong: true } });
  t.like(wt.frames[0], { type: 'reply', id: 'a', result: { tenantId, mode: 'live', role: 'member' } });
  await wt.close();
});

test('a bad auth frame: an error frame, then close 4401 authentication_error', async (t) => {
  const ws = await WsClient.connect(port());
  t.deepEqual(await ws.request({ type: 'auth', id: 'x', apiKey: `as_test_${'0'.repeat(32)}` }), errorFrame('x', 'authentication_error', 'Invalid API key'));
  t.deepEqual(await ws.closed, { code: 4401, reason: 'authentication_error' });
  const wt = await WsClient.connect(port());
  t.deepEqual(await wt.request({ type: 'auth', id: 'y', token: 'a.b.c' }), errorFrame('y', 'authentication_error', 'Invalid or expired token'));
  t.deepEqual(await wt.closed, { code: 4401, reason: 'authentication_error' });
});

test('anything but auth first, or no auth in time: an error frame, then close 4401', async (t) => {
  const ws = await WsClient.connect(port());
  t.deepEqual(
    await ws.request({ type: 'subscribe', id: 's', topics: ['tenant'] }),
    errorFrame('s', 'authentication_error', 'Authenticate first: send {"type":"auth","id":…,"apiKey":…} or {"type":"auth","id":…,"token":…}'),
  );
  t.deepEqual(await ws.closed, { code: 4401, reason: 'authentication_error' });
  const t0 = Date.now();
  const silent = await WsClient.connect(port());
  t.deepEqual(await silent.closed, { code: 4401, reason: 'authentication_error' });
  t.true(Date.now() - t0 >= AUTH_TIMEOUT_MS - 20, `closed after ${Date.now() - t0} ms`);
  t.deepEqual(silent.frames, [errorFrame(null, 'authentication_error', `No auth frame within ${AUTH_TIMEOUT_MS} ms`)]);
});

test('malformed frames get a validation_error reply and the connection stays open', async (t) => {
  const { key } = await tenant();
  const ws = await connect(key);
  const next = async (send: () => void) => {
    const from = ws.frames.length;
    send();
    return ws.waitFor(() => true, 5000, from);
  };
  t.like(await next(() => ws.send('{"type": "ping", ')), { type: 'error', id: null, error: { code: 'validation_error', message: 'Malformed JSON' } });
  t.deepEqual(
    await next(() => ws.sendBinary(Buffer.from([1, 2, 3]))),
    errorFrame(null, 'validation_error', 'Binary frames are not accepted: send JSON text', [{ field: 'frame', message: 'binary frame' }]),
  );
  const types = 'auth, subscribe, unsubscribe, ping, hangup, say, transfer, dtmf, mute';
  t.deepEqual(await ws.request({ type: 'shout', id: 'u' }), errorFrame('u', 'validation_error', 'Unknown frame type', [{ field: 'frame.type', message: `must be one of ${types}` }]));
  t.deepEqual(await next(() => ws.send([1, 2])), errorFrame(null, 'validation_error', 'Unknown frame type', [{ field: 'frame.type', message: `must be one of ${types}` }]));
  t.deepEqual(
    await ws.request({ type: 'subscribe', id: 7, topics: ['tenant', 'room:1'], lastEventId: -1, extra: true }),
    errorFrame(7, 'validation_error', 'Invalid subscribe frame', [
      { field: 'frame.topics[1]', message: 'must be "tenant", "agent:<id>" or "call:<id>"' },
      { field: 'frame.lastEventId', message: 'Too small: expected number to be >=0' },
      { field: 'frame.extra', message: 'Unknown field' },
    ]),
  );
  t.deepEqual(
    await next(() => ws.send({ type: 'hangup' })),
    errorFrame(null, 'validation_error', 'Invalid hangup frame', [
      { field: 'frame.id', message: 'Invalid input' },
      { field: 'frame.callId', message: 'Field is required' },
    ]),
  );
  t.like(await ws.request({ type: 'dtmf', id: 'd', callId: 'c', digits: '12x' }), {
    error: { code: 'validation_error', message: 'Invalid dtmf frame', details: [{ field: 'frame.digits', message: 'digits 0-9, *, #, A-D' }] },
  });
  t.like(await ws.request({ type: 'ping' }), { type: 'reply', result: { pong: true } });
  await ws.close();
});

test('a frame over 64 KiB drops the connection (uWS closes it without a close frame)', async (t) => {
  const { key } = await tenant();
  const ws = await connect(key);
  ws.send({ type: 'ping', id: 'x'.repeat(64 * 1024) });
  t.deepEqual(await ws.closed, { code: null, reason: 'socket closed' });
  t.deepEqual(ws.frames.map((f) => f.type), ['ready']);
});

test('subscribe: events of the topics arrive with their log ids; types narrow; unsubscribe stops them', async (t) => {
  const { key, live } = await tenant();
  const ws = await connect(key);
  t.deepEqual(await ws.request({ type: 'subscribe', id: 's1', topics: ['call:c1', 'agent:a2'] }), {
    type: 'reply',
    id: 's1',
    result: { topics: ['call:c1', 'agent:a2'], replayed: 0 },
  });
  t.like(await ws.request({ type: 'subscribe', id: 's2', topics: ['tenant'], types: ['call.ended'] }), { result: { topics: ['call:c1', 'agent:a2', 'tenant'] } });
  const sent = [
    callStarted(r.app, live, 'c1', 'a1'), // call:c1
    callStarted(r.app, live, 'c2', 'a2'), // agent:a2
    callStarted(r.app, live, 'c3', 'a3'), // none
    agentUpdated(r.app, live, 'a2'), // agent:a2
    callEnded(r.app, live, 'c3', 'a3'), // tenant (call.ended)
  ];
  await ws.waitFor((f) => f.type === 'event' && (f.event as { id: number }).id === sent[4]!.id);
  t.deepEqual(ws.events(), [sent[0], sent[1], sent[3], sent[4]]);
  t.deepEqual(ws.frames.filter((f) => f.type === 'event')[0], { type: 'event', event: sent[0] });
  t.like(await ws.request({ type: 'unsubscribe', id: 'u', topics: ['agent:a2', 'tenant'] }), { result: { topics: ['call:c1'], replayed: 0 } });
  agentUpdated(r.app, live, 'a2');
  const last = callEnded(r.app, live, 'c1', 'a1');
  await ws.waitFor((f) => f.type === 'event' && (f.event as { id: number }).id === last.id);
  t.deepEqual(ws.events().map((e) => e.id), [sent[0]!.id, sent[1]!.id, sent[3]!.id, sent[4]!.id, last.id]);
  await ws.close();
});

test('resume: lastEventId replays exactly the missed events before the reply, then live ones', async (t) => {
  const { key, live } = await tenant();
  const first = await connect(key);
  await first.request({ type: 'subscribe', topics: ['tenant'] });
  const e1 = callStarted(r.app, live, 'c1');
  await first.waitFor((f) => f.type === 'event');
  first.destroy();
  const missed = [callRinging(r.app, live, 'c1'), callStarted(r.app, live, 'c2'), callEnded(r.app, live, 'c1')];

  const ws = await connect(key);
  const reply = await ws.request({ type: 'subscribe', id: 'r', topics: ['tenant'], lastEventId: e1.id });
  t.deepEqual(reply, { type: 'reply', id: 'r', result: { topics: ['tenant'], replayed: 3 } });
  const live1 = agentUpdated(r.app, live, 'a');
  await ws.waitFor((f) => f.type === 'event' && (f.event as { id: number }).id === live1.id);
  t.deepEqual(
    ws.frames.map((f) => f.type),
    ['ready', 'event', 'event', 'event', 'reply', 'event'],
  );
  t.deepEqual(ws.events(), [...missed, live1]);

  await ws.close();

  // A topic added later replays only what the topics already live did not send.
  const other = await connect(key);
  await other.request({ type: 'subscribe', topics: ['call:c1'] });
  const l = callRinging(r.app, live, 'c1');
  await other.waitFor((f) => f.type === 'event');
  const wider = await other.request({ type: 'subscribe', id: 'w', topics: ['tenant'], lastEventId: 0 });
  t.deepEqual(wider, { type: 'reply', id: 'w', result: { topics: ['call:c1', 'tenant'], replayed: 2 } });
  t.deepEqual(other.events().map((e) => e.id), [l.id, missed[1]!.id, live1.id]);
  await other.close();
});

test('a connection sees only its tenant and mode', async (t) => {
  const a = await tenant();
  const b = await tenant();
  const testKey = mintKey(r.app, a.tenantId, { mode: 'test', role: 'viewer' });
  const [aLive, aTest, bLive] = await Promise.all([connect(a.key), connect(testKey), connect(b.key)]);
  for (const c of [aLive, aTest, bLive]) await c.request({ type: 'subscribe', topics: ['tenant'], lastEventId: 0 });
  const e1 = callStarted(r.app, a.live, 'shared-call-id');
  const e2 = callStarted(r.app, a.test, 'shared-call-id');
  const e3 = callStarted(r.app, b.live, 'shared-call-id');
  const ends = [agentUpdated(r.app, a.live, 'end'), agentUpdated(r.app, a.test, 'end'), agentUpdated(r.app, b.live, 'end')];
  const upTo = (c: WsClient, id: number) => c.waitFor((f: Frame) => f.type === 'event' && (f.event as { id: number }).id === id);
  await Promise.all([upTo(aLive, ends[0]!.id), upTo(aTest, ends[1]!.id), upTo(bLive, ends[2]!.id)]);
  t.deepEqual(aLive.events().map((e) => e.id), [e1.id, ends[0]!.id]);
  t.deepEqual(aTest.events().map((e) => e.id), [e2.id, ends[1]!.id]);
  t.deepEqual(bLive.events().map((e) => e.id), [e3.id, ends[2]!.id]);
  await Promise.all([aLive, aTest, bLive].map((c) => c.close()));
});

test('commands: not_found for unknown and foreign calls, conflict for an ended call (every command), validation_error for bad arguments', async (t) => {
  const a = await tenant();
  const b = await tenant();
  const store = r.app.engine.store;
  const mine = store.calls.create({ tenantId: a.tenantId, mode: 'live', direction: 'inbound' });
  store.calls.end(mine.id, { reason: 'caller_hangup', status: 'completed' });
  const theirs = store.calls.create({ tenantId: b.tenantId, mode: 'live', direction: 'inbound' });
  const mineInTest = store.calls.create({ tenantId: a.tenantId, mode: 'test', direction: 'inbound' });
  const ws = await connect(a.key);
  t.deepEqual(await ws.request({ type: 'hangup', id: 1, callId: 'nope' }), errorFrame(1, 'not_found', 'Call not found'));
  t.deepEqual(await ws.request({ type: 'hangup', id: 2, callId: theirs.id }), errorFrame(2, 'not_found', 'Call not found'));
  t.deepEqual(await ws.request({ type: 'say', id: 3, callId: theirs.id, text: 'hi' }), errorFrame(3, 'not_found', 'Call not found'));
  t.deepEqual(await ws.request({ type: 'hangup', id: 4, callId: mineInTest.id }), errorFrame(4, 'not_found', 'Call not found'));
  t.deepEqual(await ws.request({ type: 'hangup', id: 5, callId: mine.id }), errorFrame(5, 'conflict', 'Call is not live (completed)'));
  const args: Record<string, Record<string, unknown>> = {
    say: { text: 'Hello', interrupt: true },
    transfer: { target: 'sip:desk@example.com' },
    dtmf: { digits: '123#' },
    mute: { muted: false },
  };
  for (const [type, a] of Object.entries(args)) {
    t.deepEqual(await ws.request({ type, id: type, callId: mine.id, ...a }), errorFrame(type, 'conflict', 'Call is not live (completed)'));
  }
  t.deepEqual(await ws.request({ type: 'transfer', id: 'bad', callId: mine.id, target: 'desk' }), errorFrame('bad', 'validation_error', 'Invalid transfer frame', [
    { field: 'frame.target', message: 'Must be an E.164 number (+15551234567) or a sip: URI (sip:desk@pbx.example.com)' },
  ]));
  // Viewers, and keys without calls:write, may watch but not command.
  const viewer = await connect(mintKey(r.app, a.tenantId, { role: 'viewer' }));
  t.deepEqual(await viewer.request({ type: 'hangup', id: 'v', callId: mine.id }), errorFrame('v', 'authorization_error', 'Role viewer may not do this (needs owner or admin or member)'));
  const readOnly = await connect(mintKey(r.app, a.tenantId, { scopes: ['events:read', 'calls:read'] }));
  t.deepEqual(await readOnly.request({ type: 'hangup', id: 'k', callId: mine.id }), errorFrame('k', 'authorization_error', 'API key lacks scope calls:write'));
  const noEvents = await connect(mintKey(r.app, a.tenantId, { scopes: ['calls:write'] }));
  t.deepEqual(await noEvents.request({ type: 'subscribe', id: 'e', topics: ['tenant'] }), errorFrame('e', 'authorization_error', 'API key lacks scope events:read'));
  await Promise.all([ws, viewer, readOnly, noEvents].map((c) => c.close()));
});

test('WebSocket requests spend the key\'s rate limit, shared with REST; pings are free', async (t) => {
  const { tenantId } = await tenant();
  const key = mintKey(r.app, tenantId, { rateLimit: 3 });
  const ws = await connect(key);
  for (let i = 1; i <= 3; i++) t.like(await ws.request({ type: 'subscribe', id: i, topics: ['tenant'] }), { type: 'reply', id: i });
  const refused = await ws.request({ type: 'subscribe', id: 4, topics: ['tenant'] });
  t.like(refused, { type: 'error', id: 4, error: { code: 'rate_limit_exceeded', details: [] } });
  t.regex(String((refused['error'] as { message?: unknown } | undefined)?.message), /^Rate limit of 3 requests per minute exceeded; retry in \d+ s$/);
  t.like(await ws.request({ type: 'hangup', id: 5, callId: 'call_x' }), { type: 'error', id: 5, error: { code: 'rate_limit_exceeded' } });
  t.like(await ws.request({ type: 'ping', id: 6 }), { type: 'reply', id: 6, result: { pong: true } });
  const rest = await fetch(`http://127.0.0.1:${port()}/api/v1/agents`, { headers: { 'x-api-key': key } });
  t.is(rest.status, 429);
  t.is(rest.headers.get('x-ratelimit-remaining'), '0');
  await ws.close();
});

test('a revoked key or a signed-out session has its connection closed 4401 at the next heartbeat', async (t) => {
  const seeded = await seedTenant(r.app);
  const key = mintKey(r.app, seeded.tenantId, {});
  const ws = await connect(key);
  const session = await login(r, seeded.ownerEmail, seeded.ownerPassword);
  const byFrame = await WsClient.connect(port());
  t.like(await byFrame.request({ type: 'auth', token: session.accessToken }), { type: 'reply' });
  const byHeader = await WsClient.connect(port(), session.headers);
  await byHeader.waitFor((f) => f.type === 'ready');
  const bystander = await connect(seeded.apiKey);
  await sleep(600);
  r.app.engine.store.apiKeys.revoke(seeded.tenantId, r.app.engine.store.apiKeys.byHash(hashApiKey(key))!.id);
  t.is((await r.req('POST', '/api/v1/auth/logout', { body: { refreshToken: session.refreshToken } })).status, 204);
  for (const [c, why] of [[ws, 'API key revoked'], [byFrame, 'Session ended'], [byHeader, 'Session ended']] as const) {
    t.deepEqual(await c.closed, { code: 4401, reason: 'authentication_error' });
    t.deepEqual(c.frames.at(-1), errorFrame(null, 'authentication_error', why));
  }
  t.like(await bystander.request({ type: 'ping' }), { type: 'reply' }, 'other callers stay');
  await bystander.close();
});

test('a plain GET (no upgrade) is 422 in the envelope', async (t) => {
  assertError(t, await r.req('GET', '/api/v1/ws'), 'validation_error', 'This endpoint speaks WebSocket: send an upgrade request', [
    { field: 'headers.upgrade', message: 'must be "websocket"' },
  ]);
});
