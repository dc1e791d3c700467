/**
 * Server transactions (RFC 3261 §17.2), CANCEL (§9.2) and the UAS core's 2xx retransmission
 * (§13.3.1.4), over real UDP on loopback. A raw socket plays the client and sends exactly what
 * each test says, retransmissions and duplicates included.
 */
import test from 'ava';
import type { SipRequest } from '../../../engine/sip/message/message.js';
import type { SipStack } from '../../../engine/sip/sip-stack.js';
import { ServerInviteTransaction } from '../../../engine/sip/transaction/server-invite-transaction.js';
import type { ServerTransaction } from '../../../engine/sip/transaction/transaction-layer.js';
import { TransactionStateError } from '../../../engine/sip/transaction/transaction.js';
import { asResponse, isResponse, UdpPeer } from '../../helpers/sip-peer.js';
import { portOf, startStack } from '../../helpers/sip-stack.js';
import { requestText } from '../../helpers/sip-text.js';
import { assertRetransmissions, doublingGaps, sleep } from '../../helpers/timing.js';

// The tests that time retransmission schedules run serially, before the rest: the peer stamps an
// arrival when this process's event loop gets to it, and the file's concurrent tests share that
// loop (a 30 ms stretch of theirs once stamped both 2xx schedules' first 200 late at once).

interface Seen {
  req: SipRequest;
  tx: ServerTransaction | null;
}

/** Records every request the application layer sees. */
function recordRequests(stack: SipStack): Seen[] {
  const seen: Seen[] = [];
  stack.on('request', (req, tx) => seen.push({ req, tx }));
  return seen;
}

async function setup(t: import('ava').ExecutionContext, overrides: Parameters<typeof startStack>[0] = {}) {
  const stack = await startStack(overrides);
  const peer = await UdpPeer.open();
  t.teardown(() => Promise.all([stack.close(), peer.close()]));
  const seen = recordRequests(stack);
  const send = (text: string) => peer.send(text, portOf(stack));
  return { stack, peer, seen, send };
}

const invite = (peerPort: number, branch: string, extra: Partial<Parameters<typeof requestText>[0]> = {}) =>
  requestText({ method: 'INVITE', branch, callId: `call-${branch}`, viaPort: peerPort, ...extra });

test.serial('INVITE rejected over UDP: Timer G doubles up to T2, Timer H reports the missing ACK at 64*T1', async (t) => {
  const { stack, peer, seen, send } = await setup(t, { timers: { t1: 100, t2: 400, t4: 500 } });
  stack.on('request', (req, tx) => tx && void stack.respond(tx, stack.createResponse(req, 486)));
  // Before the INVITE: the 486, and Timer H with it, go out as the request arrives, before
  // waitForTx's 5 ms poll sees it (a reference taken after that poll, late on a loaded machine,
  // would shorten the measured 64*T1).
  const t0 = performance.now();
  await send(invite(peer.port, 'z9hG4bKg1'));
  const tx = await waitForTx(seen);
  const timedOut = await new Promise<number>((resolve) => tx.on('timeout', () => resolve(performance.now())));
  await sleep(50);
  const busy = peer.all(isResponse(486));
  // 100, 200, 400, 400 ...: up to 17 retransmissions before 64*T1, fewer if lateness added up.
  assertRetransmissions(t, { t0, times: busy.map((a) => a.at), intervals: doublingGaps(100, 400, 6400), stoppedAt: timedOut });
  t.true(busy.every((a) => a.raw.equals(busy[0]!.raw)));
  t.true(timedOut - t0 >= 6400 - 30 && timedOut - t0 < 6400 + 300);
  t.is(tx.state, 'terminated');
  t.like(stack.stats(), { serverTransactions: 0, timers: 0 });
});

