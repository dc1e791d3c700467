/**
 * Dialogs (RFC 3261 §12, §13.2.2.4, §13.3.1.4) between two real stacks and between the stack
 * and a raw UDP peer: creation on both sides, early dialogs, route sets (loose and strict),
 * in-dialog requests and their CSeq, the ACK for 2xx and its repetition, target refresh, BYE.
 */
import test from 'ava';
import { SipRequest, type SipResponse } from '../../../engine/sip/message/message.js';
import { formatUri } from '../../../engine/sip/message/uri.js';
import type { SipStack } from '../../../engine/sip/sip-stack.js';
import type { ClientTransaction } from '../../../engine/sip/transaction/transaction-layer.js';
import { asRequest, isRequest, isResponse, UdpPeer } from '../../helpers/sip-peer.js';
import { portOf, startStack } from '../../helpers/sip-stack.js';
import { requestText, responseText } from '../../helpers/sip-text.js';
import { TestUas } from '../../helpers/test-uas.js';
import { sleep } from '../../helpers/timing.js';

const responses = (tx: ClientTransaction) => {
  const out: SipResponse[] = [];
  tx.on('response', (r) => out.push(r));
  return out;
};

const final = (tx: ClientTransaction) =>
  new Promise<SipResponse>((resolve, reject) => {
    tx.on('response', (r) => r.status >= 200 && resolve(r));
    tx.on('timeout', () => reject(new Error('timeout')));
    tx.on('transportError', reject);
  });

async function pair(t: import('ava').ExecutionContext): Promise<{ a: SipStack; b: SipStack; uas: TestUas }> {
  const a = await startStack();
  const b = await startStack();
  t.teardown(() => Promise.all([a.close(), b.close()]));
  return { a, b, uas: new TestUas(b) };
}

for (const protocol of ['udp', 'tcp'] as const) {
  test(`a call between two stacks over ${protocol}: early and confirmed dialogs, ACK, INFO, BYE from the UAS`, async (t) => {
    const { a, b, uas } = await pair(t);
    const created: string[] = [];
    a.dialogs.on('created', (d) => created.push(`a:${d.state}`));
    b.dialogs.on('created', (d) => created.push(`b:${d.state}`));
    const uri = `sip:alice@127.0.0.1:${portOf(b, protocol)}${protocol === 'tcp' ? ';transport=tcp' : ''}`;
    const tx = a.sendRequest(new SipRequest('INVITE', uri));
    const seen = responses(tx);
    const ok = await final(tx);
    t.deepEqual(seen.map((r) => r.status), [100, 180, 200]);
    t.deepEqual(created, ['b:early', 'a:early'], 'the 180 with a To tag creates early dialogs on both sides');
    const [da] = a.dialogs.all();
    const [db] = b.dialogs.all();
    t.like(da!.toJSON(), { role: 'uac', state: 'confirmed', callId: ok.callId, localTag: ok.fromTag!, remoteTag: ok.toTag! });
    t.like(db!.toJSON(), { role: 'uas', state: 'confirmed', localTag: ok.toTag!, remoteTag: ok.fromTag! });
    t.is(formatUri(da!.remoteTarget), `sip:127.0.0.1:${portOf(b, protocol)}${protocol === 'tcp' ? ';transport=tcp' : ''}`, 'remote target = Contact of the 2xx');
    const inviteSeq = tx.request.cseq.seq;
    await a.ackInDialog(da!);
    await waitUntil(() => uas.ladder.includes('<- ACK'));
    t.is(b.stats().pending2xx, 0);
    // In-dialog request from the UAC: CSeq + 1.
    const info = a.requestInDialog(da!, 'INFO', { headers: [['Content-Type', 'application/dtmf-relay']], body: Buffer.from('Signal=5\r\nDuration=160\r\n') });
    t.is((await final(info)).status, 200);
    t.deepEqual(info.request.cseq, { seq: inviteSeq + 1, method: 'INFO' });
    t.is(info.request.toTag, ok.toTag);
    // Requests from the UAS side: From/To swapped, Request-URI = the caller's Contact.
    a.on('request', (req, stx) => stx && void a.respond(stx, a.createResponse(req, 200)));
    const refer = b.requestInDialog(db!, 'REFER', { headers: [['Refer-To', '<sip:carol@127.0.0.1>']] });
    t.is((await final(refer)).status, 200);
    t.is(refer.request.headers.get('Contact'), b.contact(protocol), 'REFER (a target refresh) carries our Contact');
    t.is(refer.request.headers.get('Refer-To'), '<sip:carol@127.0.0.1>');
    const bye = b.requestInDialog(db!, 'BYE');
    t.is(bye.request.cseq.seq, refer.request.cseq.seq + 1, 'CSeq counts up within the dialog');
    t.is((await final(bye)).status, 200);
    t.is(bye.request.fromTag, ok.toTag);
    t.is(bye.request.toTag, ok.fromTag);
    t.is(bye.request.uri, formatUri(parseContact(tx.request)));
    t.false(bye.request.headers.has('Contact'), 'BYE carries no Contact');
    t.is(a.dialogs.size, 0);
    t.is(b.dialogs.size, 0);
    t.deepEqual(uas.errors, []);
  });
}

