/**
 * The state machine discipline every transaction shares (transaction.ts): moves outside the
 * table are refused, the terminal state clears every timer and listener, exactly once.
 */
import test from 'ava';
import { Headers } from '../../../engine/sip/message/headers.js';
import { SipRequest } from '../../../engine/sip/message/message.js';
import { DEFAULT_LIMITS } from '../../../engine/sip/message/parser.js';
import { ServerNonInviteTransaction, type ServerNonInviteState } from '../../../engine/sip/transaction/server-non-invite-transaction.js';
import { TimerCounter } from '../../../engine/sip/transaction/timers.js';
import { TransportLayer } from '../../../engine/sip/transport/transport-layer.js';
import { testConfig, testLogger } from '../../helpers/config.js';

/** Exposes the protected transition for the test. */
class Probe extends ServerNonInviteTransaction {
  move(to: ServerNonInviteState, reason: string): boolean {
    return this.transition(to, reason);
  }
  arm(): void {
    this.timers.start('J', 60_000, () => undefined);
  }
}

test('illegal moves are refused; the terminal state clears timers and listeners once', (t) => {
  const log = testLogger(testConfig());
  const transport = new TransportLayer([], { publicHost: '127.0.0.1', rport: 'requested', limits: DEFAULT_LIMITS }, log);
  const counter = new TimerCounter();
  const req = new SipRequest(
    'OPTIONS',
    'sip:a@127.0.0.1',
    Headers.of([['Via', 'SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKstate'], ['From', '<sip:b@127.0.0.1>;tag=1'], ['To', '<sip:a@127.0.0.1>'], ['Call-ID', 'state'], ['CSeq', '1 OPTIONS']]),
  );
  const info = { source: { protocol: 'udp' as const, remote: { address: '127.0.0.1', port: 5099 }, local: { address: '127.0.0.1', port: 5060 }, connectionId: null }, raw: Buffer.alloc(0), bytes: 0, receivedAt: new Date() };
  const tx = new Probe({ transport, timers: { t1: 50, t2: 200, t4: 250 }, counter, log }, req, 'key', info, false);
  const events: string[] = [];
  tx.on('statechange', (to, from, reason) => events.push(`${from}->${to} (${reason})`));
  tx.on('terminated', (reason) => events.push(`terminated: ${reason}`));
  t.true(tx.move('proceeding', 'test'));
  t.false(tx.move('trying', 'backwards'), 'Proceeding -> Trying is not in the table');
  t.is(tx.state, 'proceeding');
  tx.arm();
  t.is(counter.active, 1);
  t.true(tx.move('completed', 'test'));
  t.false(tx.move('proceeding', 'backwards'));
  t.true(tx.move('terminated', 'done'));
  t.is(counter.active, 0, 'the terminal state cleared the timer');
  t.is(tx.listenerCount('statechange'), 0, 'and every listener');
  t.false(tx.move('terminated', 'again'));
  tx.abort('again');
  t.deepEqual(events, ['trying->proceeding (test)', 'proceeding->completed (test)', 'completed->terminated (done)', 'terminated: done']);
});
