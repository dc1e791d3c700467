/** Parser, serializer and header helpers of engine/sip/message. */
import test from 'ava';
import { SipParseError } from '../../../engine/sip/message/errors.js';
import { canonicalName, headerKey } from '../../../engine/sip/message/header-names.js';
import { Headers } from '../../../engine/sip/message/headers.js';
import { SipRequest, SipResponse } from '../../../engine/sip/message/message.js';
import { formatNameAddr, parseNameAddr, withTag } from '../../../engine/sip/message/name-addr.js';
import { parseMessage, type ParseLimits } from '../../../engine/sip/message/parser.js';
import { serialize } from '../../../engine/sip/message/serializer.js';
import { formatUri, parseSipUri, uriEquals, parseUri } from '../../../engine/sip/message/uri.js';
import { formatVia, parseVia, sentByKey } from '../../../engine/sip/message/via.js';
import { parseDatagram, sipText } from '../../helpers/sip-text.js';

const INVITE = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds, SIP/2.0/TCP p1.example.com:5070;branch=z9hG4bKp1;received=192.0.2.1',
  'Via: SIP/2.0/UDP [2001:db8::9]:5080;branch=z9hG4bKv6;rport=5080',
  'Max-Forwards: 70',
  't: Bob <sip:bob@biloxi.example.com>',
  'f: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'i: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'm: <sip:alice@pc33.atlanta.example.com;transport=tcp>, "Second, Contact" <sip:a2@x.example.com>;q=0.5',
  'Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>',
  'k: timer, 100rel',
  'X-Custom:  keep   my spacing ',
  'c: application/sdp',
  'l: 4',
];

test('compact forms map to their long names, case-insensitively', (t) => {
  const m = parseDatagram(sipText(INVITE, 'v=0\r'));
  t.is(m.callId, 'a84b4c76e66710@pc33.atlanta.example.com');
  t.is(m.headers.get('CALL-ID'), m.headers.get('i'));
  t.is(m.headers.get('content-type'), 'application/sdp');
  t.is(m.headers.get('Content-Length'), '4');
  t.deepEqual(m.headers.getList('Supported'), ['timer', '100rel']);
  for (const [compact, long] of [['i', 'call-id'], ['m', 'contact'], ['e', 'content-encoding'], ['l', 'content-length'], ['c', 'content-type'], ['f', 'from'], ['s', 'subject'], ['k', 'supported'], ['t', 'to'], ['v', 'via'], ['o', 'event'], ['r', 'refer-to'], ['b', 'referred-by'], ['x', 'session-expires'], ['u', 'allow-events'], ['y', 'identity']] as const) {
    t.is(headerKey(compact), long);
    t.is(headerKey(compact.toUpperCase()), long);
  }
  t.is(canonicalName('call-id'), 'Call-ID');
  t.is(canonicalName('i'), 'Call-ID');
  t.is(canonicalName('cseq'), 'CSeq');
  t.is(canonicalName('www-authenticate'), 'WWW-Authenticate');
  t.is(canonicalName('X-Whatever'), 'X-Whatever');
});

test('multi-value headers split at top-level commas only (not inside quotes or <>)', (t) => {
  const m = parseDatagram(sipText(INVITE, 'v=0\r'));
  const vias = m.vias;
  t.is(vias.length, 3);
  t.deepEqual(vias.map(sentByKey), ['pc33.atlanta.example.com:5060', 'p1.example.com:5070', '[2001:db8::9]:5080']);
  t.is(vias[2]!.host, '[2001:db8::9]');
  const contacts = m.contacts;
  t.is(contacts.length, 2);
  t.is(contacts[1]!.displayName, '"Second, Contact"');
  t.is(formatUri(contacts[0]!.uri), 'sip:alice@pc33.atlanta.example.com;transport=tcp');
  t.deepEqual(m.recordRoutes.map((r) => formatUri(r.uri)), ['sip:p2.example.com;lr', 'sip:p1.example.com;lr']);
  // WWW-Authenticate is not a list header: its commas stay.
  const h = Headers.of([['WWW-Authenticate', 'Digest realm="a", nonce="b"']]);
  t.deepEqual(h.getList('www-authenticate'), ['Digest realm="a", nonce="b"']);
});

