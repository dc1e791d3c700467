/**
 * SIP over WebSocket with the SIP server in its worker thread (`sip.server = thread`): the
 * sockets stay on the engine's loop and their messages cross to the thread's transport.
 */
import test from 'ava';
import { useApp } from '../../helpers/app.js';
import { connectSipWs, registerOverWs, wsRequest } from '../../helpers/sip-ws-client.js';
import { seedTenant } from '../../helpers/tenant.js';

const r = useApp(test, { sip: { host: '127.0.0.1', port: 0, drachtioPort: 0, server: 'thread' } });
const url = () => `ws://127.0.0.1:${r.app.http.port}/sip`;

test.before(() => r.ready);

test('thread mode: an OPTIONS is answered over the socket, garbage closes only its socket, an INVITE reaches call control', async (t) => {
  t.is(r.app.engine.sip, null, 'the stack runs in the thread');
  const c = await connectSipWs(url());
  c.send(wsRequest('OPTIONS', `sip:127.0.0.1:${r.app.http.port};transport=ws`, { branch: 'thr1', callId: 'thr-1@test' }));
  const res = await c.next((m) => m.kind === 'response' && m.callId === 'thr-1@test');
  t.is(res.kind === 'response' && res.status, 200);
  t.regex(res.headers.get('Via') ?? '', /^SIP\/2.0\/WS df7jal23ls0d\.invalid;branch=z9hG4bKthr1;.*received=127\.0\.0\.1/);

  const junk = await connectSipWs(url());
  junk.send('not SIP at all');
  t.is((await junk.closed).code, 1007);

  c.send(wsRequest('INVITE', 'sip:+15550001@127.0.0.1', { branch: 'thr2', callId: 'thr-2@test', headers: ['Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>'] }));
  const invite = await c.next((m) => m.kind === 'response' && m.callId === 'thr-2@test' && m.status >= 200);
  t.is(invite.kind === 'response' && invite.status, 403);
  const health = await r.req<{ components: { sip: { transports: { protocol: string; port: number }[] } } }>('GET', '/api/v1/health');
  t.deepEqual(
    health.body.components.sip.transports.find((x) => x.protocol === 'ws'),
    { protocol: 'ws', address: '127.0.0.1', port: r.app.http.port } as never,
  );
  c.close();
  await c.closed;
});

test('thread mode: a SIP user registers over the socket, is listed, and its binding goes when the socket closes', async (t) => {
  const tenant = await seedTenant(r.app);
  const domain = `${tenant.tenantId}.live`;
  const created = await r.req<{ id: string }>('POST', '/api/v1/sip-users', { headers: tenant.headers, body: { username: 'eve', password: 'eve-secret' } });
  t.is(created.status, 201);
  const c = await connectSipWs(url());
  const res = await registerOverWs(c, { user: 'eve', password: 'eve-secret', domain, realm: r.config.sip.realm, callId: 'thr-reg@test', cseq: 1, contacts: ['<sip:eve@evehost.invalid;transport=ws>'], expires: '120' });
  t.is(res.status, 200);
  const listed = () => r.req<{ items: { transport: string }[] }>('GET', `/api/v1/sip-users/${created.body.id}/registrations`, { headers: tenant.headers });
  t.like((await listed()).body.items, [{ transport: 'ws' }]);
  c.close();
  await c.closed;
  const end = Date.now() + 3000;
  while ((await listed()).body.items.length && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 20));
  t.deepEqual((await listed()).body.items, []);
});
