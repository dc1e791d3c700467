/**
 * Calls from a tenant's SIP users to its agents and numbers, end to end on loopback: SIPp
 * registered over UDP as a stored SIP user, and a raw SIP-over-WebSocket client as a browser's
 * web identity from `POST /api/v1/calls/web`. Each is challenged (407), answered by the agent,
 * hears its greeting (the test's phone carries the media and measures it), shows up as a call
 * record (direction `web`, the user as caller, no trunk) with its events, and ends with the
 * caller's BYE. Refusals (404, 480, 403), bad Request-URIs in the domain, and an identity that
 * expires under a live call.
 */
import anyTest, { type TestFn } from 'ava';
import fc from 'fast-check';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, scenario, type InboundSetup } from '../../helpers/inbound.js';
import { Phone } from '../../helpers/phone.js';
import { runSipp, sippMissing } from '../../helpers/sipp.js';
import { connectSipWs, digestAuthorization, registerOverWs, type SipWsClient } from '../../helpers/sip-ws-client.js';
import type { SipMessage } from '../../../engine/sip/message/message.js';
import type { Call } from '../../../engine/calls/call.js';

const test = anyTest as TestFn;
const REALM = 'agent-studio';
const GREETING = 'Hello, you have reached the agent. How can I help you today?';

interface WebCall {
  websocketUrl: string;
  sip: { uri: string; username: string; password: string; realm: string; expiresAt: string };
  target: string;
}

interface CallRecord {
  id: string;
  direction: string;
  status: string;
  from: string | null;
  to: string | null;
  fromUri: string | null;
  toUri: string | null;
  trunkId: string | null;
  agentId: string | null;
  phoneNumberId: string | null;
  endReason: string | null;
  hangupBy: string | null;
  transcript: { role: string; text: string }[];
}

let s: InboundSetup;
let domain = '';
let h: Record<string, string> = {};
const ids = { number: '', inactiveAgent: '', otherTenantDomain: '' };
/** Issued first, with the shortest ttl: the last test waits for it to expire. */
let expiring: WebCall;

test.before(async () => {
  s = await inboundSetup({ sip: { realm: REALM } });
  h = s.tenant.headers;
  domain = `${s.tenant.tenantId}.live`;
  const ok = async <T>(p: Promise<{ status: number; body: T }>, what: string): Promise<T> => {
    const res = await p;
    if (res.status >= 300) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  expiring = await ok(request<WebCall>(s.base, 'POST', '/api/v1/calls/web', { headers: h, body: { agentId: s.agentId, ttlSeconds: 60 } }), 'expiring identity');
  await ok(request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: h, body: { config: { firstMessage: GREETING } } }), 'greeting');
  await ok(request(s.base, 'POST', '/api/v1/sip-users', { headers: h, body: { username: 'alice', password: 'alice-secret' } }), 'sip user');
  ids.number = (await ok(request<{ id: string }>(s.base, 'POST', '/api/v1/phone-numbers', { headers: h, body: { number: '+15551234567', agentId: s.agentId } }), 'number')).id;
  ids.inactiveAgent = (await ok(request<{ id: string }>(s.base, 'POST', '/api/v1/agents', { headers: h, body: { name: 'Off', status: 'inactive', config: { prompt: { system: 'Off' } } } }), 'inactive agent')).id;
  await ok(request(s.base, 'POST', '/api/v1/phone-numbers', { headers: h, body: { number: '+15550000002', agentId: ids.inactiveAgent } }), 'inactive number');
  await ok(request(s.base, 'POST', '/api/v1/phone-numbers', { headers: h, body: { number: '+15550000003' } }), 'bare number');
  const other = s.app.engine.store.tenants.create({ name: 'Other' });
  ids.otherTenantDomain = `${other.id}.live`;
});
test.after.always(() => s?.close());

