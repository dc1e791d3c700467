/**
 * `POST /api/v1/calls/web` on a running engine: the whole answer (WebSocket URL from the Host or
 * the public URL, the identity, the target, the ICE servers), every refusal in its envelope, the
 * tenant's cap, and the identity working at the registrar (REGISTER over the WebSocket). A
 * property: any body (valid, mutated, hostile) gets a documented status, never a 5xx.
 */
import http from 'node:http';
import test from 'ava';
import fc from 'fast-check';
import { useApp } from '../helpers/app.js';
import { bodyBytes, type OpenApiDoc } from '../helpers/openapi-arbitraries.js';
import { connectSipWs, registerOverWs } from '../helpers/sip-ws-client.js';
import { mintKey, seedTenant, type SeededTenant } from '../helpers/tenant.js';

const REALM = 'web-realm';
const ICE = [{ urls: 'stun:127.0.0.1:3478' }, { urls: ['turn:127.0.0.1:3478?transport=udp'], username: 'u', credential: 'c' }];
const CAP = 10;
const r = useApp(test, { sip: { realm: REALM }, webCalls: { iceServers: ICE, tenantMaxIdentities: CAP } });

let tenant: SeededTenant;
let headers: Record<string, string>;
const ids = { agent: '', inactive: '', number: '', bare: '', otherAgent: '' };

test.before(async () => {
  await r.ready;
  tenant = await seedTenant(r.app);
  // A key whose rate limit the property cannot reach: its 429s are the cap's.
  headers = { 'x-api-key': mintKey(r.app, tenant.tenantId, { rateLimit: 1_000_000 }) };
  const make = async (path: string, body: unknown, h = headers) => {
    const res = await r.req<{ id: string }>('POST', path, { headers: h, body });
    if (res.status !== 201) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.id;
  };
  ids.agent = await make('/api/v1/agents', { name: 'Greeter', config: { prompt: { system: 'Greet.' } } });
  ids.inactive = await make('/api/v1/agents', { name: 'Off', status: 'inactive', config: { prompt: { system: 'Off.' } } });
  ids.number = await make('/api/v1/phone-numbers', { number: '+15551234567', agentId: ids.agent });
  ids.bare = await make('/api/v1/phone-numbers', { number: '+15557654321' });
  const other = await seedTenant(r.app);
  ids.otherAgent = await make('/api/v1/agents', { name: 'Theirs', config: { prompt: { system: 'No.' } } }, other.headers);
});

interface WebCall {
  websocketUrl: string;
  sip: { uri: string; username: string; password: string; realm: string; expiresAt: string };
  target: string;
  iceServers: unknown[];
}

const issue = (body: unknown, h = headers) => r.req<WebCall>('POST', '/api/v1/calls/web', { headers: h, body });

test.serial('201: the WebSocket URL of the Host asked, an identity in the tenant domain, the agent target, the ICE servers', async (t) => {
  const before = Date.now();
  const res = await issue({ agentId: ids.agent });
  t.is(res.status, 201, JSON.stringify(res.body));
  const domain = `${tenant.tenantId}.live`;
  const { sip } = res.body;
  t.is(res.body.websocketUrl, `ws://127.0.0.1:${r.app.http.port}/sip`);
  t.regex(sip.username, /^web-[0-9a-f]{20}$/);
  t.is(sip.uri, `sip:${sip.username}@${domain}`);
  t.true(sip.password.length >= 24, 'a long random password');
  t.is(sip.realm, REALM);
  const ttl = Date.parse(sip.expiresAt) - before;
  t.true(ttl >= 599_000 && ttl <= 601_000 + 2000, `default ttl ${ttl} ms`);
  t.is(res.body.target, `sip:agent-${ids.agent}@${domain}`);
  t.deepEqual(res.body.iceServers, ICE);
  t.deepEqual(Object.keys(res.body).sort(), ['iceServers', 'sip', 'target', 'websocketUrl']);

  // A number: its own URI; a ttl of one's own.
  const byNumber = await issue({ phoneNumberId: ids.number, ttlSeconds: 60 });
  t.is(byNumber.status, 201);
  t.is(byNumber.body.target, `sip:+15551234567@${domain}`);
  t.true(Math.abs(Date.parse(byNumber.body.sip.expiresAt) - Date.now() - 60_000) < 3000);
  t.not(byNumber.body.sip.username, sip.username);
  // A test key: the test domain, where the live agent does not exist.
  const testKey = { 'x-api-key': mintKey(r.app, tenant.tenantId, { mode: 'test' }) };
  const testAgent = await r.req<{ id: string }>('POST', '/api/v1/agents', { headers: testKey, body: { name: 'T', config: { prompt: { system: 'T' } } } });
  const inTest = await issue({ agentId: testAgent.body.id }, testKey);
  t.is(inTest.status, 201);
  t.regex(inTest.body.sip.uri, new RegExp(`@${tenant.tenantId}\\.test$`));
  t.is((await issue({ agentId: ids.agent }, testKey)).status, 422);
});

