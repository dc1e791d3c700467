import test from 'ava';
import { createLogger } from '../../../config/logger.js';
import { Call } from '../../../engine/calls/call.js';
import { dialledCandidates } from '../../../engine/calls/inbound-auth.js';

const log = createLogger({ level: 'silent', pretty: false });
const make = () => new Call({ id: 'c1', tenantId: 't', mode: 'live', agentId: 'a', sipCallId: 'x@y' }, log);

test('legal moves pass, illegal ones are refused', (t) => {
  const c = make();
  const seen: string[] = [];
  c.on('statechange', (to, from) => seen.push(`${from}->${to}`));
  t.false(c.transition('trying', 'again'));
  t.true(c.transition('ringing', '180'));
  t.true(c.transition('answered', '200'));
  t.false(c.transition('ringing', 'back'));
  t.deepEqual(seen, ['trying->ringing', 'ringing->answered']);
  t.truthy(c.answeredAt);
});

test('end runs disposers once, clears timers, and is idempotent', async (t) => {
  const c = make();
  let disposed = 0;
  let fired = false;
  c.onDispose(() => disposed++);
  c.timer(20, () => (fired = true));
  let ended = 0;
  c.on('ended', () => ended++);
  t.true(c.end({ reason: 'caller_hangup', hangupBy: 'caller' }));
  t.false(c.end({ reason: 'shutdown', hangupBy: 'system' }));
  await new Promise((r) => setTimeout(r, 40));
  t.is(disposed, 1);
  t.is(ended, 1);
  t.false(fired);
  t.is(c.state, 'ended');
  t.deepEqual(c.endInfo, { reason: 'caller_hangup', hangupBy: 'caller' });
  let late = 0;
  c.onDispose(() => late++);
  t.is(late, 1, 'a disposer added after the end runs at once');
});

test('dialled numbers from the Request-URI, To, tel: URIs and national forms', (t) => {
  t.deepEqual(dialledCandidates('sip:+15550001111@10.0.0.1;user=phone', ''), ['+15550001111', '15550001111']);
  t.deepEqual(dialledCandidates('sip:15550001111@10.0.0.1', ''), ['15550001111', '+15550001111']);
  t.deepEqual(dialledCandidates('sip:10.0.0.1', '<sip:service@10.0.0.1>;tag=1'), ['service']);
  t.deepEqual(dialledCandidates('tel:+1-555-000-1111', ''), ['+15550001111', '15550001111']);
  t.deepEqual(dialledCandidates('sip:10.0.0.1', 'sip:10.0.0.1'), []);
});
