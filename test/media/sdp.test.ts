import test from 'ava';
import { NoCommonCodecError, SdpError } from '../../media/errors.js';
import {
  answerDirection,
  negotiateAnswer,
  negotiateOffer,
  SdpOrigin,
  writeNegotiatedAnswer,
  writeOffer,
  g711Codecs,
  type Direction,
} from '../../media/sdp/index.js';
import { baresipHold, baresipInvite, baresipResume, carrierPcma, makeOffer, sippUac } from './fixtures/sdp-offers.js';

const local = { address: '198.51.100.7', port: 40002 };

/** The answer without its o= line, which carries random numbers. */
function answerBody(offer: string, opts: Parameters<typeof negotiateOffer>[1] = {}): string[] {
  const sdp = writeNegotiatedAnswer(new SdpOrigin(), negotiateOffer(offer, opts), local);
  return sdp.split('\r\n').filter((l) => !l.startsWith('o='));
}

test('SIPp uac (PCMU only): PCMU, no events, address and ports read, whole answer', (t) => {
  const { negotiation: n } = negotiateOffer(sippUac);
  t.deepEqual(n.codec, g711Codecs.PCMU);
  t.is(n.telephoneEvent, null);
  t.like(n.remote, { address: '127.0.0.1', family: 4, port: 6000, rtcpPort: 6001, rtcpMux: false });
  t.like(n.remote, { direction: 'sendrecv', onHold: false });
  t.is(n.direction, 'sendrecv');
  t.deepEqual(answerBody(sippUac), [
    'v=0',
    's=-',
    'c=IN IP4 198.51.100.7',
    't=0 0',
    'm=audio 40002 RTP/AVP 0',
    'a=rtpmap:0 PCMU/8000',
    'a=ptime:20',
    'a=sendrecv',
    '',
  ]);
});

test('baresip (PCMU, PCMA, G722, opus, telephone-event): first supported codec, events at the offered PT', (t) => {
  const { negotiation: n } = negotiateOffer(baresipInvite);
  t.is(n.codec.name, 'PCMU');
  t.deepEqual(n.telephoneEvent, { payloadType: 101, events: '0-15' });
  t.is(n.remote.ssrc, 2714650619);
  t.is(n.remote.ptime, 20);
  t.deepEqual(
    n.remote.formats.map((f) => `${f.payloadType} ${f.name}/${f.clockRate}/${f.channels}`),
    ['0 PCMU/8000/1', '8 PCMA/8000/1', '9 G722/8000/1', '96 opus/48000/2', '101 telephone-event/8000/1'],
  );
  const body = answerBody(baresipInvite);
  t.true(body.includes('m=audio 40002 RTP/AVP 0 101'));
  t.true(body.includes('a=rtpmap:101 telephone-event/8000'));
  t.true(body.includes('a=fmtp:101 0-15'));
  t.false(body.some((l) => /opus|G722|PCMA/.test(l)), 'only the chosen codec is answered');
});

test('the offer order decides: opus and PCMA listed before PCMU gives PCMA', (t) => {
  const offer = makeOffer({ formats: ['96 opus/48000/2', '8 PCMA/8000', '0 PCMU/8000', '101 telephone-event/8000'] });
  t.is(negotiateOffer(offer).negotiation.codec.name, 'PCMA');
});

test('PCMA-only carrier offer with telephone-event 101', (t) => {
  const { negotiation: n } = negotiateOffer(carrierPcma);
  t.deepEqual(n.codec, g711Codecs.PCMA);
  t.deepEqual(n.telephoneEvent, { payloadType: 101, events: '0-16' });
  t.true(answerBody(carrierPcma).includes('m=audio 40002 RTP/AVP 8 101'));
});

test('telephone-event at another dynamic PT keeps the offerer PT; static PTs without rtpmap are understood', (t) => {
  const offer = makeOffer({ formats: ['8 PCMA/8000', '96 telephone-event/8000'] }).replace('a=rtpmap:8 PCMA/8000\r\n', '');
  const { negotiation: n } = negotiateOffer(offer);
  t.is(n.codec.name, 'PCMA');
  t.is(n.telephoneEvent?.payloadType, 96);
  t.true(answerBody(offer).includes('m=audio 40002 RTP/AVP 8 96'));
});

test('a re-offer keeps the running codec when it is still offered', (t) => {
  const offer = makeOffer({ formats: ['0 PCMU/8000', '8 PCMA/8000'] });
  t.is(negotiateOffer(offer).negotiation.codec.name, 'PCMU');
  t.is(negotiateOffer(offer, { prefer: g711Codecs.PCMA }).negotiation.codec.name, 'PCMA');
});

