/**
 * The writes of one turn to a mediasoup worker's request pipe reach the kernel together
 * (`media/worker-channel.ts`): in order, none lost, one `writev` per turn; and a real worker made
 * this way answers as mediasoup's own does.
 */
import fs from 'node:fs';
import { Writable } from 'node:stream';
import test from 'ava';
import fc from 'fast-check';
import { coalesceWrites, createWorker } from '../../media/worker-channel.js';
import { testConfig } from '../helpers/config.js';

/** A stream that records each hand-off to its "kernel" (`_write` or `_writev`). */
function recordingStream() {
  const handoffs: Buffer[][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      handoffs.push([chunk]);
      cb();
    },
    writev(chunks, cb) {
      handoffs.push(chunks.map((c) => c.chunk as Buffer));
      cb();
    },
  });
  return { stream, handoffs };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

test('the writes of one turn are handed on together, in order', async (t) => {
  const { stream, handoffs } = recordingStream();
  coalesceWrites(stream);
  stream.write(Buffer.from([0, 0, 0, 3]));
  stream.write('abc');
  stream.write(Buffer.from([0, 0, 0, 2]));
  stream.write('de');
  t.is(handoffs.length, 0, 'nothing is handed on inside the turn');
  await nextTurn();
  t.is(handoffs.length, 1);
  t.is(Buffer.concat(handoffs[0]!).toString('latin1'), '\0\0\0\x03abc\0\0\0\x02de');
  stream.write('f');
  await nextTurn();
  t.is(handoffs.length, 2, 'a later turn is a hand-off of its own');
  t.is(Buffer.concat(handoffs[1]!).toString(), 'f');
});

test('property: any turns of writes arrive whole and in order, one hand-off per turn', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { minLength: 1, maxLength: 8 }), { maxLength: 12 }), async (turns) => {
      const { stream, handoffs } = recordingStream();
      coalesceWrites(stream);
      for (const turn of turns) {
        for (const chunk of turn) stream.write(Buffer.from(chunk));
        await nextTurn();
      }
      const sent = Buffer.concat(turns.flat().map((c) => Buffer.from(c)));
      return handoffs.length === turns.length && Buffer.concat(handoffs.flat()).equals(sent);
    }),
    { numRuns: 200 },
  );
  t.pass();
});

/**
 * Write system calls of this thread so far (`syscw` of `/proc/thread-self/io`): the pipe writes
 * are made on the JavaScript thread, and other threads of the process (libuv's pool, V8's) stay
 * out of the count.
 */
const writeCalls = () => Number(/syscw: (\d+)/.exec(fs.readFileSync('/proc/thread-self/io', 'utf8'))![1]);

test('a real worker: twenty requests in one turn take one or two writes, and all are answered', async (t) => {
  // The binary and this test process's own RTP block (test/helpers/config.ts keeps processes apart).
  const { media, rtp } = testConfig();
  const worker = await createWorker(media.workerBin!, { logLevel: 'error', rtcMinPort: rtp.minPort, rtcMaxPort: rtp.maxPort });
  t.teardown(() => worker.close());
  await worker.getResourceUsage(); // settle the start-up
  const before = writeCalls();
  const answers = Array.from({ length: 20 }, () => worker.getResourceUsage());
  await new Promise<void>((resolve) => process.nextTick(resolve));
  const writes = writeCalls() - before;
  const usage = await Promise.all(answers);
  t.is(usage.length, 20);
  t.true(usage.every((u) => typeof u.ru_maxrss === 'number'));
  // mediasoup's own Channel makes two writes per request (length, then JSON): 40 here. Whatever
  // else this thread writes in the turn (ava's messages to its parent) is the margin.
  t.true(writes <= 6, `${writes} write calls for 20 requests`);
  const router = await worker.createRouter({ mediaCodecs: [{ kind: 'audio', mimeType: 'audio/PCMU', clockRate: 8000 }] });
  t.false(router.closed);
});