test('header folding is unfolded into one value, and the raw line is kept', (t) => {
  const m = parseDatagram(sipText(['OPTIONS sip:a@b.example.com SIP/2.0', 'Via: SIP/2.0/UDP h.example.com', '\t;branch=z9hG4bKfold', 'To: <sip:a@b.example.com>', 'From: <sip:c@d.example.com>', ' ;tag=x', 'Call-ID: 1', 'CSeq: 1', '   OPTIONS', 'Subject: one', '  two', 'Content-Length: 0']));
  t.is(m.topVia.params[0]!.value, 'z9hG4bKfold');
  t.is(m.fromTag, 'x');
  t.deepEqual(m.cseq, { seq: 1, method: 'OPTIONS' });
  t.is(m.headers.get('Subject'), 'one   two');
  t.is(m.headers.fields().find((f) => f.key === 'subject')!.raw, 'Subject: one\r\n  two');
});

test('round trip: a parsed message serializes back to the same bytes', (t) => {
  const text = sipText(INVITE, 'v=0\r');
  const m = parseDatagram(text);
  t.is(serialize(m).toString(), text);
  // And parsing the output gives the same structure.
  const again = parseDatagram(serialize(m));
  t.deepEqual(again.vias, m.vias);
  t.deepEqual(again.body, m.body);
});

test('changed headers are written canonically; Content-Length follows the body', (t) => {
  const m = parseDatagram(sipText(INVITE, 'v=0\r')) as SipRequest;
  const via = m.topVia;
  via.params.push({ name: 'received', value: '192.0.2.9' });
  m.headers.replaceFirstListValue('via', formatVia(via));
  m.body = Buffer.from('v=0\r\no=x\r\n');
  const out = serialize(m).toString();
  t.true(out.includes('\r\nVia: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.9, SIP/2.0/TCP p1.example.com:5070'));
  t.true(out.includes('\r\nContent-Length: 10\r\n'));
  t.false(out.includes('l: 4'));
  t.true(out.includes('X-Custom:  keep   my spacing \r\n'));
  // A message built from scratch gets Content-Length added.
  const r = new SipResponse(180);
  r.headers.append('call-id', 'abc');
  t.is(serialize(r).toString(), 'SIP/2.0 180 Ringing\r\nCall-ID: abc\r\nContent-Length: 0\r\n\r\n');
});

test('Headers: set, prepend, delete, insertAfter keep order', (t) => {
  const h = Headers.of([['Via', 'a'], ['To', 't'], ['Via', 'b'], ['X-A', '1']]);
  h.prepend('via', 'top');
  t.deepEqual(h.getAll('Via'), ['top', 'a', 'b']);
  h.set('via', 'only');
  t.deepEqual(h.fields().map((f) => `${f.name}:${f.value}`), ['Via:only', 'To:t', 'X-A:1']);
  h.insertAfter('to', 'from', 'f');
  t.deepEqual(h.fields().map((f) => f.name), ['Via', 'To', 'From', 'X-A']);
  h.delete('x-a');
  t.false(h.has('X-A'));
  const r = Headers.of([['Route', '<sip:a;lr>, <sip:b;lr>']]);
  r.removeFirstListValue('route');
  t.deepEqual(r.getList('route'), ['<sip:b;lr>']);
  r.removeFirstListValue('route');
  t.false(r.has('route'));
});

