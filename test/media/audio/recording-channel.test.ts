import test from 'ava';
import fc from 'fast-check';
import { singleByteRange } from '../../../api/http/range.js';
import { backfillTicks, earlyTicks, RecordingChannel } from '../../../media/audio/recording-channel.js';

const runs = 300;

/** One frame handed to a channel: how many ticks the wall clock moved first, and its timestamp (if any). */
const arrival = fc.record({
  advance: fc.oneof(fc.constant(0), fc.constant(1), fc.integer({ min: 0, max: 40 })),
  timestamp: fc.option(fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: -3, max: 30 }).map((d) => d * 160)), { nil: undefined }),
  relative: fc.boolean(),
});

test(`a channel never places a frame ahead of the wall clock by more than ${earlyTicks} ticks, behind what is written, twice on one tick, or past the limit (${runs} runs)`, (t) => {
  fc.assert(
    fc.property(fc.array(arrival, { maxLength: 200 }), fc.integer({ min: 1, max: 300 }), (frames, limit) => {
      const ch = new RecordingChannel();
      let now = 0;
      let lastTs = 1000;
      let placed = 0;
      for (const f of frames) {
        now += f.advance;
        // Written ticks are those older than backfillTicks (as the recorder flushes them).
        const floor = Math.max(0, now - backfillTicks);
        for (const k of [...ch.slots.keys()]) if (k < floor) ch.slots.delete(k);
        const ts = f.timestamp === undefined ? undefined : f.relative ? (lastTs + f.timestamp) >>> 0 : f.timestamp;
        if (ts !== undefined) lastTs = ts;
        const before = new Set(ch.slots.keys());
        const ok = ch.place(new Int16Array(160).fill(1), now, floor, limit, ts);
        const added = [...ch.slots.keys()].filter((k) => !before.has(k));
        if (ok !== (added.length === 1) || added.length > 1) return false;
        if (ok) {
          placed++;
          const slot = added[0]!;
          if (slot > now + earlyTicks || slot < floor || slot >= limit) return false;
        }
      }
      return placed + ch.dropped === frames.length;
    }),
    { numRuns: runs },
  );
  t.pass();
});

test(`a Range header is served as one range inside the body, or the whole body (${runs * 3} runs)`, (t) => {
  const header = fc.oneof(
    fc.string(),
    fc.tuple(fc.option(fc.nat(), { nil: undefined }), fc.option(fc.nat(), { nil: undefined })).map(([a, b]) => `bytes=${a ?? ''}-${b ?? ''}`),
    fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => `bytes=${a}-${b}, ${b}-`),
  );
  fc.assert(
    fc.property(header, fc.nat({ max: 10_000_000 }), (h, size) => {
      const r = singleByteRange(h, size);
      return r === null || (Number.isSafeInteger(r.start) && r.start >= 0 && r.start <= r.end && r.end < size);
    }),
    { numRuns: runs * 3 },
  );
  t.deepEqual(singleByteRange('bytes=0-9', 100), { start: 0, end: 9 });
  t.deepEqual(singleByteRange('bytes=-10', 100), { start: 90, end: 99 });
  t.deepEqual(singleByteRange('bytes=90-', 100), { start: 90, end: 99 });
  t.is(singleByteRange('bytes=100-', 100), null);
  t.is(singleByteRange('bytes=0-1,3-4', 100), null);
});