test('ACK stops Timer G; the transaction absorbs ACK retransmissions in Confirmed until Timer I', async (t) => {
  const { stack, peer, seen, send } = await setup(t);
  stack.on('request', (req, tx) => tx && void stack.respond(tx, stack.createResponse(req, 603)));
  await send(invite(peer.port, 'z9hG4bKg2'));
  const tx = await waitForTx(seen);
  const states: string[] = [];
  tx.on('statechange', (to) => states.push(to));
  await peer.waitFor(isResponse(603), 2); // the first retransmission (Timer G)
  const tag = asResponse(peer.all(isResponse(603))[0]!).toTag!;
  const ack = requestText({ method: 'ACK', branch: 'z9hG4bKg2', callId: 'call-z9hG4bKg2', viaPort: peer.port, toTag: tag, cseqMethod: 'ACK' });
  await send(ack);
  await sleep(30);
  t.is(tx.state, 'confirmed');
  await send(ack);
  const count = peer.all(isResponse(603)).length;
  await sleep(400);
  t.is(peer.all(isResponse(603)).length, count, 'no retransmission after the ACK');
  t.deepEqual(states, ['confirmed', 'terminated'], 'Timer I (T4) ended it');
  t.deepEqual(seen.map((s) => s.req.method), ['INVITE'], 'the ACKs of a non-2xx never reach the application');
  t.like(stack.stats(), { serverTransactions: 0, timers: 0 });
});

test('duplicates are absorbed: INVITE twice is one transaction, a retransmission gets the last provisional again', async (t) => {
  const { stack, peer, seen, send } = await setup(t);
  const text = invite(peer.port, 'z9hG4bKdup');
  await send(text);
  await send(text);
  const tx = await waitForTx(seen);
  await sleep(50);
  t.is(seen.length, 1);
  await stack.respond(tx, stack.createResponse(tx.request, 180));
  await send(text);
  const second = await peer.waitFor(isResponse(180), 2);
  t.true(second.raw.equals(peer.all(isResponse(180))[0]!.raw), 'the same 180, byte for byte');
  t.is(seen.length, 1);
  t.is(tx.absorbed, 2);
  await stack.respond(tx, stack.createResponse(tx.request, 486));
  await send(text);
  await peer.waitFor(isResponse(486), 3); // initial, one Timer G, one for the retransmitted INVITE at least
  t.is(seen.length, 1);
});

test('non-INVITE: retransmissions discarded in Trying, answered in Completed, and a new transaction after Timer J', async (t) => {
  const { stack, peer, seen, send } = await setup(t);
  const options = requestText({ method: 'OPTIONS', branch: 'z9hG4bKopt', callId: 'opt-1', viaPort: peer.port });
  await send(options);
  await send(options);
  const tx = await waitForTx(seen);
  await sleep(50);
  t.is(peer.received.length, 0, 'nothing answers a retransmission in Trying');
  t.is(seen.length, 1);
  const states: string[] = [];
  tx.on('statechange', (to) => states.push(to));
  await stack.respond(tx, stack.createResponse(tx.request, 200));
  await send(options);
  await peer.waitFor(isResponse(200), 2);
  t.true(peer.all(isResponse(200))[1]!.raw.equals(peer.all(isResponse(200))[0]!.raw));
  t.is(seen.length, 1);
  // Timer J = 64*T1 over UDP: after it, the same request is a new transaction.
  await sleep(64 * 50 + 200);
  t.deepEqual(states, ['completed', 'terminated']);
  await send(options);
  await waitForTx(seen, 2);
  t.is(seen.length, 2);
});

