import test from 'ava';
import { encodeFrame, FrameDecoder, FrameError, MAX_FRAME_BYTES } from '../../../../engine/sip/drachtio/frame.js';

test('frames split anywhere, or several in one chunk, decode whole', (t) => {
  const bodies = ['abc|authenticate|cymru|', 'é|multi-byte ✓', 'x'.repeat(5000)];
  const wire = Buffer.from(bodies.map(encodeFrame).join(''));
  for (const step of [1, 3, 7, 100, wire.length]) {
    const d = new FrameDecoder();
    const out: string[] = [];
    for (let i = 0; i < wire.length; i += step) out.push(...d.push(wire.subarray(i, i + step)));
    t.deepEqual(out, bodies, `step ${step}`);
    t.is(d.pending, 0);
  }
});

test('the length counts bytes, not characters', (t) => {
  t.is(encodeFrame('é'), '2#é');
});

test('malformed prefixes and oversized frames are refused', (t) => {
  t.throws(() => new FrameDecoder().push(Buffer.from('12a#xx')), { instanceOf: FrameError });
  t.throws(() => new FrameDecoder().push(Buffer.from('#x')), { instanceOf: FrameError });
  t.throws(() => new FrameDecoder().push(Buffer.from('0#')), { instanceOf: FrameError });
  t.throws(() => new FrameDecoder().push(Buffer.from(`${MAX_FRAME_BYTES + 1}#`)), { instanceOf: FrameError });
  t.throws(() => new FrameDecoder().push(Buffer.from('123456789')), { instanceOf: FrameError });
});
