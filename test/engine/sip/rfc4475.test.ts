/**
 * RFC 4475 (SIP torture test messages) as test vectors, written from the RFC's text. Valid
 * messages parse and pass validation with the values the RFC says they hold; invalid ones are
 * refused with the reason the RFC gives. Where the RFC lets an element choose, the comment says
 * what we chose.
 */
import test from 'ava';
import { SipParseError, type SipParseErrorCode } from '../../../engine/sip/message/errors.js';
import type { SipMessage, SipRequest, SipResponse } from '../../../engine/sip/message/message.js';
import { parseNameAddr, tagOf } from '../../../engine/sip/message/name-addr.js';
import { getParam } from '../../../engine/sip/message/params.js';
import { parseUri, parseSipUri, unescape } from '../../../engine/sip/message/uri.js';
import { validateMessage } from '../../../engine/sip/message/validate.js';
import { viaBranch } from '../../../engine/sip/message/via.js';
import { SDP_150, crlfLines, parseDatagram, sipText } from '../../helpers/sip-text.js';

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
  const text = sipText(
    [
      'INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0',
      'TO :',
      ' sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n',
      'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>',
      '  ;',
      '  tag = 98asjd8',
      'MaX-fOrWaRdS: 0068',
      'Call-ID: wsinv.ndaksdj@192.0.2.1',
      'Content-Length   : 150',
      'cseq: 0009',
      '  INVITE',
      'Via  : SIP  /   2.0',
      ' /UDP',
      '    192.0.2.2;branch=390skdjuw',
      's :',
      'NewFangledHeader:   newfangled value',
      ' continued newfangled value',
      'UnknownHeaderWithUnusualValue: ;;,,;;,;',
      'Content-Type: application/sdp',
      'Route:',
      ' <sip:services.example.com;lr;unknownwith=value;unknown-no-value>',
      'v:  SIP  / 2.0  / TCP     spindle.example.com   ;',
      '  branch  =   z9hG4bK9ikj8  ,',
      ' SIP  /    2.0   / UDP  192.168.255.111   ; branch=',
      ' z9hG4bK30239',
      'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =',
      '      newvalue ;',
      '  secondparam ; q = 0.33',
    ],
    SDP_150,
  );
  const m = valid(t, text) as SipRequest;
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
  const text = sipText([
    "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0",
    "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~",
    "To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>",
    "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439\";tag=_token~1'+`*%!-.",
    "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",
    "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~",
    'Max-Forwards: 255',
    "extensionHeader-!.%*+_`'~:\uFEFF\u5927\u505C\u96FB",
    'Content-Length: 0',
  ]);
  const m = valid(t, text) as SipRequest;
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
  const text = sipText(
    [
      'INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0',
      'To: sip:%75se%72@example.com',
      'From: <sip:I%20have%20spaces@example.net>;tag=938',
      'Max-Forwards: 87',
      'i: esc01.239409asdfakjkn23onasd0-3234',
      'CSeq: 234234 INVITE',
      'Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw',
      'C: application/sdp',
      'Contact:',
      '  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>',
      'Content-Length: 150',
    ],
    SDP_150,
  );
  const m = valid(t, text) as SipRequest;
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
  const m = valid(
    t,
    sipText([
      'REGISTER sip:example.com SIP/2.0',
      'To: sip:null-%00-null@example.com',
      'From: sip:null-%00-null@example.com;tag=839923423',
      'Max-Forwards: 70',
      'Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd',
      'CSeq: 14398234 REGISTER',
      'Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw',
      'Contact: <sip:%00@host5.example.com>',
      'Contact: <sip:%00%00@host5.example.com>',
      'L:0',
    ]),
  );
  t.is(m.contacts.length, 2);
  const u = m.contacts[1]!.uri;
  t.true(u.kind === 'sip' && unescape(u.user!) === '\x00\x00');
  t.is(m.body.length, 0);
});

test('3.1.1.5 esc02: % that is not an escape (method and an extension header)', (t) => {
  const m = valid(
    t,
    sipText([
      'RE%47IST%45R sip:registrar.example.com SIP/2.0',
      'To: "%Z%45" <sip:resource@example.com>',
      'From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23',
      'Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf',
      'Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234',
      'CSeq: 29344 RE%47IST%45R',
      'Max-Forwards: 70',
      'Contact: <sip:alias1@host1.example.com>',
      'C%6Fntact: <sip:alias2@host2.example.com>',
      'Contact: <sip:alias3@host3.example.com>',
      'l: 0',
    ]),
  ) as SipRequest;
  // The method is the token RE%47IST%45R, not REGISTER; C%6Fntact is an unknown header.
  t.is(m.method, 'RE%47IST%45R');
  t.is(m.contacts.length, 2);
  t.is(m.headers.get('C%6Fntact'), '<sip:alias2@host2.example.com>');
});