test('CANCEL: 200 to the CANCEL, 487 to the INVITE with the same To tag, the ACK absorbed; unknown CANCEL gets 481', async (t) => {
  const { stack, peer, seen, send } = await setup(t);
  const cancels: { invite: ServerInviteTransaction }[] = [];
  stack.on('cancel', (_req, inv) => cancels.push({ invite: inv }));
  await send(invite(peer.port, 'z9hG4bKc1'));
  const tx = await waitForTx(seen);
  await stack.respond(tx, stack.createResponse(tx.request, 180));
  const ringing = asResponse(await peer.waitFor(isResponse(180)));
  await send(requestText({ method: 'CANCEL', branch: 'z9hG4bKc1', callId: 'call-z9hG4bKc1', viaPort: peer.port }));
  const ok = asResponse(await peer.waitFor(isResponse(200, 'CANCEL')));
  const terminated = asResponse(await peer.waitFor(isResponse(487, 'INVITE')));
  t.is(ok.toTag, ringing.toTag);
  t.is(terminated.toTag, ringing.toTag);
  t.is(cancels.length, 1);
  t.is(cancels[0]!.invite, tx);
  t.true(tx.cancelled);
  await t.throwsAsync(stack.respond(tx, stack.createResponse(tx.request, 200)), { instanceOf: TransactionStateError });
  await send(requestText({ method: 'ACK', branch: 'z9hG4bKc1', callId: 'call-z9hG4bKc1', viaPort: peer.port, toTag: ringing.toTag!, cseqMethod: 'ACK' }));
  await sleep(50);
  t.is(tx.state, 'confirmed');
  t.deepEqual(seen.map((s) => s.req.method), ['INVITE']);
  await send(requestText({ method: 'CANCEL', branch: 'z9hG4bKnone', callId: 'nope', viaPort: peer.port }));
  await peer.waitFor(isResponse(481, 'CANCEL'));
  t.is(cancels.length, 1);
});

/**
 * T2 = 8*T1 (the RFC's own ratio) for the 2xx schedules: a first interval of 2*T1 shifts the
 * schedule by one doubling, and its gaps then differ from the right ones by up to T2/2, which
 * must exceed the slack a loaded machine is given (150 ms). With T2 = 4*T1 = 200 it did not.
 */
const TWO_XX = { timers: { t1: 50, t2: 400, t4: 250 } };

test.serial('2xx: retransmitted by the UAS core from T1 doubling to T2 until the ACK, which arrives as a request of its own', async (t) => {
  const { stack, peer, seen, send } = await setup(t, TWO_XX);
  await send(invite(peer.port, 'z9hG4bK2xx', { body: 'v=0\r\n', extra: ['Content-Type: application/sdp'] }));
  const tx = await waitForTx(seen);
  const ok = stack.createResponse(tx.request, 200);
  ok.body = Buffer.from('v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n');
  ok.headers.append('Content-Type', 'application/sdp');
  // Before the 2xx: its retransmission timer is armed as it goes out.
  const t0 = performance.now();
  await stack.respond(tx, ok);
  t.is(tx.state, 'terminated', 'the INVITE server transaction ends on 2xx (§17.2.1)');
  const sixth = asResponse(await peer.waitFor(isResponse(200), 6));
  t.truthy(sixth.headers.get('Contact'), 'the stack added our Contact');
  const tag = sixth.toTag!;
  const ack = requestText({ method: 'ACK', branch: 'z9hG4bKack2xx', callId: 'call-z9hG4bK2xx', viaPort: peer.port, toTag: tag, cseqMethod: 'ACK' });
  await send(ack);
  await send(ack);
  await sleep(500);
  const oks = peer.all(isResponse(200));
  // T1 = 50, T2 = 400: 50, 100, 200, 400, 400 ...
  assertRetransmissions(t, { t0, times: oks.slice(0, 6).map((a) => a.at), intervals: [50, 100, 200, 400, 400] });
  t.is(oks.length, 6, 'retransmissions stop at the ACK (the next was due T2 after the sixth)');
  const acks = seen.filter((s) => s.req.method === 'ACK');
  t.is(acks.length, 1, 'the ACK reaches the application once, the duplicate is dropped');
  t.is(acks[0]!.tx, null);
  t.is(stack.dialogs.size, 1);
  t.is(stack.dialogs.all()[0]!.state, 'confirmed');
  t.like(stack.stats(), { serverTransactions: 0, pending2xx: 0, timers: 0 });
  // A late retransmission of the INVITE is the same call, not a new one.
  await send(invite(peer.port, 'z9hG4bK2xx', { body: 'v=0\r\n', extra: ['Content-Type: application/sdp'] }));
  await sleep(100);
  t.is(seen.filter((s) => s.req.method === 'INVITE').length, 1);
});