test('SIP URIs: parts, IPv6, params, headers, comparison (§19.1.4)', (t) => {
  const u = parseSipUri('sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent');
  t.like(u, { scheme: 'sips', user: 'alice', password: 'secret', host: '[2001:db8::1]', port: 5061, headers: 'subject=project%20x&priority=urgent' });
  t.deepEqual(u.params.map((p) => p.name), ['transport', 'lr', 'maddr']);
  t.is(formatUri(u), 'sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent');
  t.true(uriEquals(parseUri('sip:%61lice@atlanta.com;transport=TCP'), parseUri('sip:alice@AtLanTa.CoM;Transport=tcp')));
  t.false(uriEquals(parseUri('sip:alice@atlanta.com'), parseUri('sip:alice@atlanta.com:5060')));
  t.false(uriEquals(parseUri('sip:bob@biloxi.com'), parseUri('sip:bob@biloxi.com;transport=udp')));
  t.true(uriEquals(parseUri('sip:carol@chicago.com'), parseUri('sip:carol@chicago.com;newparam=5')));
  for (const bad of ['sip:', 'sip:user@', 'sip:host:99999', 'sip:a b@c', 'sip:[zz::1]', 'sip:h;;x', 'sip:host:5060x']) {
    t.throws(() => parseUri(bad), { instanceOf: SipParseError }, bad);
  }
});

test('name-addr: display names, addr-spec parameters, tags', (t) => {
  const a = parseNameAddr('sip:alice@atlanta.com;tag=88sja8x', 'From');
  t.is(a.displayName, null);
  t.is(formatNameAddr(a), '<sip:alice@atlanta.com>;tag=88sja8x');
  const b = parseNameAddr('"A. G. Bell" <sip:agb@bell-telephone.com> ;tag=a48s', 'From');
  t.is(b.displayName, '"A. G. Bell"');
  t.is(formatNameAddr(withTag(b, 'new')), '"A. G. Bell" <sip:agb@bell-telephone.com>;tag=new');
  const c = parseNameAddr('Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8', 'From');
  t.is(c.displayName, 'Anonymous');
  t.throws(() => parseNameAddr('<sip:a@b', 'To'), { message: /missing ">"/ });
  t.throws(() => parseNameAddr('', 'To'), { message: /empty value/ });
});

test('Via: sent-protocol with white space, IPv6 sent-by, params', (t) => {
  const v = parseVia('SIP / 2.0 / tls  host.example.com : 5071 ; branch=z9hG4bKx ; rport ; received=192.0.2.1');
  t.like(v, { protocol: 'SIP/2.0', transport: 'TLS', host: 'host.example.com', port: 5071 });
  t.is(formatVia(v), 'SIP/2.0/TLS host.example.com:5071;branch=z9hG4bKx;rport;received=192.0.2.1');
  t.is(sentByKey(parseVia('SIP/2.0/TLS h')), 'h:5061');
  t.throws(() => parseVia('SIP/2.0 host'), { instanceOf: SipParseError });
  t.throws(() => parseVia('SIP/2.0/UDP host;branch'), { message: /bad branch/ });
});

test('SipResponse.to copies Via, From, To, Call-ID, CSeq in order (§8.2.6.2)', (t) => {
  const req = parseDatagram(sipText([...INVITE.slice(0, -1), 'Timestamp: 54', 'l: 0'])) as SipRequest;
  const res = SipResponse.to(req, 100);
  t.deepEqual(res.vias, req.vias);
  t.is(res.headers.get('From'), req.headers.get('From'));
  t.is(res.headers.get('To'), req.headers.get('To'));
  t.is(res.callId, req.callId);
  t.deepEqual(res.cseq, req.cseq);
  t.is(res.headers.get('Timestamp'), '54');
  t.is(SipResponse.to(req, 180).headers.get('Timestamp'), undefined);
  t.is(res.reason, 'Trying');
});

const tight: ParseLimits = { maxHeaderBytes: 2048, maxHeaders: 20, maxBodyBytes: 100 };
const parse = (s: string | Buffer, limits = tight) => parseMessage(typeof s === 'string' ? Buffer.from(s) : s, { stream: false, limits });
const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof SipParseError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return 'no error';
};