test('no common codec: NoCommonCodecError names what was offered', (t) => {
  const cases = [
    makeOffer({ formats: ['18 G729/8000', '96 opus/48000/2', '101 telephone-event/8000'] }),
    makeOffer({ formats: ['0 PCMU/8000'], protocol: 'RTP/SAVP' }),
    makeOffer({ formats: ['96 PCMU/8000'] }),
    makeOffer({ formats: ['0 PCMU/16000'] }),
    makeOffer({ port: 0 }),
  ];
  for (const offer of cases) {
    const e = t.throws(() => negotiateOffer(offer), { instanceOf: NoCommonCodecError });
    t.is(e?.code, 'no_common_codec');
  }
  const e = t.throws(() => negotiateOffer(cases[0]!), { instanceOf: NoCommonCodecError });
  t.deepEqual(e?.offered, ['18 G729/8000', '96 opus/48000', '101 telephone-event/8000']);
});

test('malformed SDP is an SdpError, never a crash', (t) => {
  const good = makeOffer();
  const cases: [string, unknown][] = [
    ['empty', ''],
    ['not a string', undefined],
    ['prose', 'hello world'],
    ['no v= first', good.replace('v=0\r\n', '')],
    ['v=1', good.replace('v=0', 'v=1')],
    ['garbage line', good + 'this is not sdp\r\n'],
    ['no m= line', 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n'],
    ['no c= line', good.replace('c=IN IP4 127.0.0.1\r\n', '')],
    ['bad port', good.replace('m=audio 6000', 'm=audio 99999')],
    ['port not a number', good.replace('m=audio 6000', 'm=audio x')],
    ['bad address', good.replace('c=IN IP4 127.0.0.1', 'c=IN IP4 not_an_address!')],
    ['bad format list', good.replace('RTP/AVP 0 8 101', 'RTP/AVP zero')],
    ['no o= line', good.replace(/o=.*\r\n/, '')],
    ['binary', '\u0000\u0001\u0002v=0'],
    ['too big', good + 'a=x-pad:' + 'x'.repeat(20_000) + '\r\n'],
  ];
  for (const [name, body] of cases) {
    const e = t.throws(() => negotiateOffer(body as string), { instanceOf: SdpError }, name);
    t.is(e?.code, 'sdp_malformed', name);
    t.true((e?.issues.length ?? 0) > 0, name);
  }
});

test('hold and unhold offers from baresip', (t) => {
  const hold = negotiateOffer(baresipHold).negotiation;
  t.like(hold.remote, { direction: 'sendonly', onHold: true });
  t.is(hold.direction, 'recvonly');
  t.is(hold.telephoneEvent, null);
  const resume = negotiateOffer(baresipResume).negotiation;
  t.like(resume.remote, { direction: 'sendrecv', onHold: false });
  t.is(resume.direction, 'sendrecv');
});

test('hold forms: inactive, recvonly, old-style c=0.0.0.0, session-level attributes', (t) => {
  const n = (o: Parameters<typeof makeOffer>[0]) => negotiateOffer(makeOffer(o)).negotiation;
  t.like(n({ direction: 'inactive' }), { direction: 'inactive', remote: { onHold: true } });
  t.like(n({ direction: 'recvonly' }), { direction: 'sendonly', remote: { onHold: false } });
  // RFC 3264 §8.4: c=0.0.0.0 says "do not send to me"; the stream still flows towards us.
  t.like(n({ address: '0.0.0.0' }), { direction: 'recvonly', remote: { direction: 'sendonly', onHold: true } });
  t.like(n({ address: '0.0.0.0', direction: 'recvonly' }), { direction: 'inactive', remote: { onHold: true } });
  t.like(n({ sessionDirection: 'sendonly' }), { direction: 'recvonly', remote: { onHold: true } });
  // The media-level attribute wins over the session-level one (RFC 4566 §6).
  t.like(n({ sessionDirection: 'inactive', direction: 'sendrecv' }), { direction: 'sendrecv' });
});

test('answer direction table (RFC 3264 §6.1), with our own intent', (t) => {
  const table: [Direction, Direction, Direction][] = [
    ['sendrecv', 'sendrecv', 'sendrecv'],
    ['sendrecv', 'sendonly', 'sendonly'],
    ['sendrecv', 'recvonly', 'recvonly'],
    ['sendrecv', 'inactive', 'inactive'],
    ['sendonly', 'sendrecv', 'recvonly'],
    ['sendonly', 'sendonly', 'inactive'],
    ['sendonly', 'recvonly', 'recvonly'],
    ['sendonly', 'inactive', 'inactive'],
    ['recvonly', 'sendrecv', 'sendonly'],
    ['recvonly', 'sendonly', 'sendonly'],
    ['recvonly', 'recvonly', 'inactive'],
    ['recvonly', 'inactive', 'inactive'],
    ['inactive', 'sendrecv', 'inactive'],
    ['inactive', 'sendonly', 'inactive'],
    ['inactive', 'recvonly', 'inactive'],
    ['inactive', 'inactive', 'inactive'],
  ];
  for (const [offered, intent, answered] of table) {
    t.is(answerDirection(offered, intent), answered, `${offered} offered, ${intent} wanted`);
  }
  t.true(answerBody(makeOffer({ direction: 'sendonly' })).includes('a=recvonly'));
});

test('rtcp-mux only when offered; a=rtcp port is read', (t) => {
  t.true(answerBody(makeOffer({ rtcpMux: true })).includes('a=rtcp-mux'));
  t.false(answerBody(makeOffer()).includes('a=rtcp-mux'));
  const offer = makeOffer().replace('a=ptime:20', 'a=ptime:20\r\na=rtcp:7001 IN IP4 127.0.0.1');
  t.is(negotiateOffer(offer).negotiation.remote.rtcpPort, 7001);
});

test('every offered m= line gets one in the answer; the others are rejected with port 0', (t) => {
  const offer = makeOffer({
    formats: ['18 G729/8000'],
    extraMedia: ['m=video 6002 RTP/AVP 96', 'a=rtpmap:96 VP8/90000', 'm=audio 6004 RTP/AVP 8', 'a=rtpmap:8 PCMA/8000'],
  });
  const { negotiation: n } = negotiateOffer(offer);
  t.is(n.remote.index, 2);
  t.is(n.remote.port, 6004);
  t.deepEqual(
    answerBody(offer).filter((l) => l.startsWith('m=')),
    ['m=audio 0 RTP/AVP 18', 'm=video 0 RTP/AVP 96', 'm=audio 40002 RTP/AVP 8'],
  );
});

test('IPv6 offers and answers', (t) => {
  const { negotiation: n } = negotiateOffer(makeOffer({ address: '2001:db8::5' }));
  t.like(n.remote, { address: '2001:db8::5', family: 6 });
  const sdp = writeNegotiatedAnswer(new SdpOrigin(), negotiateOffer(makeOffer()), { address: '2001:db8::1', port: 40000 });
  t.regex(sdp, /^o=- \d+ \d+ IN IP6 2001:db8::1\r$/m);
  t.regex(sdp, /^c=IN IP6 2001:db8::1\r$/m);
});

test('o= keeps its session id; the version moves only when the SDP changes (RFC 3264 §8)', (t) => {
  const origin = new SdpOrigin();
  const answer = (offer: string) => writeNegotiatedAnswer(origin, negotiateOffer(offer), local);
  const oLine = (sdp: string) => sdp.split('\r\n')[1]!.split(' ');
  const first = oLine(answer(baresipInvite));
  const same = oLine(answer(baresipInvite));
  const held = oLine(answer(baresipHold));
  const resumed = oLine(answer(baresipResume));
  t.is(first[1], origin.sessionId);
  t.deepEqual(same, first);
  t.is(Number(held[2]), Number(first[2]) + 1);
  t.is(Number(resumed[2]), Number(first[2]) + 2);
  t.is(resumed[1], first[1]);
});

test('outbound: our offer parses back, and the answer to it is negotiated', (t) => {
  const origin = new SdpOrigin();
  const offered = {
    codecs: [g711Codecs.PCMU, g711Codecs.PCMA],
    telephoneEvent: { payloadType: 101, events: '0-16' },
    direction: 'sendrecv' as const,
  };
  const offer = writeOffer(origin, { ...local, ...offered, ptime: 20, rtcpMux: true });
  const back = negotiateOffer(offer).negotiation;
  t.like(back.remote, { address: local.address, port: local.port, rtcpMux: true });
  t.deepEqual(back.remote.formats.map((f) => f.payloadType), [0, 8, 101]);

  const answer = negotiateAnswer(makeOffer({ formats: ['8 PCMA/8000', '101 telephone-event/8000'], direction: 'recvonly' }), offered);
  t.is(answer.codec.name, 'PCMA');
  t.is(answer.telephoneEvent?.payloadType, 101);
  t.is(answer.direction, 'sendonly');
  t.throws(() => negotiateAnswer(makeOffer({ formats: ['18 G729/8000'] }), offered), { instanceOf: NoCommonCodecError });
  t.throws(() => negotiateAnswer('nonsense', offered), { instanceOf: SdpError });
});