function parseContact(req: SipRequest) {
  return req.contacts[0]!.uri;
}

test('an early dialog ends with a non-2xx final response, on both sides', async (t) => {
  const { a, b } = await pair(t);
  const tx = a.sendRequest(new SipRequest('INVITE', `sip:busy@127.0.0.1:${portOf(b)}`));
  const res = await final(tx);
  t.is(res.status, 486);
  await sleep(20);
  t.is(a.dialogs.size, 0);
  t.is(b.dialogs.size, 0);
});

test('route set from Record-Route: UAS keeps the order, UAC reverses it; loose routing puts the route in Route', async (t) => {
  const stack = await startStack();
  const peer = await UdpPeer.open();
  t.teardown(() => Promise.all([stack.close(), peer.close()]));
  const port = portOf(stack);
  stack.on('request', (req, tx) => tx && void stack.respond(tx, stack.createResponse(req, 200)));
  // UAS side: the peer's INVITE came through two proxies; the first one is the peer itself.
  await peer.send(
    requestText({ method: 'INVITE', branch: 'z9hG4bKrr1', callId: 'rr-uas', viaPort: peer.port, extra: [`Record-Route: <sip:127.0.0.1:${peer.port};lr>, <sip:p2.example.com;lr>`] }),
    port,
  );
  const okUas = await peer.waitFor(isResponse(200));
  t.deepEqual(okUas.msg.headers.getList('Record-Route'), [`<sip:127.0.0.1:${peer.port};lr>`, '<sip:p2.example.com;lr>'], '§12.1.1: the 2xx copies Record-Route in order');
  const uasDialog = stack.dialogs.all()[0]!;
  const bye = stack.requestInDialog(uasDialog, 'BYE');
  const byeAt = asRequest(await peer.waitFor(isRequest('BYE')));
  t.is(byeAt.uri, `sip:peer@127.0.0.1:${peer.port}`, 'Request-URI = remote target');
  t.deepEqual(byeAt.headers.getList('Route'), [`<sip:127.0.0.1:${peer.port};lr>`, '<sip:p2.example.com;lr>']);
  await peer.send(responseText(byeAt, 200, 'OK'), port);
  t.is((await final(bye)).status, 200);

  // UAC side: the 200 lists the proxies nearest the callee first; the route set reverses them.
  const tx = stack.sendRequest(new SipRequest('INVITE', `sip:callee@127.0.0.1:${peer.port}`));
  const inv = asRequest(await peer.waitFor(isRequest('INVITE')));
  await peer.send(
    responseText(inv, 200, 'OK', {
      toTag: 'callee-tag',
      extra: ['Contact: <sip:callee@192.0.2.77:5070>', `Record-Route: <sip:p2.example.com;lr>, <sip:127.0.0.1:${peer.port};lr>`],
    }),
    port,
  );
  await final(tx);
  const uac = stack.dialogs.all().find((d) => d.role === 'uac')!;
  await stack.ackInDialog(uac);
  const ack = asRequest(await peer.waitFor(isRequest('ACK')));
  t.is(ack.uri, 'sip:callee@192.0.2.77:5070');
  t.deepEqual(ack.headers.getList('Route'), [`<sip:127.0.0.1:${peer.port};lr>`, '<sip:p2.example.com;lr>']);
  t.deepEqual(ack.cseq, { seq: inv.cseq.seq, method: 'ACK' });
  t.not(ack.topVia.params.find((p) => p.name === 'branch')!.value, inv.topVia.params.find((p) => p.name === 'branch')!.value, 'the ACK for 2xx has its own branch');
});

