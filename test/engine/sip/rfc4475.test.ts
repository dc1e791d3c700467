/**
 * RFC 4475 (SIP torture test messages) as test vectors, read from test/engine/sip/vectors/rfc4475 (the
 * same files the end-to-end test sends to the engine). Valid
 * messages parse and pass validation with the values the RFC says they hold; invalid ones are
 * refused with the reason the RFC gives. Where the RFC lets an element choose, the comment says
 * what we chose.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { SipParseError, type SipParseErrorCode } from '../../../engine/sip/message/errors.js';
import type { SipMessage, SipRequest, SipResponse } from '../../../engine/sip/message/message.js';
import { parseNameAddr } from '../../../engine/sip/message/name-addr.js';
import { getParam } from '../../../engine/sip/message/params.js';
import { parseUri, parseSipUri, unescape } from '../../../engine/sip/message/uri.js';
import { validateMessage } from '../../../engine/sip/message/validate.js';
import { viaBranch } from '../../../engine/sip/message/via.js';
import { parseDatagram } from '../../helpers/sip-text.js';
import { TORTURE, rfc4475Dir, torture } from '../../helpers/rfc4475.js';

/** Parses and validates; returns the message or what refused it. */
function check(text: string | Buffer): { msg?: SipMessage; status?: number; code?: SipParseErrorCode; reason?: string } {
  let msg: SipMessage;
  try {
    msg = parseDatagram(text);
  } catch (e) {
    if (e instanceof SipParseError) return { status: 400, code: e.code, reason: e.message };
    throw e;
  }
  const r = validateMessage(msg);
  return r ? { msg, status: r.status, code: r.error.code, reason: r.error.message } : { msg };
}

function valid(t: import('ava').ExecutionContext, text: string | Buffer): SipMessage {
  const r = check(text);
  t.is(r.code, undefined, `expected valid, got ${r.code}: ${r.reason}`);
  return r.msg!;
}

// ---------------------------------------------------------------- §3.1.1 valid messages

test('3.1.1.1 wsinv: a short tortuous INVITE', (t) => {
  const m = valid(t, torture('wsinv')) as SipRequest;
  t.is(m.method, 'INVITE');
  t.is(m.body.length, 150);
  t.is(m.toTag, '1918181833n');
  t.is(m.fromTag, '98asjd8');
  t.is(m.from.displayName, '"J Rosenberg \\\\\\""');
  t.is(m.maxForwards, 68);
  t.deepEqual(m.cseq, { seq: 9, method: 'INVITE' });
  const vias = m.vias;
  t.deepEqual(
    vias.map((v) => [v.transport, v.host, viaBranch(v)]),
    [
      ['UDP', '192.0.2.2', '390skdjuw'],
      ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
      ['UDP', '192.168.255.111', 'z9hG4bK30239'],
    ],
  );
  t.is(m.headers.get('Subject'), '');
  t.is(m.headers.get('NewFangledHeader'), 'newfangled value  continued newfangled value');
  t.is(m.headers.get('unknownheaderwithunusualvalue'), ';;,,;;,;');
  const contact = m.contacts[0]!;
  t.is(contact.displayName, '"Quoted string \\"\\""');
  t.is(getParam(contact.params, 'q'), '0.33');
  t.is(getParam(contact.params, 'newparam'), 'newvalue');
  t.is(getParam(contact.params, 'secondparam'), null);
  const route = m.routes[0]!.uri;
  t.true(route.kind === 'sip' && getParam(route.params, 'lr') === null);
});

