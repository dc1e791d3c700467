import test from 'ava';
import { negotiateTimer, timerDelays } from '../../../engine/calls/session-timer.js';

const ours = { interval: 1800, minSE: 90 };

test('RFC 4028 §9: below Min-SE is 422 with our Min-SE', (t) => {
  t.deepEqual(negotiateTimer({ sessionExpires: '60', supported: 'timer' }, ours), { kind: 'reject', minSE: 90 });
});

test('a UAC that supports timers refreshes unless it asks us to', (t) => {
  t.deepEqual(negotiateTimer({ sessionExpires: '600', supported: '100rel, timer' }, ours), {
    kind: 'timer',
    interval: 600,
    refresher: 'uac',
    headers: { 'Session-Expires': '600;refresher=uac', Require: 'timer' },
  });
  t.like(negotiateTimer({ sessionExpires: '600;refresher=uas', supported: 'timer' }, ours), { refresher: 'uas' });
});

test('Session-Expires without Supported: timer makes us the refresher, with no Require', (t) => {
  t.deepEqual(negotiateTimer({ sessionExpires: '300;refresher=uac' }, ours), {
    kind: 'timer',
    interval: 300,
    refresher: 'uas',
    headers: { 'Session-Expires': '300;refresher=uas' },
  });
});

test('Supported: timer alone gets our interval, never below the request Min-SE', (t) => {
  t.like(negotiateTimer({ supported: 'timer' }, ours), { kind: 'timer', interval: 1800, refresher: 'uac' });
  t.like(negotiateTimer({ supported: 'timer', minSE: '3600' }, ours), { interval: 3600 });
  t.deepEqual(negotiateTimer({}, ours), { kind: 'none' });
});

test('§10 delays: BYE min(32, interval/3) before expiry; refresh at half', (t) => {
  t.deepEqual(timerDelays(1800), { expireMs: 1768_000, refreshMs: 900_000 });
  t.deepEqual(timerDelays(3), { expireMs: 2000, refreshMs: 1500 });
});
