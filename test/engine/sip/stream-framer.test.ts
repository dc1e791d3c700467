/** Content-Length framing of stream transports (§18.3) and RFC 5626 keep-alives. */
import test from 'ava';
import { DEFAULT_LIMITS, parseMessage } from '../../../engine/sip/message/parser.js';
import { StreamFramer, type FrameEvent } from '../../../engine/sip/message/stream-framer.js';
import { sipText } from '../../helpers/sip-text.js';

const msg = (n: number, body = '') =>
  sipText(
    [
      `OPTIONS sip:u${n}@example.com SIP/2.0`,
      `Via: SIP/2.0/TCP h.example.com;branch=z9hG4bK${n}`,
      'To: <sip:u@example.com>',
      'From: <sip:c@example.com>;tag=1',
      `Call-ID: c${n}`,
      `CSeq: ${n} OPTIONS`,
      `Content-Length: ${Buffer.byteLength(body)}`,
    ],
    body,
  );

const messages = (evs: FrameEvent[]) =>
  evs.map((e) => (e.kind === 'message' ? parseMessage(e.raw, { stream: true, limits: DEFAULT_LIMITS }).callId : e.kind));

test('several messages in one chunk come out one by one, in order', (t) => {
  const f = new StreamFramer(DEFAULT_LIMITS);
  t.deepEqual(messages(f.push(Buffer.from(msg(1) + msg(2, 'hello') + msg(3)))), ['c1', 'c2', 'c3']);
  t.is(f.pendingBytes, 0);
});

test('a message split at every byte is reassembled, body included', (t) => {
  const f = new StreamFramer(DEFAULT_LIMITS);
  const bytes = Buffer.from(msg(1, 'v=0\r\nbody with\r\n\r\nblank lines\r\n') + msg(2));
  const out: FrameEvent[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(...f.push(bytes.subarray(i, i + 1)));
  t.deepEqual(messages(out), ['c1', 'c2']);
  const first = out[0]!;
  t.true(first.kind === 'message' && parseMessage(first.raw, { stream: true, limits: DEFAULT_LIMITS }).body.toString() === 'v=0\r\nbody with\r\n\r\nblank lines\r\n');
});

test('a split in the middle of the CRLFCRLF and of the body', (t) => {
  const f = new StreamFramer(DEFAULT_LIMITS);
  const s = msg(1, '0123456789');
  const cut = s.indexOf('\r\n\r\n') + 2;
  t.deepEqual(f.push(Buffer.from(s.slice(0, cut))), []);
  t.deepEqual(f.push(Buffer.from(s.slice(cut, cut + 5))), []);
  t.deepEqual(messages(f.push(Buffer.from(s.slice(cut + 5)))), ['c1']);
});

test('CRLF keep-alives: a double CRLF is a ping, single CRLFs between messages are skipped', (t) => {
  const f = new StreamFramer(DEFAULT_LIMITS);
  t.deepEqual(messages(f.push(Buffer.from('\r\n\r\n'))), ['ping']);
  t.deepEqual(messages(f.push(Buffer.from(`\r\n${msg(1)}\r\n\r\n\r\n${msg(2)}`))), ['c1', 'ping', 'c2']);
  // A ping split in two.
  t.deepEqual(f.push(Buffer.from('\r\n')), []);
  t.deepEqual(messages(f.push(Buffer.from('\r\n'))), ['ping']);
});

test('missing or bad Content-Length stops the stream with a typed error and the head', (t) => {
  const noLength = sipText(['OPTIONS sip:u@example.com SIP/2.0', 'Via: SIP/2.0/TCP h;branch=z9hG4bK1', 'Call-ID: x']);
  const f = new StreamFramer(DEFAULT_LIMITS);
  const [ev] = f.push(Buffer.from(noLength + msg(2)));
  t.is(ev!.kind, 'error');
  t.true(ev?.kind === 'error' && ev.error.code === 'content-length' && ev.head!.toString().includes('Call-ID: x'));
  // Nothing more is read after an error.
  t.deepEqual(f.push(Buffer.from(msg(3))), []);
  const g = new StreamFramer(DEFAULT_LIMITS);
  const [neg] = g.push(Buffer.from(msg(1).replace('Content-Length: 0', 'Content-Length: -5')));
  t.true(neg?.kind === 'error' && neg.error.code === 'content-length');
});

test('header and body limits bound what a peer can make us hold', (t) => {
  const limits = { maxHeaderBytes: 1024, maxHeaders: 50, maxBodyBytes: 1000 };
  const f = new StreamFramer(limits);
  // Headers that never end: refused once past the limit, without waiting for more.
  let out: FrameEvent[] = [];
  for (let i = 0; i < 40 && out.length === 0; i++) out = f.push(Buffer.from(`X-Slow-${i}: ${'a'.repeat(40)}\r\n`));
  t.true(out[0]?.kind === 'error' && out[0].error.code === 'headers-too-large');
  t.true(f.pendingBytes <= 2048);
  // A Content-Length beyond the body limit is refused before the body arrives.
  const g = new StreamFramer(limits);
  const [big] = g.push(Buffer.from(msg(1).replace('Content-Length: 0', 'Content-Length: 5000000')));
  t.true(big?.kind === 'error' && big.error.code === 'body-too-large');
});
