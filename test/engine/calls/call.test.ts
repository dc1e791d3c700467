import test from 'ava';
import { createLogger } from '../../../config/logger.js';
import { Call, callMoves, type CallState } from '../../../engine/calls/call.js';
import { dialledCandidates } from '../../../engine/calls/inbound-auth.js';

const log = createLogger({ level: 'silent', pretty: false });
const make = (initial: 'queued' | 'trying' = 'trying') => new Call({ id: 'c1', tenantId: 't', mode: 'live', agentId: 'a', sipCallId: 'x@y' }, log, performance.now(), initial);

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

test('the moves table: every state pair is allowed exactly when the table lists it', (t) => {
  const states: CallState[] = ['queued', 'trying', 'ringing', 'answered', 'ended'];
  const path: Record<CallState, (c: Call) => void> = {
    queued: () => {},
    trying: () => {},
    ringing: (c) => c.transition('ringing', 'setup'),
    answered: (c) => c.transition('answered', 'setup'),
    ended: (c) => c.end({ reason: 'shutdown', hangupBy: 'system' }),
  };
  for (const from of states) {
    for (const to of states) {
      const c = make(from === 'queued' ? 'queued' : 'trying');
      path[from](c);
      t.is(c.state, from);
      const ok = to === 'ended' ? c.end({ reason: 'api_hangup', hangupBy: 'system' }) : c.transition(to, 'test');
      t.is(ok, callMoves[from].includes(to), `${from} -> ${to}`);
      t.is(c.state, ok ? to : from);
    }
  }
  // The table itself, spelled out: a change to it has to change this test too.
  t.deepEqual(callMoves, {
    queued: ['trying', 'ended'],
    trying: ['ringing', 'answered', 'ended'],
    ringing: ['answered', 'ended'],
    answered: ['ended'],
    ended: [],
  });
});

test('the end aborts the call signal with the end reason, before the disposers run', (t) => {
  const c = make();
  const seen: string[] = [];
  c.signal.addEventListener('abort', () => seen.push(`abort:${String(c.signal.reason)}`));
  c.onDispose(() => seen.push(`dispose:${String(c.signal.aborted)}`));
  c.on('ended', () => seen.push('ended'));
  t.false(c.signal.aborted);
  c.transition('answered', '200');
  t.false(c.signal.aborted, 'moves other than the end leave the signal alone');
  c.hangup('rtp_timeout');
  t.deepEqual(seen, ['abort:rtp_timeout', 'dispose:true', 'ended']);
  t.deepEqual(c.endInfo, { reason: 'rtp_timeout', hangupBy: 'system' });
});

test('outcome: completed, failed or canceled, decided from the answer and the end reason', (t) => {
  const ended = (answered: boolean, reason: Parameters<Call['hangup']>[0], by: 'caller' | 'system' = 'system') => {
    const c = make();
    if (answered) c.transition('answered', '200');
    t.is(c.outcome, null, 'no outcome while the call lives');
    c.end({ reason, hangupBy: by });
    return c.outcome;
  };
  t.is(ended(true, 'caller_hangup', 'caller'), 'completed');
  t.is(ended(true, 'rtp_timeout'), 'completed');
  t.is(ended(true, 'ack_timeout'), 'failed');
  t.is(ended(false, 'canceled', 'caller'), 'canceled');
  t.is(ended(false, 'no_common_codec'), 'failed');
  t.is(ended(false, 'shutdown'), 'failed');
});

test('dialled numbers from the Request-URI, To, tel: URIs and national forms', (t) => {
  t.deepEqual(dialledCandidates('sip:+15550001111@10.0.0.1;user=phone', ''), ['+15550001111', '15550001111']);
  t.deepEqual(dialledCandidates('sip:15550001111@10.0.0.1', ''), ['15550001111', '+15550001111']);
  t.deepEqual(dialledCandidates('sip:10.0.0.1', '<sip:service@10.0.0.1>;tag=1'), ['service']);
  t.deepEqual(dialledCandidates('tel:+1-555-000-1111', ''), ['+15550001111', '15550001111']);
  t.deepEqual(dialledCandidates('sip:10.0.0.1', 'sip:10.0.0.1'), []);
});

test('the outcome of an unanswered call follows its end reason: busy, no_answer and canceled are their own, anything else failed; answered calls complete', (t) => {
  const outcome = (reason: Parameters<Call['hangup']>[0], answered = false) => {
    const c = make('queued');
    c.transition('trying', 'dialled');
    if (answered) c.transition('answered', 'test');
    c.end({ reason, hangupBy: 'system' });
    return c.outcome;
  };
  t.is(outcome('busy'), 'busy');
  t.is(outcome('no_answer'), 'no_answer');
  t.is(outcome('canceled'), 'canceled');
  t.is(outcome('rejected'), 'failed');
  t.is(outcome('dial_error'), 'failed');
  t.is(outcome('shutdown'), 'failed');
  t.is(outcome('callee_hangup', true), 'completed');
  t.is(outcome('ack_timeout', true), 'failed');
});
