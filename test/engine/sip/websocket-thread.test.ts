/**
 * SIP over WebSocket with the SIP server in its worker thread (`sip.server = thread`): the
 * sockets stay on the engine's loop and their messages cross to the thread's transport.
 */
import test from 'ava';
import { useApp } from '../../helpers/app.js';
import { connectSipWs, wsRequest } from '../../helpers/sip-ws-client.js';

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
