/** RFC 4733 event packets as `eventPackets` builds them, for any digit and tone length. */
import test from 'ava';
import fc from 'fast-check';
import { DtmfReceiver, eventPackets, InvalidDtmfError } from '../../media/audio/dtmf.js';

const RUNS = 2000;

test(`any digit and tone: marker first, durations growing to the tone, three end packets, decodable (${RUNS} cases per run)`, (t) => {
  const digits = '0123456789*#ABCD';
  fc.assert(
    fc.property(fc.constantFrom(...digits), fc.integer({ min: 40, max: 5000 }), (digit, toneMs) => {
      const ps = eventPackets(digit, toneMs);
      const durations = ps.map((p) => p.payload.readUInt16BE(2));
      const ends = ps.filter((p) => p.end);
      const rx = new DtmfReceiver();
      const decoded = ps.map((p) => rx.receive(1234, p.payload)).filter((d) => d !== null);
      return (
        ps.every((p, i) => p.atMs === i * 20 && p.marker === (i === 0)) &&
        ps.every((p) => p.payload[0] === digits.indexOf(digit) && (p.payload[1]! & 0x7f) === 10 && Boolean(p.payload[1]! & 0x80) === p.end) &&
        durations.every((d, i) => i === 0 || d >= durations[i - 1]!) &&
        durations[0] === Math.min(160, toneMs * 8) &&
        ends.length === 3 &&
        ps.slice(-3).every((p) => p.end && p.payload.readUInt16BE(2) === toneMs * 8) &&
        ps.length === Math.ceil(toneMs / 20) + 2 &&
        decoded.length === 1 &&
        decoded[0]!.digit === digit &&
        decoded[0]!.durationMs === toneMs
      );
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test('flash and anything else are refused', (t) => {
  for (const d of ['flash', 'E', '', '10']) t.throws(() => eventPackets(d, 100), { instanceOf: InvalidDtmfError });
});