test('3.1.1.6 lwsdisp: no LWS between display name and <', (t) => {
  const m = valid(
    t,
    sipText([
      'OPTIONS sip:user@example.com SIP/2.0',
      'To: sip:user@example.com',
      'From: caller<sip:caller@example.com>;tag=323',
      'Max-Forwards: 70',
      'Call-ID: lwsdisp.1234abcd@funky.example.com',
      'CSeq: 60 OPTIONS',
      'Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw',
      'l: 0',
    ]),
  );
  t.is(m.from.displayName, 'caller');
  t.is(m.fromTag, '323');
});

test('3.1.1.7 longreq: long values in header fields', (t) => {
  const long = (s: string, n: number) => s.repeat(n);
  const tag = long('12982982982', 30);
  const vias = Array.from({ length: 34 }, (_, i) => `Via: SIP/2.0/TCP sip${33 - i}.example.com`);
  const text = sipText([
    'INVITE sip:user@example.com SIP/2.0',
    `To: "I have a user name of ${long('extreme', 30)} proportion"<sip:user@example.com:6000;unknownparam1=very${long('long', 40)}value;longparamnamesheretoo=${long('verylong', 20)}>`,
    `From: sip:${long('amazinglylong', 20)}callername@example.net;tag=${tag};unknownheaderparam${long('name', 20)}=unknowheaderparam${long('value', 20)};unknownValuelessparamname`,
    `Call-ID: longreq.${long('onereallyreallyreallyreally', 30)}longcallid`,
    'CSeq: 3882340 INVITE',
    `Unknown-${long('Long', 40)}-Name: unknown-${long('long', 40)}-value; unknown-${long('long', 20)}-parameter-name = unknown-${long('long', 20)}-parameter-value`,
    'Via: SIP/2.0/TCP sip33.example.com',
    ...vias,
    'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKlong',
    'Max-Forwards: 70',
    `Contact: <sip:${long('amazinglylong', 20)}callername@host5.example.net>`,
    'Content-Type: application/sdp',
    'l: 150',
  ], SDP_150);
  t.true(Buffer.byteLength(text) > 4000);
  const m = valid(t, text);
  t.is(m.fromTag, tag);
  t.is(m.vias.length, 36);
  t.is(m.to.uri.kind === 'sip' ? m.to.uri.port : 0, 6000);
});

test('3.1.1.8 dblreq: extra trailing octets in a UDP datagram are discarded', (t) => {
  const text =
    sipText([
      'REGISTER sip:example.com SIP/2.0',
      'To: sip:j.user@example.com',
      'From: sip:j.user@example.com;tag=43251j3j324',
      'Max-Forwards: 8',
      'I: dblreq.0ha0isndaksdj99sdfafnl3lk233412',
      'Contact: sip:j.user@host.example.com',
      'CSeq: 8 REGISTER',
      'Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492',
      'Content-Length: 0',
    ]) +
    sipText(
      [
        'INVITE sip:joe@example.com SIP/2.0',
        't: sip:joe@example.com',
        'From: sip:caller@example.net;tag=141334',
        'Max-Forwards: 8',
        'Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15',
        'CSeq: 8 INVITE',
        'Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234',
        'Content-Type: application/sdp',
        'Content-Length: 150',
      ],
      SDP_150,
    );
  const m = valid(t, text) as SipRequest;
  t.is(m.method, 'REGISTER');
  t.is(m.body.length, 0);
});

test('3.1.1.9 semiuri: semicolon-separated parameters in the URI user part', (t) => {
  const m = valid(
    t,
    sipText([
      'OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0',
      'To: sip:j_user@example.com',
      'From: sip:caller@example.org;tag=33242',
      'Max-Forwards: 3',
      'Call-ID: semiuri.0ha0isndaksdj',
      'CSeq: 8 OPTIONS',
      'Accept: application/sdp, application/pkcs7-mime,',
      '        multipart/mixed, multipart/signed,',
      '        message/sip, message/sipfrag',
      'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw',
      'l: 0',
    ]),
  ) as SipRequest;
  const u = parseSipUri(m.uri);
  t.is(u.user, 'user;par=u%40example.net');
  t.is(u.host, 'example.com');
  t.is(u.params.length, 0);
  t.deepEqual(m.headers.getList('Accept'), [
    'application/sdp', 'application/pkcs7-mime', 'multipart/mixed', 'multipart/signed', 'message/sip', 'message/sipfrag',
  ]);
});

