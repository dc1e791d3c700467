/**
 * The transport layer on real sockets (RFC 3261 §18, RFC 3581): received/rport, response
 * routing, stream framing on TCP, TLS, and what a hostile or broken peer can do (garbage, huge
 * headers, slowloris, bodies over the limit): 400 or dropped, and the stack keeps answering.
 */
import net from 'node:net';
import tls from 'node:tls';
import test from 'ava';
import { SipRequest } from '../../../engine/sip/message/message.js';
import { getParam } from '../../../engine/sip/message/params.js';
import { serialize } from '../../../engine/sip/message/serializer.js';
import type { Via } from '../../../engine/sip/message/via.js';
import type { SipStack } from '../../../engine/sip/sip-stack.js';
import { DEFAULT_LIMITS } from '../../../engine/sip/message/parser.js';
import { asResponse, isResponse, TcpPeer, UdpPeer } from '../../helpers/sip-peer.js';
import { capturingLogger, portOf, startStack } from '../../helpers/sip-stack.js';
import { requestText, sipText } from '../../helpers/sip-text.js';
import { TestUas } from '../../helpers/test-uas.js';
import { selfSignedCert } from '../../helpers/tls-cert.js';
import { sleep } from '../../helpers/timing.js';

async function uasStack(t: import('ava').ExecutionContext, overrides: Parameters<typeof startStack>[0] = {}) {
  const stack = await startStack(overrides);
  const uas = new TestUas(stack);
  const dropped: string[] = [];
  stack.transport.on('dropped', (reason) => dropped.push(reason));
  t.teardown(() => stack.close());
  return { stack, uas, dropped };
}

const options = (viaPort: number, branch: string, extra: Partial<Parameters<typeof requestText>[0]> = {}) =>
  requestText({ method: 'OPTIONS', branch, callId: `c-${branch}`, viaPort, ...extra });

/** The stack still answers a plain OPTIONS over UDP. */
async function stillAnswers(t: import('ava').ExecutionContext, stack: SipStack): Promise<void> {
  const p = await UdpPeer.open();
  await p.send(options(p.port, `z9hG4bKalive${Math.random().toString(36).slice(2)}`), portOf(stack));
  await p.waitFor(isResponse(200));
  await p.close();
  t.pass('still answering');
}

test('port 0: UDP and TCP share one ephemeral port; health is up, then down after close', async (t) => {
  const stack = await startStack();
  const [udp, tcp] = stack.listening();
  t.like(udp, { protocol: 'udp', address: '127.0.0.1' });
  t.like(tcp, { protocol: 'tcp', address: '127.0.0.1', port: udp!.port });
  t.true(udp!.port > 0);
  t.like(stack.health(), { status: 'up', transports: stack.listening() });
  await stack.close();
  await stack.close(); // idempotent
  t.like(stack.health(), { status: 'down', error: 'sip stack closed' });
});

test('RFC 3581: rport filled and received added; the response goes to received:rport, not to sent-by', async (t) => {
  const { stack } = await uasStack(t);
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  let via: Via | undefined;
  stack.on('request', (req) => (via = req.topVia));
  await peer.send(options(5099, 'z9hG4bKrport', { viaHost: 'client.invalid', rport: true }), portOf(stack));
  const res = asResponse(await peer.waitFor(isResponse(200)));
  t.is(getParam(via!.params, 'received'), '127.0.0.1');
  t.is(getParam(via!.params, 'rport'), String(peer.port));
  t.is(getParam(res.topVia.params, 'rport'), String(peer.port), 'the response carries the stamped Via');
});

test('§18.2.1: received added when sent-by differs from the source; the response goes to received:sent-by-port', async (t) => {
  const { stack } = await uasStack(t);
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  const vias: string[] = [];
  stack.on('request', (req) => vias.push(req.headers.getList('Via')[0]!));
  await peer.send(options(peer.port, 'z9hG4bKrecv', { viaHost: '192.0.2.1' }), portOf(stack));
  await peer.waitFor(isResponse(200));
  t.is(vias[0], `SIP/2.0/UDP 192.0.2.1:${peer.port};branch=z9hG4bKrecv;received=127.0.0.1`);
  // Same address, no rport: the Via is left exactly as sent.
  await peer.send(options(peer.port, 'z9hG4bKsame'), portOf(stack));
  await peer.waitFor(isResponse(200), 2);
  t.is(vias[1], `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bKsame`);
});

test('rport "always" (drachtio-server style) adds rport=<source port> to every request', async (t) => {
  const { stack } = await uasStack(t, { rport: 'always' });
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  await peer.send(options(peer.port, 'z9hG4bKalways'), portOf(stack));
  const res = asResponse(await peer.waitFor(isResponse(200)));
  t.is(res.headers.getList('Via')[0], `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bKalways;rport=${peer.port}`);
});