test('3.1.1.2 intmeth: wide range of valid characters', (t) => {
  const m = valid(t, torture('intmeth')) as SipRequest;
  t.is(m.method, "!interesting-Method0123456789_*+`.%indeed'~");
  const uri = parseSipUri(m.uri);
  t.is(uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  t.is(uri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  t.is(uri.host, 'example.com');
  t.is(m.fromTag, "_token~1'+`*%!-.");
  t.is(m.from.displayName, "token1~` token2'+_ token3*%!.-");
  t.is(m.callId, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
  t.is(m.headers.get("extensionHeader-!.%*+_`'~"), '\uFEFF\u5927\u505C\u96FB');
  t.is(m.maxForwards, 255);
});

test('3.1.1.3 esc01: valid use of the % escaping mechanism', (t) => {
  const m = valid(t, torture('esc01')) as SipRequest;
  const ruri = parseSipUri(m.uri);
  t.is(unescape(ruri.user!), 'sips:user@example.com');
  t.is(ruri.host, 'example.net');
  const to = m.to.uri;
  t.true(to.kind === 'sip' && unescape(to.user!) === 'user');
  t.is(m.callId, 'esc01.239409asdfakjkn23onasd0-3234');
  t.is(m.contentType, 'application/sdp');
  const c = m.contacts[0]!.uri;
  t.true(c.kind === 'sip' && c.params.length === 2 && unescape(c.params[1]!.value!) === 'value%41');
});

test('3.1.1.4 escnull: escaped nulls in URIs', (t) => {
  const m = valid(t, torture('escnull'));
  t.is(m.contacts.length, 2);
  const u = m.contacts[1]!.uri;
  t.true(u.kind === 'sip' && unescape(u.user!) === '\x00\x00');
  t.is(m.body.length, 0);
});

test('3.1.1.5 esc02: % that is not an escape (method and an extension header)', (t) => {
  const m = valid(t, torture('esc02')) as SipRequest;
  // The method is the token RE%47IST%45R, not REGISTER; C%6Fntact is an unknown header.
  t.is(m.method, 'RE%47IST%45R');
  t.is(m.contacts.length, 2);
  t.is(m.headers.get('C%6Fntact'), '<sip:alias2@host2.example.com>');
});

test('3.1.1.6 lwsdisp: no LWS between display name and <', (t) => {
  const m = valid(t, torture('lwsdisp'));
  t.is(m.from.displayName, 'caller');
  t.is(m.fromTag, '323');
});

test('3.1.1.7 longreq: long values in header fields', (t) => {
  const raw = torture('longreq');
  t.true(raw.length > 3500);
  const m = valid(t, raw);
  t.is(m.fromTag, `1${'2982'.repeat(40)}424`);
  // 33 Vias named in every case and spacing RFC 3261 allows (v, V, ViA, "V  :"...), and one more.
  t.is(m.vias.length, 34);
  t.is(m.vias[33]!.host, 'host.example.com');
  t.is(m.to.uri.kind === 'sip' ? m.to.uri.port : 0, 6000);
  t.regex(m.callId, /^longreq\.one(really){20}longcallid$/);
});

test('3.1.1.8 dblreq: extra trailing octets in a UDP datagram are discarded', (t) => {
  const m = valid(t, torture('dblreq')) as SipRequest;
  t.is(m.method, 'REGISTER');
  t.is(m.body.length, 0);
});

test('3.1.1.9 semiuri: semicolon-separated parameters in the URI user part', (t) => {
  const m = valid(t, torture('semiuri')) as SipRequest;
  const u = parseSipUri(m.uri);
  t.is(u.user, 'user;par=u%40example.net');
  t.is(u.host, 'example.com');
  t.is(u.params.length, 0);
  t.deepEqual(m.headers.getList('Accept'), [
    'application/sdp', 'application/pkcs7-mime', 'multipart/mixed', 'multipart/signed', 'message/sip', 'message/sipfrag',
  ]);
});

test('3.1.1.10 transports: varied and unknown transport types', (t) => {
  const m = valid(t, torture('transports'));
  t.deepEqual(m.vias.map((v) => v.transport), ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
});

test('3.1.1.11 mpart01: multipart MIME body is kept byte for byte', (t) => {
  const raw = torture('mpart01');
  const m = valid(t, raw);
  t.is(m.contentType, 'multipart/mixed;boundary=7a9cbec02ceef655');
  t.is(m.body.length, 553);
  t.deepEqual(m.body, raw.subarray(raw.length - 553));
  // The binary S/MIME part (DER, from 0x30 0x82) survives as bytes.
  t.true(m.body.includes(Buffer.from([0x30, 0x82, 0x01, 0x52, 0x06, 0x09])));
});

test('3.1.1.12 unreason: unusual reason phrase (UTF-8)', (t) => {
  const m = valid(t, torture('unreason')) as SipResponse;
  t.is(m.status, 200);
  t.is(m.reason, '= 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e \u0434\u0435\u0432\u044f\u043d\u043e\u0441\u0442\u043e \u0434\u0435\u0432\u044f\u0442\u044c - \u043f\u0440\u043e\u0441\u0442\u043e\u0435');
});

test('3.1.1.13 noreason: empty reason phrase', (t) => {
  const m = valid(t, torture('noreason')) as SipResponse;
  t.is(m.status, 100);
  t.is(m.reason, '');
});

// ---------------------------------------------------------------- §3.1.2 invalid messages

const invalid: [string, string, number, SipParseErrorCode, RegExp][] = [
  ['3.1.2.1 badinv01: extraneous header field separators', 'badinv01', 400, 'bad-header-value', /empty parameter/],
  ['3.1.2.2 clerr: Content-Length larger than the message', 'clerr', 400, 'content-length', /larger than/],
  ['3.1.2.3 ncl: negative Content-Length', 'ncl', 400, 'content-length', /Content-Length/],
  ['3.1.2.4 scalar02: request scalar fields with overlarge values', 'scalar02', 400, 'bad-header-value', /CSeq: sequence number out of range/],
  ['3.1.2.5 scalarlg: response scalar fields with overlarge values', 'scalarlg', 400, 'bad-header-value', /CSeq/],
  ['3.1.2.6 quotbal: unterminated quoted string in display name', 'quotbal', 400, 'bad-header-value', /To: unterminated quoted string/],
  ['3.1.2.7 ltgtruri: <> enclosing the Request-URI', 'ltgtruri', 400, 'bad-uri', /no scheme/],
  ['3.1.2.8 lwsruri: LWS inside the Request-URI', 'lwsruri', 400, 'start-line', /bad start line/],
  ['3.1.2.9 lwsstart: several SP between Request-Line elements', 'lwsstart', 400, 'start-line', /bad start line/],
  // The RFC lets an element tolerate trailing SP or reject it; we reject (the grammar has no room for it).
  ['3.1.2.10 trws: SP at the end of the Request-Line', 'trws', 400, 'start-line', /bad start line/],
  ['3.1.2.11 escruri: escaped headers in the Request-URI', 'escruri', 400, 'bad-uri', /headers not allowed in the Request-URI/],
  ['3.1.2.14 badaspec: spaces within addr-spec', 'badaspec', 400, 'bad-header-value', /To: white space inside <>/],
  ['3.1.2.16 badvers: unknown protocol version', 'badvers', 505, 'version', /SIP\/7\.0 not supported/],
  ['3.1.2.17 mismatch01: start line and CSeq method mismatch', 'mismatch01', 400, 'cseq-method-mismatch', /CSeq method INVITE does not match OPTIONS/],
  ['3.1.2.18 mismatch02: unknown method with CSeq method mismatch', 'mismatch02', 400, 'cseq-method-mismatch', /does not match NEWMETHOD/],
  ['3.1.2.19 bigcode: overlarge response code', 'bigcode', 400, 'start-line', /bad start line/],
  // ---------------------------------------------------------- §3.3 application-layer semantics
  ['3.3.1 insuf: missing required header fields', 'insuf', 400, 'missing-header', /missing From header/],
  // The RFC's multi01 says l: 154 over a 152-byte body: the datagram is refused for that first.
  ['3.3.8 multi01: multiple values in single-value fields', 'multi01', 400, 'content-length', /Content-Length 154 larger than the 152 bytes/],
  ['3.3.9 mcl01: multiple Content-Length values', 'mcl01', 400, 'duplicate-header', /more than one Content-Length/],
];

for (const [title, name, status, code, reason] of invalid) {
  test(title, (t) => {
    const r = check(torture(name));
    t.is(r.code, code, r.reason);
    t.is(r.status, status);
    t.regex(r.reason ?? '', reason);
  });
}

test('3.3.8 multi01: with the body its Content-Length promises, the repeated single-valued headers are refused', (t) => {
  const r = check(Buffer.concat([torture('multi01'), Buffer.from('\r\n')]));
  t.is(r.code, 'duplicate-header', r.reason);
  t.regex(r.reason ?? '', /more than one Call-ID/);
});

test('3.1.2.15 baddn: non-token characters in display name; the RFC sends it without the empty line', (t) => {
  const e = t.throws(() => parseDatagram(torture('baddn')), { instanceOf: SipParseError });
  t.is(e!.code, 'headers-unterminated');
  // The datagram bounds the message: its headers are still read, so a 400 can go back.
  t.true(e!.partial!.isRequest);
  t.throws(() => parseNameAddr(e!.partial!.headers.get('From')!, 'From'), { message: /From: bad display name "Bell, Alexander"/ });
});

test('3.1.2.12 baddate: an invalid time zone in Date is accepted (we do not interpret Date)', (t) => {
  const m = valid(t, torture('baddate'));
  t.is(m.headers.get('Date'), 'Fri, 01 Jan 2010 16:00:00 EST');
});

test('3.1.2.13 regbadct: an addr-spec with "?" outside <> is rejected when the Contact is read', (t) => {
  const m = valid(t, torture('regbadct'));
  const e = t.throws(() => m.contacts, { instanceOf: SipParseError });
  t.regex(e!.message, /must be enclosed in <>/);
});

test('3.2.1 badbranch: a branch of only the magic cookie is a valid request', (t) => {
  const m = valid(t, torture('badbranch'));
  t.is(viaBranch(m.topVia), 'z9hG4bK');
});

test('3.3.2 unkscm / 3.3.3 novelsc / 3.3.4 unksm2: unknown URI schemes parse as opaque URIs', (t) => {
  const a = valid(t, torture('unkscm')) as SipRequest;
  t.like(parseUri(a.uri), { kind: 'absolute', rest: 'totallyopaquecontent' });
  t.regex((parseUri(a.uri) as { scheme: string }).scheme, /^nobodyknowsthisscheme$/i);
  const b = valid(t, torture('novelsc')) as SipRequest;
  t.like(parseUri(b.uri), { kind: 'absolute', scheme: 'soap.beep' });
  const c = valid(t, torture('unksm2'));
  t.like(c.to.uri, { kind: 'absolute', scheme: 'isbn' });
  t.is(c.fromTag, '3234233');
  t.like(c.contacts[0]!.uri, { kind: 'absolute', scheme: 'name', rest: 'John_Smith' });
});

test('3.3.5 bext01, 3.3.6 invut, 3.3.7 regaut01, 3.3.12-15 cparam01, cparam02, regescrt, sdp01: well formed', (t) => {
  const bext = valid(t, torture('bext01'));
  t.deepEqual(bext.headers.getList('Require'), ['nothingSupportsThis', 'nothingSupportsThisEither']);
  t.is(valid(t, torture('invut')).contentType, 'application/unknownformat');
  t.is(valid(t, torture('regaut01')).headers.get('Authorization'), 'NoOneKnowsThisScheme opaque-data=here');
  t.like(valid(t, torture('cparam01')).contacts[0]!.uri, { kind: 'sip', user: '+19725552222' });
  const c2 = valid(t, torture('cparam02')).contacts[0]!.uri;
  t.true(c2.kind === 'sip' && getParam(c2.params, 'unknownparam') === null);
  t.like(valid(t, torture('regescrt')).contacts[0]!.uri, { kind: 'sip', headers: 'Route=%3Csip:sip.example.com%3E' });
  t.is(valid(t, torture('sdp01')).headers.get('Accept'), 'text/nobodyKnowsThis');
});

test('3.3.10 bcast: a response with a broadcast Via parses (the transport drops it: not our sent-by)', (t) => {
  const m = valid(t, torture('bcast'));
  t.is(m.vias[1]!.host, '255.255.255.255');
});

test('3.3.11 zeromf: Max-Forwards of zero is a valid request', (t) => {
  t.is(valid(t, torture('zeromf')).maxForwards, 0);
});

test('3.4.1 inv2543: an RFC 2543 INVITE (no branch, no From tag, no Max-Forwards, no Contact, no Content-Length) is valid', (t) => {
  const m = valid(t, torture('inv2543'));
  t.is(viaBranch(m.topVia), null);
  t.is(m.fromTag, null);
  t.is(m.maxForwards, null);
  t.false(m.headers.has('Contact'));
  // §18.3: over UDP, no Content-Length means the body runs to the end of the datagram.
  t.regex(m.body.toString(), /^v=0\r\n[^]*m=audio 49217 RTP\/AVP 0\r\n$/);
});

test('the corpus: 49 messages, 44 byte for byte as in the RFC archive (SHA256SUMS)', (t) => {
  t.is(TORTURE.length, 49);
  const sums = fs.readFileSync(path.join(rfc4475Dir, 'SHA256SUMS'), 'utf8').trim().split('\n');
  t.is(sums.length, 44);
  for (const line of sums) {
    const [hash, file] = line.split(/\s+/) as [string, string];
    t.is(createHash('sha256').update(fs.readFileSync(path.join(rfc4475Dir, file))).digest('hex'), hash, file);
  }
});