test('3.1.1.10 transports: varied and unknown transport types', (t) => {
  const m = valid(
    t,
    sipText([
      'OPTIONS sip:user@example.com SIP/2.0',
      'To: sip:user@example.com',
      'From: <sip:caller@example.com>;tag=323',
      'Max-Forwards: 70',
      'Call-ID:  transports.kijh4akdnaqjkwendsasfdj',
      'Accept: application/sdp',
      'CSeq: 60 OPTIONS',
      'Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw',
      'Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf',
      'Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj',
      'Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en',
      'Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee',
      'l: 0',
    ]),
  );
  t.deepEqual(m.vias.map((v) => v.transport), ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
});

test('3.1.1.11 mpart01: multipart MIME body is kept byte for byte', (t) => {
  const body = crlfLines([
    '--++',
    'Content-Type: application/sdp',
    '',
    'v=0',
    'o=alice 2890844526 2890844526 IN IP4 host.example.com',
    '--++',
    'Content-Type: application/pkcs7-signature',
    '',
    '\x00\x01\x02binary\xff',
    '--++--',
  ]);
  const bytes = Buffer.concat([
    Buffer.from(
      sipText([
        'MESSAGE sip:kumiko@example.org SIP/2.0',
        'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport',
        'Max-Forwards: 70',
        'To: <sip:kumiko@example.org>',
        'From: <sip:fluffy@example.com>;tag=2fb0dfc9',
        'Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..',
        'CSeq: 1 MESSAGE',
        'Content-Type: multipart/mixed;boundary=++',
        `Content-Length: ${Buffer.byteLength(body, 'latin1')}`,
      ]),
    ),
    Buffer.from(body, 'latin1'),
  ]);
  const m = valid(t, bytes);
  t.deepEqual(m.body, Buffer.from(body, 'latin1'));
});

test('3.1.1.12 unreason: unusual reason phrase (UTF-8)', (t) => {
  const reason = '= 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e \u0434\u0435\u0432\u044f\u043d\u043e\u0441\u0442\u043e \u0434\u0435\u0432\u044f\u0442\u044c - \u043f\u0440\u043e\u0441\u0442\u043e\u0435';
  const m = valid(
    t,
    sipText(
      [
        `SIP/2.0 200 ${reason}`,
        'Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923',
        'Call-ID: unreason.1234ksdfak3j2erwedfsASdf',
        'CSeq: 35 INVITE',
        'From: sip:user@example.com;tag=11141343',
        'To: sip:user@example.edu;tag=2229',
        'Content-Length: 150',
        'Content-Type: application/sdp',
        'Contact: <sip:user@host198.example.com>',
      ],
      SDP_150,
    ),
  ) as SipResponse;
  t.is(m.status, 200);
  t.is(m.reason, reason);
});

test('3.1.1.13 noreason: empty reason phrase', (t) => {
  const m = valid(
    t,
    sipText([
      'SIP/2.0 100 ',
      'Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe',
      'Call-ID: noreason.asndj203insdf99223ndf',
      'CSeq: 35 INVITE',
      'From: <sip:user@example.com>;tag=39ansfi3',
      'To: <sip:user@example.edu>;tag=902jndnke3',
      'Content-Length: 0',
      'Contact: <sip:user@host105.example.com>',
    ]),
  ) as SipResponse;
  t.is(m.status, 100);
  t.is(m.reason, '');
});

// ---------------------------------------------------------------- §3.1.2 invalid messages

const basic = (start: string, extra: string[] = [], cseq = '1 INVITE') => [
  start,
  'To: sip:user@example.com',
  'From: sip:caller@example.net;tag=39291',
  'Max-Forwards: 70',
  'Call-ID: torture@192.0.2.5',
  `CSeq: ${cseq}`,
  'Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bKtorture',
  ...extra,
];

const invalid: [string, string, number, SipParseErrorCode, RegExp][] = [
  [
    '3.1.2.1 badinv01: extraneous header field separators',
    sipText([
      'INVITE sip:user@example.com SIP/2.0',
      'To: sip:j.user@example.com',
      'From: sip:caller@example.net;;tag=134161461246',
      'Max-Forwards: 7',
      'Call-ID: badinv01.0ha0isndaksdjasdf3234nas',
      'CSeq: 8 INVITE',
      'Via: SIP/2.0/UDP 192.0.2.15;;,;,,',
      'Contact: "Joe" <sip:joe@example.org>;;;;',
      'Content-Length: 150',
      'Content-Type: application/sdp',
    ], SDP_150),
    400, 'bad-header-value', /empty parameter/,
  ],
  [
    '3.1.2.2 clerr: Content-Length larger than the message',
    sipText([
      'INVITE sip:user@example.com SIP/2.0',
      'Max-Forwards: 80',
      'To: sip:j.user@example.com',
      'From: sip:caller@example.net;tag=93942939o2',
      'Contact: <sip:caller@hungry.example.net>',
      'Call-ID: clerr.0ha0isndaksdjweiafasdk3',
      'CSeq: 8 INVITE',
      'Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523',
      'Content-Type: application/sdp',
      'Content-Length: 9999',
    ], SDP_150),
    400, 'content-length', /larger than/,
  ],
  [
    '3.1.2.3 ncl: negative Content-Length',
    sipText([
      'INVITE sip:user@example.com SIP/2.0',
      'Max-Forwards: 254',
      'To: sip:j.user@example.com',
      'From: sip:caller@example.net;tag=32394234',
      'Call-ID: ncl.0ha0isndaksdj2193423r542w35',
      'CSeq: 0 INVITE',
      'Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw',
      'Contact: <sip:caller@example53.example.net>',
      'Content-Type: application/sdp',
      'Content-Length: -999',
    ], SDP_150),
    400, 'content-length', /Content-Length/,
  ],
  [
    '3.1.2.4 scalar02: request scalar fields with overlarge values',
    sipText([
      'REGISTER sip:example.com SIP/2.0',
      'Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3',
      'To: <sip:user@example.com>',
      'From: <sip:user@example.com>;tag=239232jh3',
      'CSeq: 36893488147419103232 REGISTER',
      'Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32',
      'Max-Forwards: 300',
      `Expires: 1${'0'.repeat(100)}`,
      'Contact: <sip:user@host129.example.com>;expires=280297596632815',
      'Content-Length: 0',
    ]),
    400, 'bad-header-value', /CSeq: sequence number out of range/,
  ],
  [
    '3.1.2.5 scalarlg: response scalar fields with overlarge values',
    sipText([
      'SIP/2.0 503 Service Unavailable',
      'Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129',
      'To: <sip:user@example.com>',
      'From: <sip:other@example.net>;tag=2easdjfejw',
      'CSeq: 9292394834772304023312 OPTIONS',
      'Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r',
      'Retry-After: 949302838503028349304023988',
      'Warning: 1812 overture "In Progress"',
      'Content-Length: 0',
    ]),
    400, 'bad-header-value', /CSeq/,
  ],
  [
    '3.1.2.6 quotbal: unterminated quoted string in display name',
    sipText([
      'INVITE sip:user@example.com SIP/2.0',
      'To: "Mr. J. User <sip:j.user@example.com>',
      'From: sip:caller@example.net;tag=93334',
      'Max-Forwards: 10',
      'Call-ID: quotbal.aksdj',
      'Contact: <sip:caller@host59.example.net>',
      'CSeq: 8 INVITE',
      'Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234',
      'Content-Type: application/sdp',
      'Content-Length: 150',
    ], SDP_150),
    400, 'bad-header-value', /To: unterminated quoted string/,
  ],
  [
    '3.1.2.7 ltgtruri: <> enclosing the Request-URI',
    sipText(basic('INVITE <sip:user@example.com> SIP/2.0')),
    400, 'bad-uri', /no scheme/,
  ],
  ['3.1.2.8 lwsruri: LWS inside the Request-URI', sipText(basic('INVITE sip:user@example.com; lr SIP/2.0')), 400, 'start-line', /bad start line/],
  ['3.1.2.9 lwsstart: several SP between Request-Line elements', sipText(basic('INVITE  sip:user@example.com  SIP/2.0')), 400, 'start-line', /bad start line/],
  // The RFC lets an element tolerate trailing SP or reject it; we reject (the grammar has no room for it).
  ['3.1.2.10 trws: SP at the end of the Request-Line', sipText(basic('OPTIONS sip:remote-target@example.com SIP/2.0  ', [], '1 OPTIONS')), 400, 'start-line', /bad start line/],
  [
    '3.1.2.11 escruri: escaped headers in the Request-URI',
    sipText(basic('INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0')),
    400, 'bad-uri', /headers not allowed in the Request-URI/,
  ],
  [
    '3.1.2.14 badaspec: spaces within addr-spec',
    sipText([
      'OPTIONS sip:user@example.org SIP/2.0',
      'Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234',
      'Max-Forwards: 70',
      'From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423',
      'To: "Watson, Thomas" < sip:t.watson@example.org >',
      'Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3',
      'Accept: application/sdp',
      'CSeq: 3923239 OPTIONS',
      'l: 0',
    ]),
    400, 'bad-header-value', /To: white space inside <>/,
  ],
  [
    '3.1.2.15 baddn: non-token characters in display name',
    sipText([
      'OPTIONS sip:t.watson@example.org SIP/2.0',
      'Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw',
      'Max-Forwards:      70',
      'From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43',
      'To:      Watson, Thomas <sip:t.watson@example.org>',
      'Call-ID: baddn.31415@c.example.com',
      'Accept: application/sdp',
      'CSeq:    3923239 OPTIONS',
      'l: 0',
    ]),
    400, 'bad-header-value', /From: bad display name "Bell, Alexander"/,
  ],
  [
    '3.1.2.16 badvers: unknown protocol version',
    sipText(basic('OPTIONS sip:t.watson@example.org SIP/7.0', ['l: 0'], '1 OPTIONS')),
    505, 'version', /SIP\/7\.0 not supported/,
  ],
  [
    '3.1.2.17 mismatch01: start line and CSeq method mismatch',
    sipText(basic('OPTIONS sip:user@example.com SIP/2.0', ['l: 0'], '8 INVITE')),
    400, 'cseq-method-mismatch', /CSeq method INVITE does not match OPTIONS/,
  ],
  [
    '3.1.2.18 mismatch02: unknown method with CSeq method mismatch',
    sipText(basic('NEWMETHOD sip:user@example.com SIP/2.0', ['l: 0'], '8 INVITE')),
    400, 'cseq-method-mismatch', /does not match NEWMETHOD/,
  ],
  [
    '3.1.2.19 bigcode: overlarge response code',
    sipText([
      'SIP/2.0 4294967301 better not break the receiver',
      'Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe',
      'Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i',
      'CSeq: 353494 INVITE',
      'From: <sip:user@example.com>;tag=39ansfi3',
      'To: <sip:user@example.edu>;tag=902jndnke3',
      'Content-Length: 0',
      'Contact: <sip:user@host105.example.com>',
    ]),
    400, 'start-line', /bad start line/,
  ],
  // ---------------------------------------------------------- §3.3 application-layer semantics
  [
    '3.3.1 insuf: missing required header fields',
    sipText([
      'INVITE sip:user@example.com SIP/2.0',
      'CSeq: 193942 INVITE',
      'Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf',
      'Content-Type: application/sdp',
      'l: 150',
    ], SDP_150),
    400, 'missing-header', /missing From header/,
  ],
  [
    '3.3.8 multi01: multiple values in single-value fields',
    sipText([
      'INVITE sip:user@company.com SIP/2.0',
      'Contact: <sip:caller@host25.example.net>',
      'Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw',
      'Max-Forwards: 70',
      'CSeq: 5 INVITE',
      'Call-ID: multi01.98asdh@192.0.2.1',
      'CSeq: 59 INVITE',
      'Call-ID: multi01.98asdh@192.0.2.2',
      'From: sip:caller@example.com;tag=3413415',
      'To: sip:user@example.com',
      'To: sip:other@example.net',
      'From: sip:caller@example.net;tag=2923420123',
      'Content-Type: application/sdp',
      'l: 150',
      'Call-ID: multi01.98asdh@192.0.2.3',
      'Max-Forwards: 15',
    ], SDP_150),
    400, 'duplicate-header', /more than one Call-ID/,
  ],
  [
    '3.3.9 mcl01: multiple Content-Length values',
    sipText([
      'OPTIONS sip:user@example.com SIP/2.0',
      'Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423',
      'To: <sip:user@example.com>',
      'From: <sip:other@example.net>;tag=3923942',
      'Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf',
      'CSeq: 15932 OPTIONS',
      'Content-Length: 13',
      'Max-Forwards: 60',
      'Content-Length: 5',
      'Content-Type: text/plain',
    ], "There's no way to know how many octets are supposed to be here.\r\n"),
    400, 'duplicate-header', /more than one Content-Length/,
  ],
];

for (const [name, text, status, code, reason] of invalid) {
  test(name, (t) => {
    const r = check(text);
    t.is(r.code, code, r.reason);
    t.is(r.status, status);
    t.regex(r.reason ?? '', reason);
  });
}

test('3.1.2.12 baddate: an invalid time zone in Date is accepted (we do not interpret Date)', (t) => {
  const m = valid(t, sipText(basic('INVITE sip:user@example.com SIP/2.0', ['Date: Fri, 01 Jan 2010 16:00:00 EST', 'l: 0'])));
  t.is(m.headers.get('Date'), 'Fri, 01 Jan 2010 16:00:00 EST');
});

test('3.1.2.13 regbadct: an addr-spec with "?" outside <> is rejected when the Contact is read', (t) => {
  const m = valid(
    t,
    sipText([
      'REGISTER sip:example.com SIP/2.0',
      'To: sip:user@example.com',
      'From: sip:user@example.com;tag=998332',
      'Max-Forwards: 70',
      'Call-ID: regbadct.k345asrl3fdbv@10.0.0.1',
      'CSeq: 1 REGISTER',
      'Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw',
      'Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E',
      'l: 0',
    ]),
  );
  const e = t.throws(() => m.contacts, { instanceOf: SipParseError });
  t.regex(e!.message, /must be enclosed in <>/);
});

test('3.3.2 unkscm / 3.3.3 novelsc / 3.3.4 unksm2: unknown URI schemes parse as opaque URIs', (t) => {
  const a = valid(t, sipText(basic('OPTIONS nobodyknowsthisscheme:totallyopaquecontent SIP/2.0', ['Content-Length: 0'], '3923423 OPTIONS'))) as SipRequest;
  t.like(parseUri(a.uri), { kind: 'absolute', scheme: 'nobodyknowsthisscheme', rest: 'totallyopaquecontent' });
  const b = valid(t, sipText(basic('OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0', ['l: 0'], '1 OPTIONS'))) as SipRequest;
  t.like(parseUri(b.uri), { kind: 'absolute', scheme: 'soap.beep' });
  const c = valid(
    t,
    sipText([
      'REGISTER sip:example.com SIP/2.0',
      'To: isbn:2983792873',
      'From: <http://www.example.com>;tag=3234233',
      'Call-ID: unksm2.daksdj@hyphenated-host.example.com',
      'CSeq: 234902 REGISTER',
      'Max-Forwards: 70',
      'Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw',
      'Contact: <name:John_Smith>',
      'l: 0',
    ]),
  );
  t.like(c.to.uri, { kind: 'absolute', scheme: 'isbn' });
  t.is(c.fromTag, '3234233');
  t.like(c.contacts[0]!.uri, { kind: 'absolute', scheme: 'name', rest: 'John_Smith' });
});

test('3.3.11 zeromf: Max-Forwards of zero is a valid request', (t) => {
  const m = valid(t, sipText(basic('OPTIONS sip:user@example.com SIP/2.0', ['Max-Forwards: 0', 'l: 0'], '1 OPTIONS').filter((l) => l !== 'Max-Forwards: 70')));
  t.is(m.maxForwards, 0);
});

test('3.4.1 inv2543: an RFC 2543 INVITE (no branch, no From tag, no Max-Forwards) is valid', (t) => {
  const m = valid(
    t,
    sipText(
      [
        'INVITE sip:UserB@example.com SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.15',
        'From: <sip:UserA@example.com>',
        'To: <sip:UserB@example.com>',
        'Call-ID: 1@192.0.2.15',
        'CSeq: 1 INVITE',
        'Contact: <sip:UserA@192.0.2.15>',
        'Content-Type: application/sdp',
        'Content-Length: 150',
      ],
      SDP_150,
    ),
  );
  t.is(viaBranch(m.topVia), null);
  t.is(m.fromTag, null);
  t.is(m.maxForwards, null);
  t.is(tagOf(parseNameAddr('<sip:UserB@example.com>')), null);
});