const webIdentity = async (body: Record<string, unknown> = { agentId: s.agentId }) => {
  const res = await request<WebCall>(s.base, 'POST', '/api/v1/calls/web', { headers: h, body });
  if (res.status !== 201) throw new Error(`calls/web: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
};
const record = async (id: string) => (await request<CallRecord>(s.base, 'GET', `/api/v1/calls/${id}`, { headers: h })).body;
const ended = (id: string) => waitFor(async () => ((await record(id)).endReason ? record(id) : undefined), 10_000);
const liveCall = (sipCallId: string) => waitFor(() => [...s.app.engine.calls.calls.values()].find((c) => c.identity.sipCallId === sipCallId && c.parts.leg && c.state === 'answered'), 10_000);
const legPort = (c: Call) => Number(/m=audio (\d+)/.exec(c.parts.leg!.answerSdp)![1]);
const eventsOf = async (id: string) => (await request<{ items: { type: string; data: Record<string, unknown> }[] }>(s.base, 'GET', `/api/v1/calls/${id}/events?limit=100`, { headers: h })).body.items;
const recordCount = async () => (await request<{ items: unknown[] }>(s.base, 'GET', '/api/v1/calls?limit=100', { headers: h })).body.items.length;

/** The phone heard the greeting: flite says it in about 3 s; at least 1 s of it loud. */
const GREETING_MIN_MS = 1000;

const sippSkip = sippMissing();
(sippSkip ? test.serial.skip : test.serial)(`SIPp registered over UDP as a stored SIP user calls the agent: 407, answered, greeting heard, its BYE ends the call${sippSkip ? ` (skipped: ${sippSkip})` : ''}`, async (t) => {
  const phone = await Phone.open();
  t.teardown(() => phone.close());
  const callee = `agent-${s.agentId}`;
  // SIPp hangs up 8 s after the answer: the greeting (about 3 s of flite) is said whole first,
  // with room for a loaded machine (at 5 s a loaded run cut it short).
  const sipp = runSipp({ transport: 'u1', target: s.sipTarget, scenario: scenario('user-agent-call.xml', { user: 'alice', password: 'alice-secret', domain, callee, rtpPort: phone.port, holdMs: 8000 }), timeoutSeconds: 30 });
  // SIPp's Call-ID is its own: the one live call of this tenant from alice.
  const live = await waitFor(() => [...s.app.engine.calls.calls.values()].find((c) => c.parts.leg && c.state === 'answered'), 15_000);
  const started = performance.now();
  phone.start(legPort(live));
  const regs = (await request<{ items: { id: string; username: string }[] }>(s.base, 'GET', '/api/v1/sip-users', { headers: h })).body.items;
  const alice = regs.find((u) => u.username === 'alice')!;
  const bound = (await request<{ items: { transport: string }[] }>(s.base, 'GET', `/api/v1/sip-users/${alice.id}/registrations`, { headers: h })).body.items;
  t.like(bound[0], { transport: 'udp' });
  const result = await sipp;
  t.is(result.code, 0, `${result.ladder.join(' | ')}\n${result.errors.slice(-800)}`);
  t.deepEqual(
    result.ladder.filter((l) => !/^<- 1\d\d /.test(l)),
    ['-> REGISTER', '<- 401 REGISTER', '-> REGISTER', '<- 200 REGISTER', '-> INVITE', '<- 407 INVITE', '-> ACK', '-> INVITE', '<- 200 INVITE', '-> ACK', '-> BYE', '<- 200 BYE'],
  );
  const heard = phone.loudMs(started);
  t.log(`greeting heard over SIPp's call: ${heard} ms of speech`);
  t.true(heard >= GREETING_MIN_MS, `${heard} ms`);
  const call = await ended(live.id);
  t.like(call, { direction: 'web', trunkId: null, agentId: s.agentId, phoneNumberId: null, endReason: 'caller_hangup', hangupBy: 'caller' });
  // With no numbers, the caller and callee are their URIs.
  t.like(call, { from: `sip:alice@${domain}`, fromUri: `sip:alice@${domain}`, to: `sip:${callee}@${domain}`, toUri: `sip:${callee}@${domain}` });
  t.deepEqual(call.transcript.filter((e) => e.role === 'agent').map((e) => e.text), [GREETING]);
});

/** A WebSocket client speaking as a SIP user of the domain: INVITE with digest, ACK, BYE. */
class WsCaller {
  #cseq = 0;
  #branch = 0;
  toTag = '';
  remoteTarget = '';

  constructor(
    readonly c: SipWsClient,
    readonly user: string,
    readonly password: string,
    readonly callId: string,
    readonly fromDomain = domain,
  ) {}

  static async open(user: string, password: string, callId: string, fromDomain = domain): Promise<WsCaller> {
    return new WsCaller(await connectSipWs(`ws://127.0.0.1:${s.app.http.port}/sip`), user, password, callId, fromDomain);
  }