test('§18.1.2: a response whose top Via is not ours is dropped (RFC 4475 §3.3.10 bcast)', async (t) => {
  const { stack, dropped } = await uasStack(t);
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  const strays: unknown[] = [];
  stack.on('strayResponse', (r) => strays.push(r));
  await peer.send(
    sipText([
      'SIP/2.0 200 OK',
      'Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923',
      'Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23',
      'Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf',
      'CSeq: 35 INVITE',
      'From: sip:user@example.com;tag=11141343',
      'To: sip:user@example.edu;tag=2229',
      'Content-Length: 0',
    ]),
    portOf(stack),
  );
  await waitFor(() => dropped.length > 0);
  t.regex(dropped[0]!, /response for another sent-by/);
  t.deepEqual(strays, []);
});

test('malformed datagrams: garbage dropped, broken requests answered 400 with the reason, 505 for SIP/7.0, never for ACK', async (t) => {
  const { stack, dropped } = await uasStack(t, { limits: { ...DEFAULT_LIMITS, maxBodyBytes: 1000 } });
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  const port = portOf(stack);
  await peer.send(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x0d, 0x0a, 0x0d, 0x0a, 0xff]), port);
  await peer.send('\r\n\r\n', port);
  await peer.send(`OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bKhuge\r\nX-Big: ${'a'.repeat(60_000)}\r\n\r\n`, port);
  await waitFor(() => dropped.length >= 3);

  await peer.send(options(peer.port, 'z9hG4bKmm', { cseqMethod: 'INVITE' }), port);
  const mismatch = asResponse(await peer.waitFor(isResponse(400)));
  t.is(mismatch.reason, 'CSeq method INVITE does not match OPTIONS');
  t.truthy(mismatch.toTag);
  t.is(mismatch.callId, 'c-z9hG4bKmm');

  await peer.send(
    sipText(['INVITE sip:user@example.com SIP/2.0', 'CSeq: 193942 INVITE', `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bKkdj.insuf`, 'Content-Type: application/sdp', 'l: 0']),
    port,
  );
  const insuf = asResponse(await peer.waitFor(isResponse(400), 2));
  t.regex(insuf.reason, /^Missing From header$/);
  t.is(insuf.header('CSeq'), '193942 INVITE');

  await peer.send(options(peer.port, 'z9hG4bKv7').replace('SIP/2.0\r\n', 'SIP/7.0\r\n'), port);
  await peer.waitFor(isResponse(505));

  await peer.send(options(peer.port, 'z9hG4bKbig', { body: 'x'.repeat(2000) }), port);
  const big = asResponse(await peer.waitFor(isResponse(400), 3));
  t.regex(big.reason, /^Body of 2000 bytes larger than 1000$/);

  await peer.send(requestText({ method: 'ACK', branch: 'z9hG4bKbadack', callId: 'a', viaPort: peer.port, cseqMethod: 'INVITE' }), port);
  await peer.send(`INVITE  sip:a@b  SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bKsl\r\nCall-ID: x\r\n\r\n`, port);
  const sl = asResponse(await peer.waitFor(isResponse(400), 4));
  t.regex(sl.reason, /^Bad start line/);
  await sleep(100);
  t.is(peer.all(isResponse(400)).length, 4, 'the broken ACK got no answer');
  t.is(peer.unparsed.length, 0);
  await stillAnswers(t, stack);
});

test('TCP: several messages in one write, a message split across writes, CRLF keep-alive answered', async (t) => {
  const { stack } = await uasStack(t);
  const peer = await TcpPeer.connect(portOf(stack, 'tcp'));
  t.teardown(() => peer.close());
  const m = (b: string) => options(peer.localPort, b, { transport: 'TCP' });
  await peer.send(m('z9hG4bKt1') + m('z9hG4bKt2') + m('z9hG4bKt3'));
  await peer.waitFor(isResponse(200), 3);
  t.deepEqual(peer.all().map((a) => a.msg.callId), ['c-z9hG4bKt1', 'c-z9hG4bKt2', 'c-z9hG4bKt3']);
  const split = Buffer.from(m('z9hG4bKt4'));
  for (let i = 0; i < split.length; i += 37) {
    await peer.send(split.subarray(i, i + 37));
    await sleep(2);
  }
  await peer.waitFor(isResponse(200), 4);
  const before = peer.rawIn.length;
  await peer.send('\r\n\r\n');
  await waitFor(() => peer.rawIn.length === before + 2);
  t.is(peer.rawIn.subarray(before).toString(), '\r\n', 'RFC 5626 pong');
});