test.serial('the WebSocket URL follows the Host the request came to; a Host unfit for a URL falls back to the listener', async (t) => {
  const post = (host: string) =>
    new Promise<{ status: number; body: WebCall }>((resolve, reject) => {
      const body = JSON.stringify({ agentId: ids.agent });
      const req = http.request({ host: '127.0.0.1', port: r.app.http.port, method: 'POST', path: '/api/v1/calls/web', headers: { ...headers, host, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as WebCall }));
      });
      req.on('error', reject);
      req.end(body);
    });
  t.is((await post('voice.example.com:8443')).body.websocketUrl, 'ws://voice.example.com:8443/sip');
  t.is((await post('[::1]:9000')).body.websocketUrl, 'ws://[::1]:9000/sip');
  t.is((await post('evil.example/x?y')).body.websocketUrl, `ws://127.0.0.1:${r.app.http.port}/sip`);
});

test.serial('refusals: neither or both ids, unknown, another tenant’s, inactive, a number without agent, ttl out of range, unknown fields', async (t) => {
  const cases: [unknown, string, string][] = [
    [{}, 'agentId', 'Give exactly one of agentId and phoneNumberId'],
    [{ agentId: ids.agent, phoneNumberId: ids.number }, 'phoneNumberId', 'Give exactly one of agentId and phoneNumberId'],
    [{ agentId: '3f2b8c1e-5d4a-4c6b-9e7f-0a1b2c3d4e5f' }, 'agentId', 'No such agent'],
    [{ agentId: ids.otherAgent }, 'agentId', 'No such agent'],
    [{ agentId: ids.inactive }, 'agentId', 'The agent is inactive'],
    [{ phoneNumberId: ids.bare }, 'phoneNumberId', 'The phone number has no agent'],
    [{ phoneNumberId: ids.agent }, 'phoneNumberId', 'No such phone number'],
  ];
  for (const [body, field, message] of cases) {
    const res = await issue(body);
    t.is(res.status, 422, JSON.stringify(body));
    t.deepEqual(res.body, { error: { code: 'validation_error', message: 'Invalid request body', details: [{ field, message }] } } as unknown, JSON.stringify(body));
  }
  for (const body of [{ agentId: ids.agent, ttlSeconds: 59 }, { agentId: ids.agent, ttlSeconds: 3601 }, { agentId: ids.agent, ttlSeconds: 90.5 }, { agentId: ids.agent, extra: 1 }, { agentId: 'not-a-uuid' }]) {
    const res = await issue(body);
    t.is(res.status, 422, JSON.stringify(body));
  }
  // A viewer may not place calls.
  const viewer = { 'x-api-key': mintKey(r.app, tenant.tenantId, { role: 'viewer' }) };
  t.is((await issue({ agentId: ids.agent }, viewer)).status, 403);
  t.is((await r.req('POST', '/api/v1/calls/web', { body: { agentId: ids.agent } })).status, 401);
});

