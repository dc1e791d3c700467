/**
 * SIP over WebSocket (RFC 7118) on the engine's HTTP port: the upgrade (subprotocol `sip`),
 * requests answered on their connection with received stamped in the Via, keep-alives, and the
 * bounds: garbage, oversized messages and too many connections close only their own socket.
 */
import test from 'ava';
import { SipRequest } from '../../../engine/sip/message/message.js';
import { useApp } from '../../helpers/app.js';
import { connectSipWs, wsRequest } from '../../helpers/sip-ws-client.js';

const MAX_CONNECTIONS = 4;
const MAX_MESSAGE = 4096;
const r = useApp(test, { sip: { host: '127.0.0.1', port: 0, drachtioPort: 0, wsMaxConnections: MAX_CONNECTIONS, wsMaxMessageBytes: MAX_MESSAGE } });
const url = () => `ws://127.0.0.1:${r.app.http.port}/sip`;
let n = 0;
const ids = () => ({ branch: `ws${++n}x${Date.now()}`, callId: `ws-${n}-${Date.now()}@test` });

test.before(() => r.ready);

test.serial('an OPTIONS over WebSocket is answered on its connection, its Via stamped with received (RFC 7118 §5, RFC 3261 §18.2.1)', async (t) => {
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

test.serial('an upgrade without the sip subprotocol is refused (RFC 7118 §4.1)', async (t) => {
  const none = await t.throwsAsync(connectSipWs(url(), []));
  t.regex(none.message, /upgrade refused: 400/);
  const other = await t.throwsAsync(connectSipWs(url(), ['chat']));
  t.regex(other.message, /upgrade refused: 400/);
  t.is(r.app.sipWebSocket!.connections(), 0);
});

test.serial('a CRLF keep-alive is answered with CRLF (RFC 5626 §4.4.1 as SIP.js sends it)', async (t) => {
  const c = await connectSipWs(url());
  c.send('\r\n\r\n');
  await waitFor(() => c.received.length > 0);
  t.deepEqual(c.received, ['\r\n']);
  c.close();
  await c.closed;
});

test.serial('garbage closes only its own connection (1007), and is logged; the next socket still gets answers', async (t) => {
  const bystander = await connectSipWs(url());
  for (const junk of ['hello, I am not SIP', Buffer.from([0xff, 0x00, 0xfe, 0x13, 0x37]), 'SIP/2.0 200 OK\r\n\r\n']) {
    const c = await connectSipWs(url());
    c.send(junk);
    const closed = await c.closed;
    t.is(closed.code, 1007, `closed for ${JSON.stringify(junk.toString())}`);
  }
  await options(t, bystander);
  bystander.close();
});

test.serial('a request that parses but is broken is answered 400 and its connection stays open (RFC 3261 §21.4.1)', async (t) => {
  const c = await connectSipWs(url());
  const id = ids();
  // No CSeq: the parser knows it is a request, with a Via to answer by.
  c.send(wsRequest('OPTIONS', 'sip:agent@127.0.0.1', id).replace(/CSeq: [^\r]*\r\n/, ''));
  const res = await c.next((m) => m.kind === 'response');
  t.is(res.kind === 'response' && res.status, 400);
  await options(t, c);
  c.close();
});

test.serial(`a message over wsMaxMessageBytes (${MAX_MESSAGE}) closes its connection`, async (t) => {
  const c = await connectSipWs(url());
  const id = ids();
  c.send(wsRequest('OPTIONS', 'sip:agent@127.0.0.1', { ...id, headers: [`X-Pad: ${'a'.repeat(MAX_MESSAGE)}`] }));
  const closed = await c.closed;
  // uWebSockets.js drops the connection without a close frame: the client sees 1006.
  t.is(closed.code, 1006);
  const next = await connectSipWs(url());
  await options(t, next);
  next.close();
});

test.serial(`past wsMaxConnections (${MAX_CONNECTIONS}) an upgrade gets 503; a closed socket frees its place`, async (t) => {
  await waitFor(() => r.app.sipWebSocket!.connections() === 0);
  const open = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => connectSipWs(url())));
  t.is(r.app.sipWebSocket!.connections(), MAX_CONNECTIONS);
  const refused = await t.throwsAsync(connectSipWs(url()));
  t.regex(refused.message, /upgrade refused: 503/);
  open[0]!.close();
  await open[0]!.closed;
  await waitFor(() => r.app.sipWebSocket!.connections() === MAX_CONNECTIONS - 1);
  const again = await connectSipWs(url());
  await options(t, again);
  for (const c of [again, ...open.slice(1)]) c.close();
  await Promise.all([again, ...open].map((c) => c.closed));
  await waitFor(() => r.app.engine.sip!.stack.transport.transport('ws')!.connectionCount() === 0);
  t.pass();
});

