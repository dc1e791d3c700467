/**
 * Client transactions (RFC 3261 §17.1) over real UDP and TCP sockets on loopback. The far end is a
 * raw socket that answers (or stays silent) exactly as each test says, so every retransmission
 * and every absorbed duplicate is measured on the wire.
 */
import test from 'ava';
import { SipRequest } from '../../../engine/sip/message/message.js';
import { ClientInviteTransaction } from '../../../engine/sip/transaction/client-invite-transaction.js';
import { asRequest, isRequest, UdpPeer } from '../../helpers/sip-peer.js';
import { portOf, startStack } from '../../helpers/sip-stack.js';
import { responseText } from '../../helpers/sip-text.js';
import { assertRetransmissions, doublingGaps, sleep } from '../../helpers/timing.js';

/** T1 = 100 ms leaves 100 ms between the last retransmission (63*T1) and Timer B/F (64*T1). */
const SLOW = { t1: 100, t2: 400, t4: 500 };

test.serial('INVITE over UDP: Timer A doubles from T1 with no cap, Timer B ends it at 64*T1', async (t) => {
  const stack = await startStack({ timers: SLOW });
  const peer = await UdpPeer.open();
  t.teardown(() => Promise.all([stack.close(), peer.close()]));
  const t0 = performance.now();
  const tx = stack.sendRequest(new SipRequest('INVITE', `sip:silent@127.0.0.1:${peer.port}`));
  t.true(tx instanceof ClientInviteTransaction);
  const timedOut = await new Promise<number>((resolve) => tx.on('timeout', () => resolve(performance.now())));
  await sleep(50);
  const invites = peer.all(isRequest('INVITE'));
  // Up to 6 retransmissions at T1, 2T1, 4T1 ... 32T1 (the 7th would come at 127*T1 > 64*T1),
  // fewer if lateness added up past 64*T1.
  assertRetransmissions(t, { t0, times: invites.map((a) => a.at), intervals: doublingGaps(100, null, 6400), stoppedAt: timedOut });
  t.true(invites.every((a) => a.raw.equals(invites[0]!.raw)), 'retransmissions are byte-identical');
  t.true(invites[0]!.at - t0 < 100);
  t.true(timedOut - t0 >= 6400 - 5 && timedOut - t0 < 6400 + 300, `Timer B fired at ${(timedOut - t0).toFixed(0)} ms`);
  t.is(tx.state, 'terminated');
  t.like(stack.stats(), { clientTransactions: 0, timers: 0 });
});

test.serial('non-INVITE over UDP: Timer E doubles up to T2, Timer F ends it at 64*T1', async (t) => {
  const stack = await startStack({ timers: SLOW });
  const peer = await UdpPeer.open();
  t.teardown(() => Promise.all([stack.close(), peer.close()]));
  const t0 = performance.now();
  const tx = stack.sendRequest(new SipRequest('OPTIONS', `sip:silent@127.0.0.1:${peer.port}`));
  const timedOut = await new Promise<number>((resolve) => tx.on('timeout', () => resolve(performance.now())));
  await sleep(50);
  const sent = peer.all(isRequest('OPTIONS'));
  // Gaps 100, 200, 400, 400, ... : up to 17 retransmissions before 64*T1.
  assertRetransmissions(t, { t0, times: sent.map((a) => a.at), intervals: doublingGaps(100, 400, 6400), stoppedAt: timedOut });
  t.true(timedOut - t0 >= 6400 - 5 && timedOut - t0 < 6400 + 300);
  t.like(stack.stats(), { clientTransactions: 0, timers: 0 });
});

test.serial('non-INVITE: a provisional response resets Timer E to T2; a final one stops it; duplicates are absorbed', async (t) => {
  const stack = await startStack({ timers: { t1: 50, t2: 400, t4: 300 } });
  const peer = await UdpPeer.open();
  t.teardown(() => Promise.all([stack.close(), peer.close()]));
  const t0 = performance.now();
  const tx = stack.sendRequest(new SipRequest('OPTIONS', `sip:slow@127.0.0.1:${peer.port}`));
  const statuses: number[] = [];
  // Timer E firings before the 100 was handled, which the retransmission counter tells exactly:
  // those double (Trying), the ones after it are T2 (Proceeding). Normally none: the 100 goes
  // back as soon as the request arrives, well within T1.
  let inTrying = -1;
  tx.on('response', (res) => {
    statuses.push(res.status);
    if (res.status === 100) inTrying = tx.retransmissions;
  });
  const first = await peer.waitFor(isRequest('OPTIONS'));
  const req = asRequest(first);
  await peer.send(responseText(req, 100, 'Trying'), portOf(stack));
  // In Proceeding, Timer E fires at T1 (already set) and then every T2.
  await peer.waitFor(isRequest('OPTIONS'), 4);
  const ok = responseText(req, 200, 'OK', { toTag: 'uas1' });
  await peer.send(ok, portOf(stack));
  await peer.send(ok, portOf(stack));
  await sleep(600);
  const sent = peer.all(isRequest('OPTIONS'));
  const intervals = [50];
  while (intervals.length < 3) intervals.push(intervals.length <= inTrying ? Math.min(2 * intervals.at(-1)!, 400) : 400);
  t.log(`${inTrying} Timer E firing(s) before the 100: intervals ${intervals.join(', ')}`);
  assertRetransmissions(t, { t0, times: sent.slice(0, 4).map((a) => a.at), intervals });
  t.is(sent.length, 4, 'no retransmission after the final response');
  t.deepEqual(statuses, [100, 200], 'the duplicate 200 is absorbed');
  // Timer K (T4 over UDP) ended the transaction.
  t.is(tx.state, 'terminated');
  t.like(stack.stats(), { clientTransactions: 0, timers: 0 });
});