test.serial('a web identity registers over the WebSocket with its digest; a wrong password is 403', async (t) => {
  const res = await issue({ agentId: ids.agent });
  const { sip } = res.body;
  const domain = sip.uri.split('@')[1]!;
  const c = await connectSipWs(res.body.websocketUrl);
  t.teardown(() => c.close());
  const ok = await registerOverWs(c, { user: sip.username, password: sip.password, domain, realm: sip.realm, callId: 'web-reg@test', cseq: 1, contacts: [`<sip:${sip.username}@x.invalid;transport=ws>`], expires: '60' });
  t.is(ok.status, 200);
  t.is(r.app.engine.registrar.registrationsOf(sip.uri).length, 1);
  const bad = await registerOverWs(c, { user: sip.username, password: `${sip.password}x`, domain, realm: sip.realm, callId: 'web-bad@test', cseq: 1, contacts: [`<sip:${sip.username}@x.invalid;transport=ws>`] });
  t.is(bad.status, 403);
  // The identity is of its tenant's domain only: another domain's AOR with the same name is unknown.
  const other = await registerOverWs(c, { user: sip.username, password: sip.password, domain: `${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}.live`, realm: sip.realm, callId: 'web-other@test', cseq: 1, contacts: [`<sip:${sip.username}@x.invalid;transport=ws>`] });
  t.is(other.status, 403);
});

test.serial(`a tenant holds at most ${CAP} identities: then 429 with Retry-After, and other tenants are not affected`, async (t) => {
  const capped = await seedTenant(r.app);
  const h = { 'x-api-key': mintKey(r.app, capped.tenantId, { rateLimit: 1_000_000 }) };
  const agent = await r.req<{ id: string }>('POST', '/api/v1/agents', { headers: h, body: { name: 'A', config: { prompt: { system: 'A' } } } });
  for (let i = 0; i < CAP; i++) t.is((await issue({ agentId: agent.body.id, ttlSeconds: 120 }, h)).status, 201);
  const over = await issue({ agentId: agent.body.id }, h);
  t.is(over.status, 429);
  t.is((over.body as unknown as { error: { code: string } }).error.code, 'rate_limit_exceeded');
  const retry = Number(over.headers.get('retry-after'));
  t.true(retry >= 110 && retry <= 120, `Retry-After ${retry}`);
  t.is(r.app.engine.webIdentities.countOf(capped.tenantId), CAP);
  t.is((await issue({ agentId: ids.agent })).status, 201, 'another tenant still gets one');
});

const RUNS = 150;
test.serial(`property: any body gets a documented status, never a 5xx (${RUNS} cases)`, async (t) => {
  const doc = (await r.req<OpenApiDoc>('GET', '/openapi.json')).body;
  const op = doc.paths['/api/v1/calls/web']!.post!;
  const documented = new Set(Object.keys(op.responses));
  const schema = doc.components.schemas.WebCallCreate!;
  // A tenant whose cap the property cannot reach in its run (identities pile up).
  const prop = await seedTenant(r.app);
  const h = { 'x-api-key': mintKey(r.app, prop.tenantId, { rateLimit: 1_000_000 }) };
  const agent = await r.req<{ id: string }>('POST', '/api/v1/agents', { headers: h, body: { name: 'P', config: { prompt: { system: 'P' } } } });
  const examples = [{ agentId: agent.body.id }, { agentId: agent.body.id, ttlSeconds: 3600 }, { agentId: ids.agent }, { phoneNumberId: ids.number }];
  const seen = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(bodyBytes(doc, schema, examples), async (body) => {
      const res = await fetch(`${r.base}/api/v1/calls/web`, { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: body.bytes });
      const text = await res.text();
      seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
      if (res.status >= 500 || !documented.has(String(res.status))) throw new Error(`${res.status}: ${text.slice(0, 200)}`);
      if (res.status === 201) {
        const b = JSON.parse(text) as WebCall;
        if (b.target !== `sip:agent-${agent.body.id}@${prop.tenantId}.live`) throw new Error(`201 with target ${b.target}`);
      }
    }),
    { numRuns: RUNS },
  );
  t.log(`statuses over ${RUNS} bodies: ${[...seen].map(([s, n]) => `${s}×${n}`).join(', ')}`);
  t.true((seen.get(201) ?? 0) > 0 && (seen.get(422) ?? 0) > 0, 'both accepted and refused bodies were tried');
});