test('limits and malformed input give typed errors, never anything else', (t) => {
  const base = ['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'To: <sip:a@b>', 'From: <sip:c@d>;tag=1', 'Call-ID: x', 'CSeq: 1 OPTIONS'];
  t.regex(code(() => parse(sipText([...base, ...Array.from({ length: 30 }, (_, i) => `X-${i}: v`)]))), /^too-many-headers/);
  t.regex(code(() => parse(sipText([...base, `X-Big: ${'a'.repeat(3000)}`]))), /^headers-too-large/);
  t.regex(code(() => parse(sipText([...base, 'Content-Length: 200'], 'x'.repeat(200)))), /^body-too-large/);
  t.regex(code(() => parse(`${base.join('\r\n')}\r\n`)), /^headers-unterminated/);
  t.regex(code(() => parse('\r\n\r\n')), /^empty/);
  t.regex(code(() => parse(Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x0d, 0x0a, 0x0d, 0x0a]))), /^encoding/);
  t.regex(code(() => parse(sipText(['OPTIONS sip:a@b SIP/2.0', 'Bad Header: x']))), /^header-syntax: bad header name/);
  t.regex(code(() => parse(sipText(['OPTIONS sip:a@b SIP/2.0', ' leading continuation']))), /^header-syntax: continuation/);
  t.regex(code(() => parse(sipText(['OPTIONS sip:a@b SIP/2.0', 'NoColon']))), /^header-syntax: header line without colon/);
  t.regex(code(() => parse(sipText(['HELLO']))), /^start-line/);
  t.regex(code(() => parse(sipText(['SIP/2.0 700 Too High', ...base.slice(1)]))), /^start-line: status code 700/);
  // Leading CRLFs before the start line are ignored (§7.5).
  t.is(code(() => parse(`\r\n\r\n${sipText(base)}`)), 'no error');
  // Random bytes: always a typed error.
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  for (let i = 0; i < 300; i++) {
    const junk = Buffer.from(Array.from({ length: 1 + (rnd() % 200) }, rnd));
    t.notRegex(code(() => parse(junk)), /^no error$/);
  }
});

test('a partially readable request carries its headers for a 400', (t) => {
  const e = t.throws(() => parse(sipText(['INVITE  sip:a@b  SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'Call-ID: x'])), { instanceOf: SipParseError });
  t.true(e!.partial!.isRequest);
  t.is(e!.partial!.headers.get('call-id'), 'x');
});

test('parsed headers are remembered until the headers change: every edit, and a new Headers, is seen', (t) => {
  const req = parseDatagram(sipText(INVITE, 'v=0\r')) as SipRequest;
  const from = req.from;
  t.is(req.from, from, 'the same parse is returned while nothing changed');
  t.is(req.toTag, null);
  req.headers.set('To', 'Bob <sip:bob@biloxi.example.com>;tag=t1');
  t.is(req.toTag, 't1');
  req.headers.delete('Via');
  req.headers.append('Via', 'SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKnew');
  t.is(req.topVia.host, '192.0.2.9');
  req.headers.replaceFirstListValue('Via', 'SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKnewer');
  t.is(req.topVia.host, '192.0.2.10');
  req.headers.prepend('Via', 'SIP/2.0/UDP 192.0.2.11;branch=z9hG4bKtop');
  t.is(req.topVia.host, '192.0.2.11');
  req.headers.removeFirstListValue('Via');
  t.is(req.topVia.host, '192.0.2.10');
  req.headers.insertAfter('Via', 'Via', 'SIP/2.0/UDP 192.0.2.12;branch=z9hG4bKlast');
  t.is(req.vias.length, 2);
  req.headers = Headers.of([['From', '<sip:carol@example.com>;tag=c'], ['To', '<sip:d@example.com>'], ['Call-ID', 'x'], ['CSeq', '7 INVITE']]);
  t.is(req.fromTag, 'c');
  t.is(req.cseq.seq, 7);
  t.is(req.callId, 'x');
});