test('INVITE rejected: the transaction ACKs the non-2xx itself (§17.1.1.3), re-ACKs its retransmission, Timer D ends it', async (t) => {
  const stack = await startStack();
  const peer = await UdpPeer.open();
  t.teardown(() => Promise.all([stack.close(), peer.close()]));
  const invite = new SipRequest('INVITE', `sip:busy@example.com`);
  invite.headers.append('Route', `<sip:127.0.0.1:${peer.port};lr>`);
  invite.headers.append('X-Case', 'non-2xx');
  const tx = stack.sendRequest(invite);
  const seen: number[] = [];
  tx.on('response', (res) => seen.push(res.status));
  const req = asRequest(await peer.waitFor(isRequest('INVITE')));
  await peer.send(responseText(req, 100, 'Trying'), portOf(stack));
  const busy = responseText(req, 486, 'Busy Here', { toTag: 'busy-tag' });
  await peer.send(busy, portOf(stack));
  const ack = asRequest(await peer.waitFor(isRequest('ACK')));
  t.is(ack.uri, req.uri);
  t.deepEqual(ack.headers.getAll('Via'), [req.headers.getList('Via')[0]!], 'a single Via equal to the INVITE top Via');
  t.is(ack.header('From'), req.header('From'));
  t.is(ack.toTag, 'busy-tag');
  t.is(ack.callId, req.callId);
  t.deepEqual(ack.cseq, { seq: req.cseq.seq, method: 'ACK' });
  t.deepEqual(ack.headers.getAll('Route'), req.headers.getAll('Route'));
  t.false(ack.headers.has('X-Case'));
  // The 486 retransmitted: the ACK goes again, the TU hears nothing new.
  await peer.send(busy, portOf(stack));
  await peer.waitFor(isRequest('ACK'), 2);
  t.deepEqual(seen, [100, 486]);
  t.is(tx.state, 'completed');
  // Timer D = 64*T1 over UDP.
  await sleep(64 * 50 + 300);
  t.is(tx.state, 'terminated');
  t.like(stack.stats(), { clientTransactions: 0, timers: 0 });
});

test('over TCP: no retransmission timers, Timer K is zero, the connection is reused', async (t) => {
  const a = await startStack();
  const b = await startStack();
  t.teardown(() => Promise.all([a.close(), b.close()]));
  b.on('request', (req, tx) => {
    if (tx) void b.respond(tx, b.createResponse(req, 200));
  });
  const uri = `sip:b@127.0.0.1:${portOf(b, 'tcp')};transport=tcp`;
  for (let i = 0; i < 2; i++) {
    const tx = a.sendRequest(new SipRequest('OPTIONS', uri));
    const res = await new Promise<number>((resolve) => tx.on('response', (r) => resolve(r.status)));
    t.is(res, 200);
    // Reliable transport: Timer K = 0, so the transaction is over as soon as the final arrived;
    // the server's Timer J = 0 too.
    t.is(tx.state, 'terminated');
    t.true(tx.request.topVia.transport === 'TCP');
    t.is(tx.retransmissions, 0);
  }
  t.like(a.stats(), { clientTransactions: 0, timers: 0, connections: 1 });
  t.like(b.stats(), { serverTransactions: 0, timers: 0, connections: 1 });
});

test('a request to an unreachable TCP peer reports transportError and ends (§17.1.4)', async (t) => {
  const stack = await startStack({ connectTimeoutMs: 2000 });
  const peer = await UdpPeer.open();
  t.teardown(() => Promise.all([stack.close(), peer.close()])); // nothing listens on this port over TCP
  const tx = stack.sendRequest(new SipRequest('OPTIONS', `sip:x@127.0.0.1:${peer.port};transport=tcp`));
  const err = await new Promise<Error>((resolve) => tx.on('transportError', resolve));
  t.regex(err.message, /connect/);
  t.is(tx.state, 'terminated');
  t.like(stack.stats(), { clientTransactions: 0, timers: 0 });
  t.throws(() => stack.sendRequest(new SipRequest('OPTIONS', 'sip:x@127.0.0.1;transport=tls')), { message: /no tls transport/ });
});
