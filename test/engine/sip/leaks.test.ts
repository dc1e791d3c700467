/**
 * Nothing leaks: after close(), every socket, server and timer the stacks made is gone, even when
 * they were closed in the middle of calls (pending client and server transactions, early and
 * confirmed dialogs, a 2xx waiting for its ACK, open TCP and TLS connections). Checked with
 * Node's own list of live handles, and with the stack's counters.
 */
import test from 'ava';
import { SipRequest } from '../../../engine/sip/message/message.js';
import { isRequest, UdpPeer } from '../../helpers/sip-peer.js';
import { portOf, startStack } from '../../helpers/sip-stack.js';
import { TestUas } from '../../helpers/test-uas.js';
import { selfSignedCert } from '../../helpers/tls-cert.js';
import { sleep } from '../../helpers/timing.js';

const HANDLES = ['Timeout', 'UDPWrap', 'UDPSocketWrap', 'TCPServerWrap', 'TCPWrap', 'TCPSocketWrap', 'TLSWrap'];

function handles(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) if (HANDLES.includes(r)) out[r] = (out[r] ?? 0) + 1;
  return out;
}

test.serial('close() in the middle of calls releases every socket, connection and timer', async (t) => {
  const pem = selfSignedCert();
  const withTls = typeof pem === 'string' ? {} : { transports: ['udp', 'tcp', 'tls'] as ('udp' | 'tcp' | 'tls')[], tlsPort: 0, tls: pem };
  if (typeof pem === 'string') t.log(`TLS part skipped: ${pem}`);
  await sleep(50);
  const before = handles();

  const a = await startStack(withTls);
  const b = await startStack(withTls);
  const uas = new TestUas(b);
  const silent = await UdpPeer.open();
  // A pending client INVITE (Timers A and B running) to a peer that never answers.
  a.sendRequest(new SipRequest('INVITE', `sip:nobody@127.0.0.1:${silent.port}`));
  // A call that only rings (server INVITE transaction in Proceeding, early dialogs) over TCP.
  a.sendRequest(new SipRequest('INVITE', `sip:cancel@127.0.0.1:${portOf(b, 'tcp')};transport=tcp`));
  // An answered call never ACKed over UDP (2xx retransmission pending, confirmed dialogs).
  a.sendRequest(new SipRequest('INVITE', `sip:answer@127.0.0.1:${portOf(b)}`));
  // An OPTIONS over TLS (an open TLS connection).
  if (withTls.tls) a.sendRequest(new SipRequest('OPTIONS', `sips:b@127.0.0.1:${portOf(b, 'tls')}`));
  await silent.waitFor(isRequest('INVITE'));
  const end = Date.now() + 5000;
  while (!(b.stats().pending2xx === 1 && uas.ladder.includes('-> 180 INVITE') && (!withTls.tls || uas.ladder.includes('-> 200 OPTIONS'))) && Date.now() < end) await sleep(10);
  const busy = { a: a.stats(), b: b.stats() };
  t.true(busy.a.clientTransactions >= 2 && busy.a.timers > 0 && busy.a.connections >= 1, JSON.stringify(busy.a));
  t.true(busy.b.serverTransactions >= 1 && busy.b.pending2xx === 1 && busy.b.dialogs >= 2, JSON.stringify(busy.b));
  const during = handles();
  t.true((during.TCPSocketWrap ?? 0) + (during.TCPWrap ?? 0) + (during.TLSWrap ?? 0) > 0, 'connections were open');

  await Promise.all([a.close(), b.close(), silent.close()]);
  await a.close(); // idempotent
  await sleep(50);
  for (const s of [a, b]) t.deepEqual(s.stats(), { serverTransactions: 0, clientTransactions: 0, timers: 0, connections: 0, dialogs: 0, pending2xx: 0 });
  const after = handles();
  for (const kind of HANDLES.filter((k) => k !== 'Timeout')) t.is(after[kind] ?? 0, before[kind] ?? 0, `${kind} left open`);
  t.true((after.Timeout ?? 0) <= (before.Timeout ?? 0), `timers left: ${after.Timeout} vs ${before.Timeout}`);
});