test('TCP: a missing Content-Length gets 400 and the connection is closed', async (t) => {
  const { stack } = await uasStack(t);
  const peer = await TcpPeer.connect(portOf(stack, 'tcp'));
  t.teardown(() => peer.close());
  await peer.send(options(peer.localPort, 'z9hG4bKnocl', { transport: 'TCP' }).replace('Content-Length: 0\r\n', ''));
  const res = asResponse(await peer.waitFor(isResponse(400)));
  t.regex(res.reason, /missing Content-Length/i);
  await withTimeout(peer.closed, 3000, 'connection not closed');
  t.is(stack.stats().connections, 0);
  await stillAnswers(t, stack);
});

test('TCP: slowloris (a message dribbled slower than partialMessageMs) is cut off; other peers are served meanwhile', async (t) => {
  const { stack } = await uasStack(t, { partialMessageMs: 400 });
  const slow = await TcpPeer.connect(portOf(stack, 'tcp'));
  t.teardown(() => slow.close());
  const text = options(slow.localPort, 'z9hG4bKslow', { transport: 'TCP' });
  const t0 = performance.now();
  let i = 0;
  const drip = setInterval(() => void slow.send(text.slice(i, ++i)).catch(() => undefined), 50);
  t.teardown(() => clearInterval(drip));
  await stillAnswers(t, stack);
  await withTimeout(slow.closed, 5000, 'slow connection not closed');
  clearInterval(drip);
  const took = performance.now() - t0;
  t.true(took >= 380 && took < 2000, `closed after ${took.toFixed(0)} ms`);
  t.is(slow.received.length, 0);
});

test('TCP: headers that never end, binary junk and a huge declared body close the connection', async (t) => {
  const { stack } = await uasStack(t, { partialMessageMs: 500 });
  const port = portOf(stack, 'tcp');
  const endless = await TcpPeer.connect(port);
  await endless.send(`OPTIONS sip:x SIP/2.0\r\nX-Endless: ${'z'.repeat(40_000)}`);
  await withTimeout(endless.closed, 3000, 'endless headers not cut');
  const junk = await TcpPeer.connect(port);
  let seed = 42;
  const bytes = Buffer.from(Array.from({ length: 70_000 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff));
  await junk.send(bytes).catch(() => undefined);
  await withTimeout(junk.closed, 3000, 'junk not cut');
  const big = await TcpPeer.connect(port);
  await big.send(options(big.localPort, 'z9hG4bKhugebody', { transport: 'TCP' }).replace('Content-Length: 0', 'Content-Length: 99999999'));
  const res = asResponse(await big.waitFor(isResponse(400)));
  t.regex(res.reason, /larger than/);
  await withTimeout(big.closed, 3000, 'big body not cut');
  await waitFor(() => stack.stats().connections === 0);
  await stillAnswers(t, stack);
});

test('TCP: idle connections are closed after connectionIdleMs', async (t) => {
  const { stack } = await uasStack(t, { connectionIdleMs: 300 });
  const peer = await TcpPeer.connect(portOf(stack, 'tcp'));
  // Measured from before the request: the 200's write restarts the idle timer, and on a loaded
  // machine the peer may read that 200 well after it was written.
  const t0 = performance.now();
  await peer.send(options(peer.localPort, 'z9hG4bKidle', { transport: 'TCP' }));
  await peer.waitFor(isResponse(200));
  t.is(stack.stats().connections, 1);
  await withTimeout(peer.closed, 3000, 'idle connection kept');
  t.true(performance.now() - t0 >= 295, 'closed before connectionIdleMs of quiet');
  t.is(stack.stats().connections, 0);
});

test('§18.2.2: when the request connection is gone, the response opens a new one to received / sent-by port', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const got: Buffer[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('data', (d: Buffer) => got.push(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const listenPort = (server.address() as net.AddressInfo).port;
  const pending = new Promise<Parameters<Parameters<SipStack['on']>[1]>>((resolve) => stack.on('request', (...args) => resolve(args as never)));
  const client = await TcpPeer.connect(portOf(stack, 'tcp'));
  await client.send(requestText({ method: 'INVITE', branch: 'z9hG4bKgone', callId: 'gone', viaPort: listenPort, transport: 'TCP' }));
  const [req, tx] = (await pending) as unknown as [SipRequest, import('../../../engine/sip/transaction/transaction-layer.js').ServerTransaction];
  client.close();
  await waitFor(() => stack.stats().connections === 0);
  await stack.respond(tx, stack.createResponse(req, 486));
  await waitFor(() => Buffer.concat(got).includes('SIP/2.0 486 Busy Here'));
  t.pass();
});

test('TLS: a listener with a certificate answers over TLS; a stack-to-stack sips: request verifies it', async (t) => {
  const pem = selfSignedCert();
  if (typeof pem === 'string') {
    t.log(`skipped: ${pem}`);
    t.pass();
    return;
  }
  const b = await startStack({ transports: ['udp', 'tcp', 'tls'], tlsPort: 0, tls: pem });
  const a = await startStack({ transports: ['udp', 'tls'], tlsPort: 0, tls: { ...pem, rejectUnauthorized: true } });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const uas = new TestUas(b);
  const tlsPort = portOf(b, 'tls');
  t.not(tlsPort, portOf(b, 'udp'));
  t.deepEqual(b.health().transports, b.listening());
  // A raw TLS client.
  const socket = tls.connect({ port: tlsPort, host: '127.0.0.1', ca: pem.ca, servername: 'localhost' });
  await new Promise<void>((r) => socket.once('secureConnect', () => r()));
  const answer = new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())));
  socket.write(options(socket.localPort!, 'z9hG4bKtls', { transport: 'TLS' }));
  t.regex(await answer, /^SIP\/2.0 200 OK\r\nVia: SIP\/2.0\/TLS /);
  socket.destroy();
  // Stack to stack over TLS with certificate verification.
  const tx = a.sendRequest(new SipRequest('OPTIONS', `sips:b@127.0.0.1:${tlsPort}`));
  const status = await new Promise<number>((resolve, reject) => {
    tx.on('response', (r) => resolve(r.status));
    tx.on('transportError', reject);
  });
  t.is(status, 200);
  t.is(tx.request.topVia.transport, 'TLS');
  t.is(tx.request.topVia.port, portOf(a, 'tls'));
  t.deepEqual(uas.ladder.filter((l) => l.startsWith('<-')), ['<- OPTIONS', '<- OPTIONS']);
});

