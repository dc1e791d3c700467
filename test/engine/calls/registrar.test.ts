/**
 * The registrar (RFC 3261 §10.3) on the running engine's call control, reached over SIP
 * WebSockets: sip.js in Node (its UserAgent and Registerer, `ws` as the WebSocket) registering
 * with digest, re-registering, unregistering, expiring and removed when its socket closes; raw SIP
 * for the rules sip.js does not exercise (423, `*`, CSeq order, several contacts, bad credentials).
 */
import test from 'ava';
import { Registerer, RegistererState, UserAgent } from 'sip.js';
import WebSocket from 'ws';
import { useApp } from '../../helpers/app.js';
import { seedTenant } from '../../helpers/tenant.js';
import { runSipp, sippMissing } from '../../helpers/sipp.js';
import { connectSipWs, digestAuthorization, registerOverWs, wsRequest, type SipWsClient } from '../../helpers/sip-ws-client.js';

// sip.js opens its transport with the global WebSocket (Node 20 has none).
(globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;

const REALM = 'agent-studio';
const MIN = 2;
const r = useApp(test, { sip: { host: '127.0.0.1', port: 0, drachtioPort: 0, realm: REALM, registerMinExpiresSeconds: MIN, registerMaxExpiresSeconds: 300, registerDefaultExpiresSeconds: 60 } });
const url = () => `ws://127.0.0.1:${r.app.http.port}/sip`;
/** The tenant's SIP domain (its id: see engine/calls/registrar/sip-domain.ts). */
let DOMAIN = '';
let headers: Record<string, string> = {};
const ids: Record<string, string> = {};

test.before(async () => {
  await r.ready;
  const tenant = await seedTenant(r.app);
  DOMAIN = `${tenant.tenantId}.live`;
  headers = tenant.headers;
  for (const [username, password] of [['alice', 'alice-secret'], ['bob', 'bob-secret']] as const) {
    const res = await r.req<{ id: string; aor: string }>('POST', '/api/v1/sip-users', { headers, body: { username, password } });
    if (res.status !== 201) throw new Error(`sip user not created: ${res.status} ${JSON.stringify(res.body)}`);
    ids[username] = res.body.id;
  }
});

interface Registration {
  contact: string;
  expires: number;
  expiresInSeconds: number;
  transport: string;
  source: string;
}

/** What the API lists for a user. */
async function listed(user: string): Promise<Registration[]> {
  const res = await r.req<{ aor: string; items: Registration[] }>('GET', `/api/v1/sip-users/${ids[user]}/registrations`, { headers });
  if (res.status !== 200) throw new Error(`registrations: ${res.status}`);
  return res.body.items;
}
const registrations = (aor: string) => r.app.engine.registrar.registrationsOf(aor);

function agent(user: string, password: string): UserAgent {
  return new UserAgent({
    uri: UserAgent.makeURI(`sip:${user}@${DOMAIN}`)!,
    authorizationUsername: user,
    authorizationPassword: password,
    transportOptions: { server: url() },
    logBuiltinEnabled: false,
  });
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test.serial('sip.js registers with digest, is listed, re-registers, unregisters', async (t) => {
  const ua = agent('alice', 'alice-secret');
  t.teardown(() => ua.stop());
  await ua.start();
  const reg = new Registerer(ua, { expires: 30 });
  const states: string[] = [];
  reg.stateChange.addListener((s) => states.push(s));
  await reg.register();
  await until(() => reg.state === RegistererState.Registered);
  const bindings = registrations(`sip:alice@${DOMAIN}`);
  t.is(bindings.length, 1);
  t.like(bindings[0], { aor: `sip:alice@${DOMAIN}`, expires: 30, flow: { protocol: 'ws', address: '127.0.0.1' } });
  const api = await listed('alice');
  t.is(api.length, 1);
  t.like(api[0], { contact: bindings[0]!.contact, expires: 30, transport: 'ws', source: `127.0.0.1:${bindings[0]!.flow.port}` });
  t.true(api[0]!.expiresInSeconds > 25 && api[0]!.expiresInSeconds <= 30);
  t.regex(bindings[0]!.contact, /transport=ws/);
  const firstCseq = bindings[0]!.cseq;
  // A refresh: same Call-ID, a higher CSeq, the binding kept (§10.2.4).
  // (register() resolves once sent; the refresh is done when its 200 comes.)
  await new Promise<void>((resolve, reject) => void reg.register({ requestDelegate: { onAccept: () => resolve(), onReject: (res) => reject(new Error(`refresh refused: ${res.message.statusCode}`)) } }));
  t.true(registrations(`sip:alice@${DOMAIN}`)[0]!.cseq > firstCseq);
  t.is(registrations(`sip:alice@${DOMAIN}`).length, 1);
  await reg.unregister();
  await until(() => reg.state === RegistererState.Unregistered);
  t.deepEqual(registrations(`sip:alice@${DOMAIN}`), []);
  t.deepEqual(await listed('alice'), []);
  t.deepEqual(states, ['Registered', 'Unregistered']);
});

test.serial('a wrong password is refused (403) and nothing is bound', async (t) => {
  const ua = agent('bob', 'not-the-password');
  t.teardown(() => ua.stop());
  await ua.start();
  const reg = new Registerer(ua);
  let rejected = 0;
  await reg.register({ requestDelegate: { onReject: (res) => void (rejected = res.message.statusCode ?? -1) } });
  await until(() => rejected !== 0);
  t.is(rejected, 403);
  t.deepEqual(registrations(`sip:bob@${DOMAIN}`), []);
});

test.serial('a binding goes when its WebSocket closes (RFC 7118 §5), and when it expires', async (t) => {
  // A raw socket, closed without unregistering (sip.js unregisters when it stops).
  const gone = await connectSipWs(url());
  t.is((await registerRaw(gone, 'bob', 'bob-secret', { callId: 'closing@test', cseq: 1, contacts: ['<sip:bob@closing.invalid;transport=ws>'], expires: '60' })).status, 200);
  t.is(registrations(`sip:bob@${DOMAIN}`).length, 1);
  gone.socket.terminate();
  await until(() => registrations(`sip:bob@${DOMAIN}`).length === 0);
  t.pass('removed with its socket');

  const c = await connectSipWs(url());
  t.teardown(() => c.close());
  const res = await registerRaw(c, 'bob', 'bob-secret', { callId: 'exp@test', cseq: 1, contacts: ['<sip:bob@x.invalid;transport=ws>'], expires: String(MIN) });
  t.is(res.status, 200);
  t.is(registrations(`sip:bob@${DOMAIN}`).length, 1);
  await until(() => registrations(`sip:bob@${DOMAIN}`).length === 0, (MIN + 2) * 1000);
  t.pass(`expired after ${MIN} s`);
});

test.serial('§10.3: 423 with Min-Expires, several contacts, contact expires over Expires, CSeq order, * with Expires: 0', async (t) => {
  const c = await connectSipWs(url());
  t.teardown(() => c.close());
  const brief = await registerRaw(c, 'alice', 'alice-secret', { callId: 'rules@test', cseq: 1, contacts: ['<sip:a1@x.invalid;transport=ws>'], expires: '1' });
  t.is(brief.status, 423);
  t.is(brief.headers['min-expires'], String(MIN));
  const two = await registerRaw(c, 'alice', 'alice-secret', { callId: 'rules@test', cseq: 2, contacts: ['<sip:a1@x.invalid;transport=ws>;expires=40', '<sip:a2@x.invalid;transport=ws>'], expires: '50' });
  t.is(two.status, 200);
  t.is(two.contacts.length, 2);
  // The 200 gives back each contact as registered, its parameters included (§10.3 step 8).
  t.true(two.contacts.every((c) => /;transport=ws>;expires=\d+$/.test(c.trim())), two.contacts.join(' | '));
  t.deepEqual(registrations(`sip:alice@${DOMAIN}`).map((b) => b.expires).sort(), [40, 50]);
  const stale = await registerRaw(c, 'alice', 'alice-secret', { callId: 'rules@test', cseq: 2, contacts: ['<sip:a1@x.invalid;transport=ws>'], expires: '30' });
  t.is(stale.status, 500, 'same Call-ID, CSeq not higher: aborted (§10.3 step 7)');
  const badStar = await registerRaw(c, 'alice', 'alice-secret', { callId: 'rules@test', cseq: 3, contacts: ['*'], expires: '30' });
  t.is(badStar.status, 400);
  const star = await registerRaw(c, 'alice', 'alice-secret', { callId: 'rules@test', cseq: 4, contacts: ['*'], expires: '0' });
  t.is(star.status, 200);
  t.deepEqual(star.contacts, []);
  t.deepEqual(registrations(`sip:alice@${DOMAIN}`), []);
});

const sippSkip = sippMissing();
(sippSkip ? test.serial.skip : test.serial)(`SIPp over UDP registers with digest, is listed with transport udp, and unregisters${sippSkip ? ` (skipped: ${sippSkip})` : ''}`, async (t) => {
  const sip = r.app.engine.sip!.stack.listening().find((l) => l.protocol === 'udp')!;
  const run = runSipp({ transport: 'u1', target: `127.0.0.1:${sip.port}`, scenario: { file: 'uac-register.xml' }, args: ['-s', 'bob', '-au', 'bob', '-ap', 'bob-secret', '-set', 'domain', DOMAIN], timeoutSeconds: 15 });
  await until(() => registrations(`sip:bob@${DOMAIN}`).length === 1, 10_000);
  const api = await listed('bob');
  t.like(api[0], { transport: 'udp', expires: 60 });
  t.regex(api[0]!.contact, /^sip:bob@127\.0\.0\.1:\d+$/);
  const result = await run;
  t.is(result.code, 0, `${result.ladder.join(' | ')}\n${result.output.slice(-800)}`);
  t.deepEqual(result.ladder, ['-> REGISTER', '<- 401 REGISTER', '-> REGISTER', '<- 200 REGISTER', '-> REGISTER', '<- 200 REGISTER']);
  t.deepEqual(await listed('bob'), []);
});

test.serial('deleting a SIP user ends its registrations', async (t) => {
  const created = await r.req<{ id: string }>('POST', '/api/v1/sip-users', { headers, body: { username: 'carol', password: 'carol-secret' } });
  const c = await connectSipWs(url());
  t.teardown(() => c.close());
  t.is((await registerRaw(c, 'carol', 'carol-secret', { callId: 'del@test', cseq: 1, contacts: ['<sip:carol@x.invalid;transport=ws>'], expires: '60' })).status, 200);
  t.is(registrations(`sip:carol@${DOMAIN}`).length, 1);
  t.is((await r.req('DELETE', `/api/v1/sip-users/${created.body.id}`, { headers })).status, 204);
  t.deepEqual(registrations(`sip:carol@${DOMAIN}`), []);
});

test.serial("a registered user's call: another user of the tenant authenticates (407), the INVITE is forked to the callee's socket, its 200 comes back; unknown or unregistered callees are refused", async (t) => {
  const bob = await connectSipWs(url());
  const alice = await connectSipWs(url());
  t.teardown(() => {
    bob.close();
    alice.close();
  });
  t.is((await registerRaw(bob, 'bob', 'bob-secret', { callId: 'bob-reg@test', cseq: 1, contacts: ['<sip:bob@bobhost.invalid;transport=ws>'], expires: '60' })).status, 200);
  const invite = (cseq: number, auth?: string, callee = 'bob') =>
    wsRequest('INVITE', `sip:${callee}@${DOMAIN}`, {
      branch: `inv${cseq}${callee}`,
      callId: `call-${callee}@test`,
      cseq,
      headers: ['Contact: <sip:alice@alicehost.invalid;transport=ws>', 'Content-Type: application/sdp', ...(auth ? [`Proxy-Authorization: ${auth}`] : [])],
      // A browser's offer to a browser: proxied (a plain RTP offer to a browser is bridged, user-bridge.test.ts).
      body: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 UDP/TLS/RTP/SAVPF 0\r\n',
    }).replace(/^From: .*$/m, `From: <sip:alice@${DOMAIN}>;tag=alice${cseq}`);
  alice.send(invite(1));
  const challenge = await alice.next((m) => m.kind === 'response' && m.status >= 200);
  t.is(challenge.kind === 'response' && challenge.status, 407);
  const nonce = /nonce="([^"]+)"/.exec(challenge.headers.get('Proxy-Authenticate') ?? '')![1]!;
  const auth = digest('alice', 'alice-secret', 'INVITE', `sip:bob@${DOMAIN}`, nonce);
  alice.send(invite(2, auth));
  const forked = await bob.next((m) => m.kind === 'request' && m.method === 'INVITE');
  if (forked.kind !== 'request') return;
  t.is(forked.uri, 'sip:bob@bobhost.invalid;transport=ws', 'the Request-URI is the registered Contact');
  t.regex(forked.headers.get('Record-Route') ?? '', /transport=ws;lr/);
  const echo = forked.headers.fields().filter((f) => /^(via|from|call-id|cseq|record-route)$/i.test(f.name)).map((f) => `${f.name}: ${f.value}`);
  bob.send(['SIP/2.0 200 OK', ...echo, `To: ${forked.headers.get('To')};tag=bob1`, 'Contact: <sip:bob@bobhost.invalid;transport=ws>', 'Content-Length: 0', '', ''].join('\r\n'));
  const answered = await alice.next((m) => m.kind === 'response' && m.status === 200);
  t.is(answered.kind === 'response' && answered.headers.get('Call-ID'), 'call-bob@test');
  // The dialog's requests go through the engine (its Record-Route) and reach bob's socket.
  const route = answered.headers.getAll('Record-Route').join(', ');
  const toTagged = answered.headers.get('To')!;
  const inDialog = (method: string, cseq: number) =>
    [
      `${method} sip:bob@bobhost.invalid;transport=ws SIP/2.0`,
      `Via: SIP/2.0/WS alicehost.invalid;branch=z9hG4bK${method}${cseq}`,
      'Max-Forwards: 70',
      `Route: ${route}`,
      `From: <sip:alice@${DOMAIN}>;tag=alice2`,
      `To: ${toTagged}`,
      'Call-ID: call-bob@test',
      `CSeq: ${cseq} ${method}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
  alice.send(inDialog('ACK', 2));
  const ack = await bob.next((m) => m.kind === 'request' && m.method === 'ACK');
  t.is(ack.kind === 'request' && ack.uri, 'sip:bob@bobhost.invalid;transport=ws');
  alice.send(inDialog('BYE', 3));
  const bye = await bob.next((m) => m.kind === 'request' && m.method === 'BYE');
  const byeEcho = bye.headers.fields().filter((f) => /^(via|from|to|call-id|cseq)$/i.test(f.name)).map((f) => `${f.name}: ${f.value}`);
  bob.send(['SIP/2.0 200 OK', ...byeEcho, 'Content-Length: 0', '', ''].join('\r\n'));
  const byeOk = await alice.next((m) => m.kind === 'response' && m.status === 200 && m.headers.get('CSeq') === '3 BYE');
  t.truthy(byeOk, 'the BYE was answered end to end');

  // Nobody registered under carol: 480; a wrong password: 403.
  await r.req('POST', '/api/v1/sip-users', { headers, body: { username: 'dave', password: 'dave-secret' } });
  alice.send(invite(3, digest('alice', 'alice-secret', 'INVITE', `sip:dave@${DOMAIN}`, nonce), 'dave'));
  const offline = await alice.next((m) => m.kind === 'response' && m.callId === 'call-dave@test' && m.status >= 200);
  t.is(offline.kind === 'response' && offline.status, 480);
  alice.send(invite(4, digest('alice', 'wrong-password', 'INVITE', `sip:bob@${DOMAIN}`, nonce)).replace('call-bob@test', 'call-bad@test'));
  const bad = await alice.next((m) => m.kind === 'response' && m.callId === 'call-bad@test' && m.status >= 200);
  t.is(bad.kind === 'response' && bad.status, 403);
});

/** REGISTER over `c` for `user` of the test tenant's domain (see test/helpers/sip-ws-client.ts). */
const registerRaw = (c: SipWsClient, user: string, password: string, o: { callId: string; cseq: number; contacts: string[]; expires?: string }) =>
  registerOverWs(c, { user, password, domain: DOMAIN, realm: REALM, ...o });
const digest = (user: string, password: string, method: string, uri: string, nonce: string) => digestAuthorization({ user, password, realm: REALM, method, uri, nonce });
