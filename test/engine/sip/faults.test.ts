/**
 * Fault injection for real: a UDP relay between two stacks drops and duplicates datagrams, and
 * the transactions must still deliver each message to the layers above exactly once.
 */
import test from 'ava';
import { SipRequest, type SipResponse } from '../../../engine/sip/message/message.js';
import { portOf, startStack } from '../../helpers/sip-stack.js';
import { TestUas } from '../../helpers/test-uas.js';
import { sleep } from '../../helpers/timing.js';
import { UdpProxy, type Policy } from '../../helpers/udp-proxy.js';

test('INVITE through a relay that drops the first INVITE and the first 200 and duplicates everything else', async (t) => {
  const a = await startStack();
  const b = await startStack();
  const uas = new TestUas(b);
  let droppedInvite = false;
  let dropped200 = false;
  const policy: Policy = (msg, dir) => {
    if (!msg) return 'pass';
    if (dir === 'to-server' && msg.kind === 'request' && msg.method === 'INVITE' && !droppedInvite) return (droppedInvite = true), 'drop';
    if (dir === 'to-client' && msg.kind === 'response' && msg.status === 200 && !dropped200) return (dropped200 = true), 'drop';
    return 'dup';
  };
  const proxy = await UdpProxy.start({ address: '127.0.0.1', port: portOf(b) }, policy);
  t.teardown(() => Promise.all([a.close(), b.close(), proxy.close()]));

  const tx = a.sendRequest(new SipRequest('INVITE', `sip:alice@127.0.0.1:${proxy.port}`));
  const seen: SipResponse[] = [];
  tx.on('response', (r) => seen.push(r));
  await new Promise<void>((resolve) => tx.on('response', (r) => r.status === 200 && resolve()));
  const dialog = a.dialogs.all()[0]!;
  await a.ackInDialog(dialog);
  // Wait for B to see the ACK and stop retransmitting.
  const end = Date.now() + 5000;
  while (!uas.ladder.includes('<- ACK') && Date.now() < end) await sleep(10);
  await sleep(300);

  // The relay really dropped and duplicated.
  t.is(proxy.count('to-server', 'drop', /^INVITE/), 1);
  t.is(proxy.count('to-client', 'drop', /^SIP\/2.0 200/), 1);
  t.true(proxy.count('to-server', 'dup', /^INVITE/) >= 1, 'the INVITE retransmission went through twice');
  t.true(proxy.count('to-client', 'dup', /^SIP\/2.0 200/) >= 1, 'the 200 retransmission went through twice');
  // And yet each layer above saw each message once.
  t.deepEqual(uas.ladder.filter((l) => l.startsWith('<-')), ['<- INVITE', '<- ACK']);
  // The final response reaches the TU once. (Provisional responses are passed up each time they
  // arrive, duplicates included: §17.1.1.2 "Any further provisional responses MUST be passed up".)
  t.is(seen.filter((r) => r.status === 200).length, 1);
  t.deepEqual([...new Set(seen.map((r) => r.status))], [100, 180, 200]);
  t.is(b.stats().pending2xx, 0);
  t.is(dialog.state, 'confirmed');
  t.is(b.dialogs.all()[0]?.state, 'confirmed');
  t.deepEqual(uas.errors, []);
});

test('OPTIONS through a relay that drops every other datagram in each direction still completes once', async (t) => {
  const a = await startStack();
  const b = await startStack();
  const uas = new TestUas(b);
  const n = { 'to-server': 0, 'to-client': 0 };
  const proxy = await UdpProxy.start({ address: '127.0.0.1', port: portOf(b) }, (_m, dir) => (n[dir]++ % 2 === 0 ? 'drop' : 'pass'));
  t.teardown(() => Promise.all([a.close(), b.close(), proxy.close()]));
  const tx = a.sendRequest(new SipRequest('OPTIONS', `sip:alice@127.0.0.1:${proxy.port}`));
  const statuses: number[] = [];
  tx.on('response', (r) => statuses.push(r.status));
  await new Promise<void>((resolve, reject) => {
    tx.on('response', (r) => r.status >= 200 && resolve());
    tx.on('timeout', () => reject(new Error('timeout')));
  });
  t.deepEqual(statuses, [200]);
  t.deepEqual(uas.ladder, ['<- OPTIONS', '-> 200 OPTIONS']);
  t.is(proxy.count('to-server', 'drop', /^OPTIONS/), 2);
  t.is(proxy.count('to-client', 'drop', /^SIP\/2.0 200/), 1);
});
