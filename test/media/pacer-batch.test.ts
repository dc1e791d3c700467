/** The agent-audio thread's batch format: what is written is read back, record for record; a cut or garbled batch never throws. */
import test from 'ava';
import fc from 'fast-check';
import { BatchWriter, readBatch, type BatchSink } from '../../media/audio/pacer-batch.js';

type Rec =
  | { kind: 'sent'; stream: number; payload: number[]; timestamp: number; sequence: number; at: number }
  | { kind: 'received'; stream: number; packet: number[] }
  | { kind: 'consumed'; stream: number; frames: number }
  | { kind: 'dtmf'; stream: number; request: number; ok: boolean };

const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const bytes = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 400 });
const record: fc.Arbitrary<Rec> = fc.oneof(
  fc.record({ kind: fc.constant('sent' as const), stream: u32, payload: bytes, timestamp: u32, sequence: fc.integer({ min: 0, max: 65535 }), at: fc.double({ noNaN: true }) }),
  fc.record({ kind: fc.constant('received' as const), stream: u32, packet: bytes }),
  fc.record({ kind: fc.constant('consumed' as const), stream: u32, frames: u32 }),
  fc.record({ kind: fc.constant('dtmf' as const), stream: u32, request: u32, ok: fc.boolean() }),
);

function collect(batch: Uint8Array): Rec[] {
  const out: Rec[] = [];
  const sink: BatchSink = {
    sent: (stream, timestamp, sequence, at, batch, offset, size) => out.push({ kind: 'sent', stream, payload: [...batch.subarray(offset, offset + size)], timestamp, sequence, at }),
    received: (stream, packet) => out.push({ kind: 'received', stream, packet: [...packet] }),
    consumed: (stream, frames) => out.push({ kind: 'consumed', stream, frames }),
    dtmf: (stream, request, ok) => out.push({ kind: 'dtmf', stream, request, ok }),
  };
  readBatch(batch, sink);
  return out;
}

function write(w: BatchWriter, r: Rec): void {
  if (r.kind === 'sent') w.sent(r.stream, Buffer.from(r.payload), r.timestamp, r.sequence, r.at);
  else if (r.kind === 'received') w.received(r.stream, Buffer.from(r.packet));
  else if (r.kind === 'consumed') w.consumed(r.stream, r.frames);
  else w.dtmf(r.stream, r.request, r.ok);
}

test('every record written is read back in order, across batches and buffer growth (300 runs)', (t) => {
  fc.assert(
    fc.property(fc.array(fc.array(record, { maxLength: 60 }), { minLength: 1, maxLength: 4 }), (batches) => {
      // A small first buffer, so that growing it is part of the run.
      const w = new BatchWriter(64);
      for (const recs of batches) {
        for (const r of recs) write(w, r);
        t.deepEqual(collect(w.take()), recs);
        t.true(w.empty);
      }
    }),
    { numRuns: 300 },
  );
});

test('a batch cut anywhere, or garbage, reads what is whole before the damage and never throws (500 runs)', (t) => {
  fc.assert(
    fc.property(fc.array(record, { minLength: 1, maxLength: 20 }), fc.nat(), fc.uint8Array({ maxLength: 200 }), (recs, cut, junk) => {
      const w = new BatchWriter();
      for (const r of recs) write(w, r);
      const whole = w.take();
      const at = cut % (whole.length + 1);
      const read = collect(whole.subarray(0, at));
      t.deepEqual(read, recs.slice(0, read.length), 'a prefix of what was written');
      t.notThrows(() => collect(junk));
    }),
    { numRuns: 500 },
  );
});

test('the payload read back is a view on the batch, not a copy', (t) => {
  const w = new BatchWriter();
  w.received(7, Buffer.from([1, 2, 3]));
  const batch = w.take();
  readBatch(batch, {
    sent: () => t.fail(),
    consumed: () => t.fail(),
    dtmf: () => t.fail(),
    received: (stream, packet) => {
      t.is(stream, 7);
      t.is(packet.buffer, batch.buffer);
      t.deepEqual([...packet], [1, 2, 3]);
    },
  });
});
