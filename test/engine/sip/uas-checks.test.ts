/**
 * What the stack answers by itself, one example per rule, on a real stack over loopback: the
 * §8.2.2 checks of the UAS core (416, 420, a broken Contact, the RFC 2543 INVITE without
 * Contact), transaction identity with a reused branch (§17.2.3), answers over the transport a
 * request came on (§18.2.2), and a 400 for a datagram without the empty line.
 */
import test from 'ava';
import type { SipRequest } from '../../../engine/sip/message/message.js';
import { asResponse, isResponse, TcpPeer, UdpPeer } from '../../helpers/sip-peer.js';
import { portOf, startStack } from '../../helpers/sip-stack.js';
import { requestText, sipText } from '../../helpers/sip-text.js';
import { sleep } from '../../helpers/timing.js';

/** A stack whose application answers every request it sees with 200, and the requests it saw. */
async function setup(t: import('ava').ExecutionContext) {
  const stack = await startStack();
  const peer = await UdpPeer.open();
  t.teardown(() => Promise.all([stack.close(), peer.close()]));
  const seen: SipRequest[] = [];
  stack.on('request', (req, tx) => {
    seen.push(req);
    if (tx) void stack.respond(tx, stack.createResponse(req, 200));
  });
  return { stack, peer, seen, send: (text: string) => peer.send(text, portOf(stack)) };
}

const options = (peerPort: number, branch: string, extra: Partial<Parameters<typeof requestText>[0]> = {}) =>
  requestText({ method: 'OPTIONS', branch, callId: `call-${branch}`, viaPort: peerPort, ...extra });

for (const uri of ['nobodyKnowsThisScheme:totallyopaquecontent', 'soap.beep://192.0.2.103:3002', 'http://example.com/']) {
  test(`§8.2.2.1: a Request-URI of another scheme (${uri.split(':')[0]}) gets 416 and never reaches the application`, async (t) => {
    const { peer, seen, send } = await setup(t);
    await send(options(peer.port, 'z9hG4bK416', { uri }));
    await peer.waitFor(isResponse(416));
    t.deepEqual(seen, []);
  });
}

test('§8.2.2.1: sip, sips and tel Request-URIs go on', async (t) => {
  const { peer, seen, send } = await setup(t);
  for (const [i, uri] of ['sip:a@127.0.0.1', 'SIPS:a@127.0.0.1', 'tel:+15550001111'].entries()) await send(options(peer.port, `z9hG4bKok${i}`, { uri }));
  await peer.waitFor(isResponse(200), 3);
  t.is(seen.length, 3);
});

test('§8.2.2.3: Require with tags we do not support gets 420 listing them; 100rel and timer are ours', async (t) => {
  const { peer, seen, send } = await setup(t);
  await send(options(peer.port, 'z9hG4bK420', { extra: ['Require: nothingSupportsThis, timer', 'Require: 100rel, alsoNot', 'Proxy-Require: noProxiesSupportThis'] }));
  const res = asResponse(await peer.waitFor(isResponse(420)));
  t.is(res.header('Unsupported'), 'nothingSupportsThis, alsoNot');
  await send(options(peer.port, 'z9hG4bK420ok', { extra: ['Require: timer, 100rel'] }));
  await peer.waitFor(isResponse(200));
  t.deepEqual(seen.map((r) => r.callId), ['call-z9hG4bK420ok']);
});

test('a Contact that breaks the grammar gets 400 before the application or a dialog reads it', async (t) => {
  const { peer, seen, send } = await setup(t);
  const text = requestText({ method: 'INVITE', branch: 'z9hG4bKct', callId: 'call-ct', viaPort: peer.port }).replace(/Contact: [^\r]*/, 'Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E');
  await send(text);
  const res = asResponse(await peer.waitFor(isResponse(400)));
  t.regex(res.reason, /must be enclosed in <>/);
  t.deepEqual(seen, []);
});

