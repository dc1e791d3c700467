import test from 'ava';
import { ActivityWatch, relatchAfterBytes } from '../../media/activity-watch.js';

test('RTP keeps it ok; silence past inactivityMs is reported once, again after RTP resumes', (t) => {
  const w = new ActivityWatch(1000, 0);
  t.is(w.observe(500, { bytesReceived: 1720, rtpBytesReceived: 1720 }), 'ok');
  t.is(w.lastRtpAt, 500);
  t.is(w.observe(1400, { bytesReceived: 1720, rtpBytesReceived: 1720 }), 'ok');
  t.is(w.observe(1500, { bytesReceived: 1720, rtpBytesReceived: 1720 }), 'inactive');
  t.is(w.observe(2500, null), 'ok', 'once per silent spell');
  t.is(w.observe(2600, { bytesReceived: 1892, rtpBytesReceived: 1892 }), 'ok');
  t.is(w.observe(3600, { bytesReceived: 1892, rtpBytesReceived: 1892 }), 'inactive');
});

test('suspended (the peer said it will not send) and a re-offer both hold the report back', (t) => {
  const w = new ActivityWatch(1000, 0);
  w.suspended = true;
  t.is(w.observe(5000, null), 'ok');
  w.suspended = false;
  w.signOfLife(5000);
  t.is(w.observe(5900, null), 'ok');
  t.is(w.observe(6000, null), 'inactive');
});

test('bytes that never reach the Producer trigger a re-latch; a trickle of RTCP does not', (t) => {
  const w = new ActivityWatch(30_000, 0);
  let raw = 0;
  let at = 0;
  // RTCP only: 100 bytes every 5 s, for ten minutes.
  for (let i = 0; i < 120; i++) t.is(w.observe((at += 5000), { bytesReceived: (raw += 100), rtpBytesReceived: 0 }), i * 5000 + 5000 >= 30_000 && i === 5 ? 'inactive' : 'ok');
  // RTP the Producer cannot match: ten 172-byte packets within a 200 ms watch period.
  t.is(w.observe((at += 200), { bytesReceived: (raw += 1720), rtpBytesReceived: 0 }), 'relatch');
  t.true(1720 >= relatchAfterBytes);
  // A new transport's counters start from zero again.
  w.newCounters();
  t.is(w.observe((at += 200), { bytesReceived: 172, rtpBytesReceived: 172 }), 'ok');
});