test.serial('an INVITE over WebSocket reaches call control (drachtio-srf), whose answer comes back on the socket; the ACK is absorbed and the socket stays usable', async (t) => {
  const c = await connectSipWs(url());
  const id = ids();
  const sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
  const uri = 'sip:+15550001@127.0.0.1';
  c.send(wsRequest('INVITE', uri, { ...id, headers: ['Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>', 'Content-Type: application/sdp'], body: sdp }));
  const res = await c.next((m) => m.kind === 'response' && m.callId === id.callId && m.status >= 200);
  if (res.kind !== 'response') return;
  t.log(res.startLine);
  // No trunk covers a WebSocket peer: call control refuses it as it would any unknown source
  // (not the 503 of an unrouted request, nor a stack-level error).
  t.is(res.status, 403);
  const to = res.headers.get('To')!;
  c.send(wsRequest('ACK', uri, id).replace(/^To: .*$/m, `To: ${to}`));
  await options(t, c);
  c.close();
});

test.serial('each socket is a flow with a stand-in port (rport): a request the engine sends to sip:<address>:<port>;transport=ws reaches that socket only', async (t) => {
  const [a, b] = [await connectSipWs(url()), await connectSipWs(url())];
  const ports: number[] = [];
  for (const c of [a, b]) {
    const id = ids();
    c.send(wsRequest('OPTIONS', `sip:127.0.0.1:${r.app.http.port};transport=ws`, id));
    const res = await c.next((m) => m.kind === 'response' && m.callId === id.callId);
    ports.push(Number(/;rport=(\d+)/.exec(res.headers.get('Via') ?? '')?.[1]));
  }
  t.true(ports.every((p) => p > 0) && ports[0] !== ports[1], `distinct stand-in ports ${ports.join(', ')}`);
  const tx = r.app.engine.sip!.stack.sendRequest(new SipRequest('OPTIONS', `sip:bob@127.0.0.1:${ports[1]};transport=ws`));
  const req = await b.next((m) => m.kind === 'request' && m.method === 'OPTIONS');
  t.regex(req.headers.get('Via') ?? '', new RegExp(`^SIP/2.0/WS 127\\.0\\.0\\.1:${r.app.http.port};`));
  b.send(`SIP/2.0 200 OK\r\n${req.headers.fields().filter((f) => /^(via|from|to|call-id|cseq)$/i.test(f.name)).map((f) => `${f.name}: ${f.value}`).join('\r\n')}\r\nContent-Length: 0\r\n\r\n`);
  const answer = await new Promise<number>((resolve) => tx.on('response', (res) => resolve(res.status)));
  t.is(answer, 200);
  t.false(a.received.some((m) => m.startsWith('OPTIONS ')), 'the other socket got nothing');
  a.close();
  b.close();
});

test.serial("a request to a WebSocket client's *.invalid Contact goes down the socket that named it (RFC 7118 §5): in-dialog requests reach browsers", async (t) => {
  const [a, b] = [await connectSipWs(url()), await connectSipWs(url())];
  for (const [c, host] of [[a, 'aaaa1111.invalid'], [b, 'bbbb2222.invalid']] as const) {
    const id = ids();
    c.send(wsRequest('OPTIONS', `sip:127.0.0.1:${r.app.http.port};transport=ws`, { ...id, headers: [`Contact: <sip:u@${host};transport=ws>`] }));
    await c.next((m) => m.kind === 'response' && m.callId === id.callId);
  }
  // Another socket naming a host already taken does not take it over.
  const thief = await connectSipWs(url());
  const id = ids();
  thief.send(wsRequest('OPTIONS', `sip:127.0.0.1:${r.app.http.port};transport=ws`, { ...id, headers: ['Contact: <sip:u@bbbb2222.invalid;transport=ws>'] }));
  await thief.next((m) => m.kind === 'response' && m.callId === id.callId);
  r.app.engine.sip!.stack.sendRequest(new SipRequest('OPTIONS', 'sip:u@bbbb2222.invalid;transport=ws'));
  const req = await b.next((m) => m.kind === 'request' && m.method === 'OPTIONS');
  t.is(req.kind === 'request' && req.uri, 'sip:u@bbbb2222.invalid;transport=ws');
  t.false([...a.received, ...thief.received].some((m) => m.startsWith('OPTIONS ')), 'only the socket that named the host got it');
  // Once its socket is gone, the host reaches nothing (no DNS for *.invalid).
  b.close();
  await b.closed;
  await waitFor(() => r.app.engine.sip!.stack.transport.transport('ws')!.connectionCount() === 2);
  const tx = r.app.engine.sip!.stack.sendRequest(new SipRequest('OPTIONS', 'sip:u@bbbb2222.invalid;transport=ws'));
  await new Promise<void>((resolve) => tx.on('transportError', () => resolve()));
  t.false(thief.received.some((m) => m.startsWith('OPTIONS ')));
  a.close();
  thief.close();
});

/** An OPTIONS on `c` and its final response. */
async function options(t: { true(v: boolean, m?: string): void }, c: Awaited<ReturnType<typeof connectSipWs>>): Promise<void> {
  const id = ids();
  c.send(wsRequest('OPTIONS', `sip:127.0.0.1:${r.app.http.port};transport=ws`, id));
  const res = await c.next((m) => m.kind === 'response' && m.callId === id.callId);
  t.true(res.kind === 'response' && res.status >= 200, 'answered');
}

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