test('strict routing: a route without lr goes in the Request-URI, the remote target last in Route', async (t) => {
  const stack = await startStack();
  const peer = await UdpPeer.open();
  t.teardown(() => Promise.all([stack.close(), peer.close()]));
  stack.on('request', (req, tx) => tx && void stack.respond(tx, stack.createResponse(req, 200)));
  await peer.send(
    requestText({ method: 'INVITE', branch: 'z9hG4bKsr', callId: 'strict', viaPort: peer.port, extra: [`Record-Route: <sip:127.0.0.1:${peer.port}>, <sip:p2.example.com;lr>`] }),
    portOf(stack),
  );
  await peer.waitFor(isResponse(200));
  stack.requestInDialog(stack.dialogs.all()[0]!, 'BYE');
  const bye = asRequest(await peer.waitFor(isRequest('BYE')));
  t.is(bye.uri, `sip:127.0.0.1:${peer.port}`);
  t.deepEqual(bye.headers.getList('Route'), ['<sip:p2.example.com;lr>', `<sip:peer@127.0.0.1:${peer.port}>`]);
});

test('a retransmitted 2xx gets the same ACK again (§13.2.2.4), and never reaches the TU twice', async (t) => {
  const stack = await startStack();
  const peer = await UdpPeer.open();
  t.teardown(() => Promise.all([stack.close(), peer.close()]));
  const strays: SipResponse[] = [];
  stack.on('strayResponse', (r) => strays.push(r));
  const tx = stack.sendRequest(new SipRequest('INVITE', `sip:callee@127.0.0.1:${peer.port}`));
  const seen = responses(tx);
  const inv = asRequest(await peer.waitFor(isRequest('INVITE')));
  const ok = responseText(inv, 200, 'OK', { toTag: 't2xx', extra: [`Contact: <sip:callee@127.0.0.1:${peer.port}>`] });
  await peer.send(ok, portOf(stack));
  await final(tx);
  await stack.ackInDialog(stack.dialogs.all()[0]!);
  const first = await peer.waitFor(isRequest('ACK'));
  await peer.send(ok, portOf(stack));
  const again = await peer.waitFor(isRequest('ACK'), 2);
  t.true(again.raw.equals(first.raw), 'byte-identical ACK');
  t.deepEqual(seen.map((r) => r.status), [200]);
  t.deepEqual(strays, []);
});

test('re-INVITE refreshes the remote target (§12.2.2) and its 2xx waits for its own ACK', async (t) => {
  const stack = await startStack();
  const peer = await UdpPeer.open();
  t.teardown(() => Promise.all([stack.close(), peer.close()]));
  const port = portOf(stack);
  stack.on('request', (req, tx) => tx && void stack.respond(tx, stack.createResponse(req, 200)));
  await peer.send(requestText({ method: 'INVITE', branch: 'z9hG4bKri1', callId: 'reinv', viaPort: peer.port, cseq: 1 }), port);
  const tag = (await peer.waitFor(isResponse(200))).msg.toTag!;
  await peer.send(requestText({ method: 'ACK', branch: 'z9hG4bKri1a', callId: 'reinv', viaPort: peer.port, toTag: tag, cseq: 1, cseqMethod: 'ACK' }), port);
  const d = stack.dialogs.all()[0]!;
  t.is(formatUri(d.remoteTarget), `sip:peer@127.0.0.1:${peer.port}`);
  await peer.send(
    requestText({ method: 'INVITE', branch: 'z9hG4bKri2', callId: 'reinv', viaPort: peer.port, toTag: tag, cseq: 2, extra: [], viaHost: '127.0.0.1' }).replace(
      `Contact: <sip:peer@127.0.0.1:${peer.port}>`,
      'Contact: <sip:moved@127.0.0.1:5999>',
    ),
    port,
  );
  // The re-INVITE's own 200 (CSeq 2), not a retransmission of the first one.
  await peer.waitFor((m) => isResponse(200, 'INVITE')(m) && m.cseq.seq === 2);
  t.is(formatUri(d.remoteTarget), 'sip:moved@127.0.0.1:5999');
  t.is(d.remoteSeq, 2);
  t.is(stack.stats().pending2xx, 1);
  await peer.send(requestText({ method: 'ACK', branch: 'z9hG4bKri2a', callId: 'reinv', viaPort: peer.port, toTag: tag, cseq: 2, cseqMethod: 'ACK' }), port);
  await waitUntil(() => stack.stats().pending2xx === 0);
  t.pass();
});

async function waitUntil(f: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error('condition not met');
    await sleep(5);
  }
}