test('a message too big for UDP is refused with a typed transport error (§18.1.1 simplified)', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  const req = new SipRequest('MESSAGE', `sip:x@127.0.0.1:${peer.port}`);
  req.body = Buffer.alloc(70_000, 0x61);
  const tx = stack.sendRequest(req);
  const err = await new Promise<Error>((resolve) => tx.on('transportError', resolve));
  t.regex(err.message, /does not fit in a UDP datagram/);
  t.true(serialize(req).length > 65_507);
});

test('fuzz: 600 mutated messages over UDP and TCP never break the stack (no error logged, still answering)', async (t) => {
  const { log, lines } = capturingLogger();
  const stack = await startStack({}, log);
  t.teardown(() => stack.close());
  new TestUas(stack);
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  const base = Buffer.from(requestText({ method: 'INVITE', branch: 'z9hG4bKfuzz', callId: 'fuzz', viaPort: peer.port, body: 'v=0\r\n', extra: ['Content-Type: application/sdp', 'Record-Route: <sip:p1.example.com;lr>'] }));
  let seed = 1234;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
  const mutate = (i: number): Buffer => {
    const b = Buffer.from(base);
    switch (i % 4) {
      case 0: // flip some bytes
        for (let k = 0; k < 1 + rnd(8); k++) b[rnd(b.length)] = rnd(256);
        return b;
      case 1: // cut it short
        return b.subarray(0, rnd(b.length));
      case 2: // replace one character with a SIP delimiter
        b[rnd(b.length)] = ' ;:,<>"\r\n'.charCodeAt(rnd(10));
        return Buffer.from(b.toString('latin1').replace('z9hG4bKfuzz', `z9hG4bKfuzz${i}`), 'latin1');
      default: // duplicate a slice into the middle
        return Buffer.concat([b.subarray(0, rnd(b.length)), b.subarray(rnd(b.length)), b.subarray(rnd(b.length))]);
    }
  };
  const tcp = await TcpPeer.connect(portOf(stack, 'tcp'));
  t.teardown(() => tcp.close());
  for (let i = 0; i < 600; i++) {
    const m = mutate(i);
    await peer.send(m, portOf(stack));
    if (i % 3 === 0 && !tcp.socket.destroyed) await tcp.send(m).catch(() => undefined);
  }
  await sleep(300);
  const statuses = new Set(peer.all((m) => m.kind === 'response').map((a) => (a.msg as import('../../../engine/sip/message/message.js').SipResponse).status));
  t.log(`statuses seen: ${[...statuses].sort().join(', ')}; ${peer.received.length} responses for 600 datagrams`);
  t.true(statuses.has(400) && statuses.has(180), 'the mutations reached both the 400 path and the application');
  await stillAnswers(t, stack);
  t.deepEqual(lines, [], 'nothing was logged at warn or above');
});

async function waitFor(f: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error('condition not met');
    await sleep(10);
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