test.serial('2xx never ACKed: ackTimeout after 64*T1, retransmissions capped at T2', async (t) => {
  const { stack, peer, seen, send } = await setup(t, TWO_XX);
  await send(invite(peer.port, 'z9hG4bKnoack'));
  const tx = await waitForTx(seen);
  const t0 = performance.now();
  const timeout = new Promise<number>((resolve) => stack.on('ackTimeout', () => resolve(performance.now())));
  await stack.respond(tx, stack.createResponse(tx.request, 200));
  const at = await timeout;
  t.true(at - t0 >= 64 * 50 - 30 && at - t0 < 64 * 50 + 300);
  await sleep(50); // a 2xx sent just before the timeout is read, not left in the socket buffer
  const oks = peer.all(isResponse(200));
  assertRetransmissions(t, { t0, times: oks.map((a) => a.at), intervals: doublingGaps(50, 400, 64 * 50), stoppedAt: at });
  t.like(stack.stats(), { pending2xx: 0, timers: 0 });
});

test('requests with an unknown To tag get 481; out-of-order CSeq in a dialog gets 500', async (t) => {
  const { stack, peer, seen, send } = await setup(t);
  await send(requestText({ method: 'BYE', branch: 'z9hG4bKbye0', callId: 'nodialog', viaPort: peer.port, toTag: 'unknown' }));
  await peer.waitFor(isResponse(481, 'BYE'));
  // Set up a dialog: INVITE, 200, ACK.
  await send(invite(peer.port, 'z9hG4bKd1', { cseq: 10 }));
  const tx = await waitForTx(seen);
  await stack.respond(tx, stack.createResponse(tx.request, 200));
  const tag = asResponse(await peer.waitFor(isResponse(200))).toTag!;
  await send(requestText({ method: 'ACK', branch: 'z9hG4bKd1a', callId: 'call-z9hG4bKd1', viaPort: peer.port, toTag: tag, cseq: 10, cseqMethod: 'ACK' }));
  await send(requestText({ method: 'INFO', branch: 'z9hG4bKd2', callId: 'call-z9hG4bKd1', viaPort: peer.port, toTag: tag, cseq: 9 }));
  const r = asResponse(await peer.waitFor(isResponse(500, 'INFO')));
  t.is(r.reason, 'Out of Order CSeq');
  await send(requestText({ method: 'BYE', branch: 'z9hG4bKd3', callId: 'call-z9hG4bKd1', viaPort: peer.port, toTag: tag, cseq: 11 }));
  const bye = await waitForSeen(seen, 'BYE');
  t.is(bye.tx!.request.method, 'BYE');
  t.is(stack.dialogs.matchRequest(bye.req)?.state, 'confirmed');
  await stack.respond(bye.tx!, stack.createResponse(bye.req, 200));
  t.is(stack.dialogs.size, 0, 'a 2xx to BYE ends the dialog');
});

test('without a request listener the stack answers 503 (as drachtio-server does with no app)', async (t) => {
  const stack = await startStack();
  const peer = await UdpPeer.open();
  t.teardown(() => Promise.all([stack.close(), peer.close()]));
  await peer.send(requestText({ method: 'OPTIONS', branch: 'z9hG4bK503', callId: 'x503', viaPort: peer.port }), portOf(stack));
  await peer.waitFor(isResponse(503, 'OPTIONS'));
  t.pass();
});