test('an INVITE without Contact: 400 from an RFC 3261 peer, taken from an RFC 2543 peer (its From is the remote target)', async (t) => {
  const { stack, peer, seen, send } = await setup(t);
  const noContact = (branch: string | null, callId: string) =>
    requestText({ method: 'INVITE', branch: branch ?? '', callId, viaPort: peer.port })
      .replace(/Contact: [^\r]*\r\n/, '')
      .replace(branch === null ? /;branch=/ : /^$/, '');
  await send(noContact('z9hG4bKnc', 'call-3261'));
  await peer.waitFor(isResponse(400));
  t.deepEqual(seen, []);
  await send(noContact(null, 'call-2543'));
  await peer.waitFor(isResponse(200));
  t.deepEqual(seen.map((r) => r.callId), ['call-2543']);
  const dialog = stack.dialogs.byCallId('call-2543')[0]!;
  t.like(dialog.remoteTarget, { kind: 'sip', user: 'peer', host: '127.0.0.1' });
});

test('§17.2.3: a request that reuses another request\'s branch for another Call-ID is a request of its own', async (t) => {
  const { peer, seen, send } = await setup(t);
  await send(options(peer.port, 'z9hG4bKsame', { callId: 'first' }));
  await peer.waitFor(isResponse(200));
  await send(options(peer.port, 'z9hG4bKsame', { callId: 'second' }));
  await peer.waitFor(isResponse(200), 2);
  t.deepEqual(peer.all(isResponse(200)).map((a) => a.msg.callId), ['first', 'second']);
  // A true retransmission (same everything) is still absorbed: the 200 is re-sent, the application sees nothing new.
  await send(options(peer.port, 'z9hG4bKsame', { callId: 'second' }));
  await peer.waitFor(isResponse(200), 3);
  t.deepEqual(seen.map((r) => r.callId), ['first', 'second']);
});

test('§18.2.2: a request over TCP whose Via names UDP (or an unknown transport) is answered on its connection', async (t) => {
  const { stack } = await setup(t);
  for (const transport of ['UDP', 'SCTP']) {
    const tcp = await TcpPeer.connect(portOf(stack, 'tcp'));
    t.teardown(() => tcp.close());
    await tcp.send(options(tcp.localPort, `z9hG4bKvia${transport}`).replace('SIP/2.0/UDP', `SIP/2.0/${transport}`));
    t.is(asResponse(await tcp.waitFor(isResponse(200), 1, 3000)).status, 200, transport);
  }
});

test('§18.2.2: a datagram whose Via names TCP is answered to its UDP source', async (t) => {
  const { peer, send } = await setup(t);
  await send(options(peer.port, 'z9hG4bKviatcp', { transport: 'TCP' }));
  t.is(asResponse(await peer.waitFor(isResponse(200), 1, 3000)).status, 200);
});

test('a datagram whose headers end without the empty line gets 400 (RFC 4475 baddn)', async (t) => {
  const { peer, seen, send } = await setup(t);
  await send(sipText(options(peer.port, 'z9hG4bKnoeol').split('\r\n\r\n')[0]!.split('\r\n')).slice(0, -2));
  const res = asResponse(await peer.waitFor(isResponse(400)));
  t.regex(res.reason, /empty line/i);
  await sleep(20);
  t.deepEqual(seen, []);
});

test('a Route that breaks the grammar gets 400 and its transaction ends (it used to throw, unanswered, and stay)', async (t) => {
  const { stack, peer, seen, send } = await setup(t);
  await send(options(peer.port, 'z9hG4bKroute', { extra: ['Route: =sip:127.0.0.1:5080>'] }));
  const res = asResponse(await peer.waitFor(isResponse(400)));
  t.regex(res.reason, /Route/);
  t.deepEqual(seen, []);
  // Timer J (64*T1 over UDP, T1 = 50 ms here) ends the transaction.
  await sleep(64 * 50 + 300);
  t.like(stack.stats(), { serverTransactions: 0 });
});

test('the same, with a proxy attached (the embedded drachtio server has one): the proxy check reads Route first', async (t) => {
  const { stack, peer, send } = await setup(t);
  stack.attachProxy({ claims: () => true, handle: () => t.fail('a request with a broken Route reached the proxy') });
  await send(options(peer.port, 'z9hG4bKroutep', { extra: ['Route: =sip:127.0.0.1:5080>'] }));
  t.is(asResponse(await peer.waitFor(isResponse(400))).status, 400);
});