  /** Sends a request; resolves with its final response. */
  async send(method: string, uri: string, o: { auth?: string; sdpPort?: number; to?: string; cseq?: number; branch?: string } = {}): Promise<SipMessage & { kind: 'response' }> {
    const cseq = o.cseq ?? ++this.#cseq;
    const branch = o.branch ?? `z9hG4bKws${this.callId.replace(/\W/g, '')}${++this.#branch}`;
    const body = o.sdpPort
      ? `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${o.sdpPort} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n`
      : '';
    this.c.send(
      [
        `${method} ${uri} SIP/2.0`,
        `Via: SIP/2.0/WS caller.invalid;branch=${branch}`,
        'Max-Forwards: 70',
        `From: <sip:${this.user}@${this.fromDomain}>;tag=from${this.callId.replace(/\W/g, '')}`,
        `To: ${o.to ?? `<${uri}>`}`,
        `Call-ID: ${this.callId}`,
        `CSeq: ${cseq} ${method}`,
        `Contact: <sip:${this.user}@caller.invalid;transport=ws>`,
        ...(o.auth ? [`Proxy-Authorization: ${o.auth}`] : []),
        ...(body ? ['Content-Type: application/sdp'] : []),
        `Content-Length: ${Buffer.byteLength(body)}`,
        '',
        body,
      ].join('\r\n'),
    );
    if (method === 'ACK') return undefined as never;
    const res = await this.c.next((m) => m.kind === 'response' && m.callId === this.callId && m.headers.get('CSeq') === `${cseq} ${method}` && m.status >= 200, 10_000);
    return res as SipMessage & { kind: 'response' };
  }