test('100 Trying: sent by the transaction after tryingMs when the layer above is silent, or at once on request', async (t) => {
  const { peer, seen, send } = await setup(t, { tryingMs: 200 });
  // Before the INVITE: the transaction's tryingMs starts when it arrives, before waitForTx's
  // 5 ms poll sees it (a reference taken after that poll, late on a loaded machine, would make
  // a 100 on time look early).
  const t0 = performance.now();
  await send(invite(peer.port, 'z9hG4bKtry'));
  const tx = await waitForTx(seen);
  const trying = await peer.waitFor(isResponse(100));
  t.true(trying.at - t0 >= 180, 'after ~200 ms (§17.2.1)');
  t.is(asResponse(trying).toTag, null, 'no To tag on 100');
  await send(invite(peer.port, 'z9hG4bKtry2'));
  const tx2 = await waitForTx(seen, 2);
  await tx2.sendTrying();
  await peer.waitFor((m) => m.kind === 'response' && m.status === 100 && m.callId === 'call-z9hG4bKtry2');
  t.is(peer.all(isResponse(100)).length, 2);
  void tx;
});

async function waitForTx(seen: Seen[], n = 1): Promise<ServerInviteTransaction & ServerTransaction> {
  const end = Date.now() + 5000;
  while (seen.filter((s) => s.tx).length < n) {
    if (Date.now() > end) throw new Error('no request');
    await sleep(5);
  }
  return seen.filter((s) => s.tx)[n - 1]!.tx as ServerInviteTransaction & ServerTransaction;
}

async function waitForSeen(seen: Seen[], method: string): Promise<Seen> {
  const end = Date.now() + 5000;
  for (;;) {
    const s = seen.find((x) => x.req.method === method);
    if (s) return s;
    if (Date.now() > end) throw new Error(`no ${method}`);
    await sleep(5);
  }
}

test('RFC 2543 peers (no magic cookie): retransmissions, the ACK of a non-2xx and CANCEL still match (§17.2.3)', async (t) => {
  const { stack, peer, seen, send } = await setup(t);
  const old = (method: string, cseqMethod = method, toTag?: string) =>
    requestText({ method, branch: 'ignored', callId: 'rfc2543', viaPort: peer.port, cseqMethod, ...(toTag ? { toTag } : {}) }).replace(/;branch=ignored/, '');
  await send(old('INVITE'));
  await send(old('INVITE'));
  const tx = await waitForTx(seen);
  await sleep(50);
  t.is(seen.length, 1, 'the retransmission matched by Request-URI, From tag, Call-ID, CSeq and Via');
  await stack.respond(tx, stack.createResponse(tx.request, 180));
  await send(old('CANCEL'));
  await peer.waitFor(isResponse(200, 'CANCEL'));
  const terminated = asResponse(await peer.waitFor(isResponse(487)));
  await send(old('ACK', 'ACK', terminated.toTag!));
  await sleep(50);
  t.is(tx.state, 'confirmed', 'the ACK matched the INVITE transaction by its To tag');
  t.deepEqual(seen.map((s) => s.req.method), ['INVITE']);
});

test('answerCancelledInvite off: the CANCEL is answered 200, the layer above sends the 487', async (t) => {
  const { stack, peer, seen, send } = await setup(t, { answerCancelledInvite: false });
  stack.on('cancel', (_req, inv) => void stack.respond(inv, stack.createResponse(inv.request, 487, 'Cancelled By App')));
  await send(invite(peer.port, 'z9hG4bKapp487'));
  const tx = await waitForTx(seen);
  await stack.respond(tx, stack.createResponse(tx.request, 183));
  await send(requestText({ method: 'CANCEL', branch: 'z9hG4bKapp487', callId: 'call-z9hG4bKapp487', viaPort: peer.port }));
  await peer.waitFor(isResponse(200, 'CANCEL'));
  const r = asResponse(await peer.waitFor(isResponse(487)));
  t.is(r.reason, 'Cancelled By App');
});

test('an INVITE without Contact is refused with 400 (§8.1.1.8), inside its transaction', async (t) => {
  const { peer, seen, send } = await setup(t);
  const text = invite(peer.port, 'z9hG4bKnocontact').replace(/Contact: [^\r]*\r\n/, '');
  await send(text);
  const r = asResponse(await peer.waitFor(isResponse(400)));
  t.is(r.reason, 'Missing Contact header');
  await send(text);
  await peer.waitFor(isResponse(400), 2);
  t.deepEqual(seen, [], 'the application never sees it');
});