  /** INVITE `target`: the 407, its ACK, then with credentials; the final answer (ACKed when 2xx). */
  async invite(target: string, sdpPort: number, password = this.password): Promise<number> {
    const challenge = await this.send('INVITE', target, { sdpPort });
    if (challenge.status !== 407) return challenge.status;
    await this.send('ACK', target, { cseq: this.#cseq, to: challenge.headers.get('To')!, branch: challenge.headers.get('Via')!.match(/branch=([^;\s]+)/)![1]! });
    const nonce = /nonce="([^"]+)"/.exec(challenge.headers.get('Proxy-Authenticate') ?? '')![1]!;
    const auth = digestAuthorization({ user: this.user, password, realm: REALM, method: 'INVITE', uri: target, nonce });
    const final = await this.send('INVITE', target, { sdpPort, auth });
    if (final.status >= 200 && final.status < 300) {
      this.toTag = final.headers.get('To')!;
      this.remoteTarget = /<([^>]+)>/.exec(final.headers.get('Contact')!)![1]!;
      await this.send('ACK', this.remoteTarget, { cseq: this.#cseq, to: this.toTag });
    }
    return final.status;
  }

  async bye(): Promise<number> {
    return (await this.send('BYE', this.remoteTarget, { to: this.toTag })).status;
  }

  close(): void {
    this.c.close();
  }
}

test.serial('a web identity from POST /calls/web calls the agent over the WebSocket: registered, 407, answered, greeting heard, live in /calls, BYE ends it', async (t) => {
  const web = await webIdentity();
  const caller = await WsCaller.open(web.sip.username, web.sip.password, 'web-call-1@test');
  t.teardown(() => caller.close());
  const reg = await registerOverWs(caller.c, { user: web.sip.username, password: web.sip.password, domain, realm: REALM, callId: 'web-reg-1@test', cseq: 1, contacts: [`<sip:${web.sip.username}@caller.invalid;transport=ws>`], expires: '300' });
  t.is(reg.status, 200);
  const phone = await Phone.open();
  t.teardown(() => phone.close());
  t.is(await caller.invite(web.target, phone.port), 200);
  const live = await liveCall('web-call-1@test');
  const started = performance.now();
  phone.start(legPort(live));
  const listed = await request<{ items: { id: string; status: string; direction: string }[] }>(s.base, 'GET', '/api/v1/calls?status=in_progress', { headers: h });
  t.like(listed.body.items.find((c) => c.id === live.id), { status: 'in_progress', direction: 'web' });
  await waitFor(async () => (await eventsOf(live.id)).some((e) => e.type === 'call.agent_said'), 15_000);
  const heard = phone.loudMs(started);
  t.log(`greeting heard over the WebSocket call: ${heard} ms of speech`);
  t.true(heard >= GREETING_MIN_MS, `${heard} ms`);
  t.is(await caller.bye(), 200);
  const call = await ended(live.id);
  t.like(call, { direction: 'web', trunkId: null, agentId: s.agentId, endReason: 'caller_hangup', hangupBy: 'caller', fromUri: web.sip.uri, toUri: web.target });
  const events = await eventsOf(live.id);
  t.deepEqual(events.filter((e) => ['call.started', 'call.answered', 'call.ended'].includes(e.type)).map((e) => e.type), ['call.started', 'call.answered', 'call.ended']);
  t.like(events[0]!.data, { direction: 'web', trunkId: null, from: { uri: web.sip.uri, number: null }, agentId: s.agentId });
});

test.serial("one of the tenant's numbers in the domain reaches its agent: the record names the number", async (t) => {
  const web = await webIdentity({ phoneNumberId: ids.number });
  t.is(web.target, `sip:+15551234567@${domain}`);
  const caller = await WsCaller.open(web.sip.username, web.sip.password, 'web-number@test');
  t.teardown(() => caller.close());
  const phone = await Phone.open();
  t.teardown(() => phone.close());
  t.is(await caller.invite(web.target, phone.port), 200);
  const live = await liveCall('web-number@test');
  phone.start(legPort(live));
  t.is(await caller.bye(), 200);
  const call = await ended(live.id);
  t.like(call, { direction: 'web', phoneNumberId: ids.number, to: '+15551234567', agentId: s.agentId, endReason: 'caller_hangup' });
});

test.serial('refusals: unknown agent or number 404, inactive agent 480, a number without agent 480, another tenant’s domain 403, a wrong password 403, a web identity off its target 403; no call recorded', async (t) => {
  const web = await webIdentity();
  const before = await recordCount();
  // A web identity may call its own target only: not another agent, not a number, not a user.
  for (const [n, uri] of [`sip:agent-${ids.inactiveAgent}@${domain}`, `sip:+15551234567@${domain}`, `sip:alice@${domain}`].entries()) {
    const off = await WsCaller.open(web.sip.username, web.sip.password, `off-target-${n}@test`);
    t.is(await off.invite(uri, 40000), 403, uri);
    off.close();
  }
  const cases: [string, number, string?][] = [
    [`sip:agent-3f2b8c1e-5d4a-4c6b-9e7f-0a1b2c3d4e5f@${domain}`, 404],
    [`sip:+15559999999@${domain}`, 404],
    [`sip:15559999999@${domain}`, 404],
    [`sip:agent-${ids.inactiveAgent}@${domain}`, 480],
    [`sip:+15550000002@${domain}`, 480],
    [`sip:+15550000003@${domain}`, 480],
    [`sip:agent-${s.agentId}@${ids.otherTenantDomain}`, 403],
    [`sip:agent-${s.agentId}@${domain}`, 403, 'wrong-password'],
  ];
  let n = 0;
  // As a stored SIP user, who may call any agent, number or user of its domain.
  for (const [uri, status, password] of cases) {
    const caller = await WsCaller.open('alice', 'alice-secret', `refused-${++n}@test`);
    t.is(await caller.invite(uri, 40000, password ?? 'alice-secret'), status, uri);
    caller.close();
  }
  // From another tenant's domain to this one: refused before any challenge.
  const stranger = await WsCaller.open('alice', 'alice-secret', 'stranger@test', ids.otherTenantDomain);
  t.is(await stranger.invite(web.target, 40000), 403);
  stranger.close();
  t.is(await recordCount(), before);
});

const BAD_RUNS = 60;
test.serial(`bad Request-URIs in a tenant domain never crash: fixed cases and ${BAD_RUNS} random user parts get a final answer that is no 5xx, and the engine answers on`, async (t) => {
  // A stored SIP user: any Request-URI of the domain gets routed (a web identity's would all be 403).
  const web = await webIdentity();
  const caller = await WsCaller.open('alice', 'alice-secret', 'bad-uris@test');
  t.teardown(() => caller.close());
  const nonceOf = async () => {
    const ch = await caller.send('INVITE', web.target, { sdpPort: 40000 });
    return /nonce="([^"]+)"/.exec(ch.headers.get('Proxy-Authenticate') ?? '')![1]!;
  };
  const nonce = await nonceOf();
  const statuses = new Map<number, number>();
  let attempt = 0;
  const tryUser = async (user: string) => {
    const uri = `sip:${user}@${domain}`;
    const auth = digestAuthorization({ user: 'alice', password: 'alice-secret', realm: REALM, method: 'INVITE', uri, nonce });
    // Each attempt its own call (Call-ID) on the one socket.
    const one = new WsCaller(caller.c, 'alice', 'alice-secret', `bad-uri-${++attempt}@test`);
    let status: number;
    try {
      const res = await one.send('INVITE', uri, { sdpPort: 40000, auth });
      status = res.status;
      if (status === 200) {
        // A form that does name the agent (an upper-case id, an escaped +): answered, then hung up.
        one.toTag = res.headers.get('To')!;
        one.remoteTarget = /<([^>]+)>/.exec(res.headers.get('Contact')!)![1]!;
        await one.send('ACK', one.remoteTarget, { cseq: 1, to: one.toTag });
        await one.bye();
      }
    } catch {
      status = 0; // no final answer (a request line the parser refused outright)
    }
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    return status;
  };
  const fixed = ['agent-', 'agent-%00', `agent-${s.agentId}%00`, `agent-${s.agentId.toUpperCase()}`, '%ZZ', '%', '+', '+1', '++15551234567', '1'.repeat(300), 'agent-' + 'f'.repeat(36), '%2B15551234567', 'a;b=c', 'agent-x?y=z', '\u00e9t\u00e9'];
  for (const user of fixed) t.false((await tryUser(user)) >= 500, user);
  await fc.assert(
    fc.asyncProperty(fc.stringMatching(/^[A-Za-z0-9\-_.!~*'()&=+$,;?/%]{1,80}$/), async (user) => (await tryUser(user)) < 500),
    { numRuns: BAD_RUNS },
  );
  t.log(`final statuses: ${[...statuses].map(([k, v]) => `${k}×${v}`).join(', ')}`);
  // Still answering: a good call from the same socket.
  const phone = await Phone.open();
  t.teardown(() => phone.close());
  const good = await WsCaller.open(web.sip.username, web.sip.password, 'after-bad@test');
  t.teardown(() => good.close());
  t.is(await good.invite(web.target, phone.port), 200);
  phone.start(legPort(await liveCall('after-bad@test')));
  t.is(await good.bye(), 200);
});

test.serial('an identity that expires: the call it placed goes on; its binding goes; REGISTER and INVITE with it then get 403', async (t) => {
  const expiresAt = Date.parse(expiring.sip.expiresAt);
  t.true(expiresAt - Date.now() > 5000, 'the identity still has time left when the test starts');
  const caller = await WsCaller.open(expiring.sip.username, expiring.sip.password, 'expiring@test');
  t.teardown(() => caller.close());
  const contact = `<sip:${expiring.sip.username}@caller.invalid;transport=ws>`;
  t.is((await registerOverWs(caller.c, { user: expiring.sip.username, password: expiring.sip.password, domain, realm: REALM, callId: 'exp-reg@test', cseq: 1, contacts: [contact], expires: '600' })).status, 200);
  t.is(s.app.engine.registrar.registrationsOf(expiring.sip.uri).length, 1);
  const phone = await Phone.open();
  t.teardown(() => phone.close());
  t.is(await caller.invite(expiring.target, phone.port), 200);
  const live = await liveCall('expiring@test');
  phone.start(legPort(live));
  t.log(`waiting ${Math.round((expiresAt - Date.now()) / 1000)} s for the identity to expire`);
  await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 500));
  t.deepEqual(s.app.engine.registrar.registrationsOf(expiring.sip.uri), [], 'its binding went with it');
  t.is(live.state, 'answered', 'the live call goes on');
  t.is((await record(live.id)).status, 'in_progress');
  t.is(await caller.bye(), 200);
  t.like(await ended(live.id), { endReason: 'caller_hangup', hangupBy: 'caller' });
  const reg = await registerOverWs(caller.c, { user: expiring.sip.username, password: expiring.sip.password, domain, realm: REALM, callId: 'exp-reg2@test', cseq: 1, contacts: [contact] });
  t.is(reg.status, 403);
  const again = await WsCaller.open(expiring.sip.username, expiring.sip.password, 'expired-invite@test');
  t.teardown(() => again.close());
  t.is(await again.invite(expiring.target, 40000), 403);
});
