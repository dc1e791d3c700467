import test from 'ava';
import fc from 'fast-check';
import { NoCommonCodecError, SdpError } from '../../media/errors.js';
import { isWebRtcOffer, negotiateOffer, offersWebRtc, readWebRtc, SdpOrigin, writeWebRtcAnswer } from '../../media/sdp/index.js';
import { chromiumOffer, editOffer } from './fixtures/webrtc-offers.js';
import { sippUac } from './fixtures/sdp-offers.js';

test('a Chromium offer is WebRTC: PCMU chosen over Opus, events at 126, ICE, DTLS, mid and SSRC read', (t) => {
  t.true(isWebRtcOffer(chromiumOffer));
  t.false(isWebRtcOffer(sippUac));
  t.true(offersWebRtc(chromiumOffer));
  t.false(offersWebRtc(sippUac));
  const { negotiation: n } = negotiateOffer(chromiumOffer, { webrtc: true });
  t.is(n.codec.name, 'PCMU');
  t.deepEqual(n.telephoneEvent, { payloadType: 126, events: '0-16' });
  t.is(n.direction, 'sendrecv');
  t.deepEqual(n.remote.webrtc, {
    iceUfrag: 'Xk3Q',
    icePwd: 'bT3vV6k9Lw2mNq8Zr5YpJc1F',
    iceLite: false,
    fingerprint: { algorithm: 'sha-256', value: '5B:0F:2C:4E:7A:9D:11:83:C2:6E:F0:1A:3B:5C:7D:9E:AF:B0:C1:D2:E3:F4:05:16:27:38:49:5A:6B:7C:8D:9E' },
    setup: 'actpass',
    mid: '0',
    midExtensionId: 4,
    ssrc: 1905633579,
  });
  // Without `webrtc`, the SIP path refuses it as before (no plain RTP profile).
  t.throws(() => negotiateOffer(chromiumOffer), { instanceOf: NoCommonCodecError });
});

test('PCMA when PCMU is not offered; the RFC 8839 placeholder c=0.0.0.0 is not a hold', (t) => {
  const offer = editOffer((l) => (l === 'a=rtpmap:0 PCMU/8000' ? null : l.replace(' 9 0 8 13', ' 9 8 13').replace('c=IN IP4 127.0.0.1', 'c=IN IP4 0.0.0.0')));
  const { negotiation: n } = negotiateOffer(offer, { webrtc: true });
  t.is(n.codec.name, 'PCMA');
  t.is(n.direction, 'sendrecv');
  t.false(n.remote.onHold);
});

test('a WebRTC offer without rtcp-mux, fingerprint or ICE credentials is an SdpError naming each', (t) => {
  const cases: [string, RegExp][] = [
    ['a=rtcp-mux', /rtcp-mux/],
    ['a=fingerprint:', /fingerprint/],
    ['a=ice-ufrag:', /ice-ufrag/],
    ['a=ice-pwd:', /ice-pwd/],
  ];
  for (const [drop, why] of cases) {
    const e = t.throws(() => negotiateOffer(editOffer((l) => (l.startsWith(drop) ? null : l)), { webrtc: true }), { instanceOf: SdpError });
    t.regex(e!.message, why, drop);
  }
  const holdconn = t.throws(() => negotiateOffer(editOffer((l) => l.replace('setup:actpass', 'setup:holdconn')), { webrtc: true }), { instanceOf: SdpError });
  t.regex(holdconn!.message, /holdconn/);
  const badFp = t.throws(() => negotiateOffer(editOffer((l) => l.replace(/^a=fingerprint:sha-256 .*/, 'a=fingerprint:sha-256 zz')), { webrtc: true }), { instanceOf: SdpError });
  t.regex(badFp!.message, /fingerprint/);
  const shortPwd = t.throws(() => negotiateOffer(editOffer((l) => l.replace(/^a=ice-pwd:.*/, 'a=ice-pwd:short')), { webrtc: true }), { instanceOf: SdpError });
  t.regex(shortPwd!.message, /icePwd/);
});

test('our answer: ice-lite, passive, the offer\'s mid, BUNDLE of the audio only; a rejected data m= line keeps its mid; it reads back', (t) => {
  const offer = chromiumOffer + 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sctp-port:5000\r\n';
  const outcome = negotiateOffer(offer.replace('a=group:BUNDLE 0', 'a=group:BUNDLE 0 1'), { webrtc: true });
  const answer = writeWebRtcAnswer(
    new SdpOrigin(),
    {
      ice: { usernameFragment: 'abcdefgh12345678', password: 'abcdefghijklmnopqrstuvwx12345678' },
      candidates: [{ foundation: 'udpcandidate', priority: 1076558079, ip: '127.0.0.1', protocol: 'udp', port: 40000 }],
      fingerprint: { algorithm: 'sha-256', value: outcome.negotiation.remote.webrtc!.fingerprint.value },
      setup: 'passive',
      mid: '0',
      midExtensionId: null,
      ssrc: null,
      codecs: [outcome.negotiation.codec],
      telephoneEvent: outcome.negotiation.telephoneEvent,
      ptime: 20,
      direction: 'sendrecv',
      protocol: 'UDP/TLS/RTP/SAVPF',
    },
    outcome.sections,
    0,
  );
  t.regex(answer, /^a=ice-lite$/m);
  t.regex(answer, /^a=group:BUNDLE 0$/m);
  t.regex(answer, /^m=audio 40000 UDP\/TLS\/RTP\/SAVPF 0 126$/m);
  t.regex(answer, /^m=application 0 UDP\/DTLS\/SCTP webrtc-datachannel\r\nc=IN IP4 127.0.0.1\r\na=mid:1$/m);
  const back = readWebRtc(answer, 0);
  t.is(back.setup, 'passive');
  t.true(back.iceLite);
  t.is(back.mid, '0');
  t.is(negotiateOffer(answer, { webrtc: true }).negotiation.codec.name, 'PCMU');
});

/** One line of the Chromium offer, mangled. */
const mangle = fc.oneof(
  fc.constant<(l: string) => string | null>(() => null),
  fc.string({ maxLength: 40 }).map((junk) => (l: string) => l.slice(0, l.indexOf(':') + 1) + junk),
  fc.string({ maxLength: 40 }).map((junk) => (l: string) => l + junk),
  fc.nat(60).map((n) => (l: string) => l.slice(0, n)),
  fc.constant((l: string) => `${l}\r\n${l}`),
  fc.integer({ min: -5, max: 2 ** 33 }).map((n) => (l: string) => l.replace(/\d+/, String(n))),
);

const runs = 400;

test(`property: a mangled WebRTC offer is answered or refused (SdpError, NoCommonCodecError), never anything else (${runs} cases per run)`, (t) => {
  const lines = chromiumOffer.split('\r\n').filter(Boolean).length;
  let answered = 0;
  let refused = 0;
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(lines - 1), mangle), { minLength: 1, maxLength: 4 }), (edits) => {
      let i = -1;
      const byLine = new Map(edits.map(([at, f]) => [at, f]));
      const offer = editOffer((l) => {
        i++;
        const f = byLine.get(i);
        return f ? f(l) : l;
      });
      try {
        const webrtc = isWebRtcOffer(offer);
        // The unchecked read picks the same leg kind for every offer the checked one accepts.
        if (offersWebRtc(offer) !== webrtc) throw new Error(`offersWebRtc disagrees on ${JSON.stringify(offer)}`);
        negotiateOffer(offer, { webrtc });
        answered++;
      } catch (e) {
        if (!(e instanceof SdpError) && !(e instanceof NoCommonCodecError)) throw e;
        refused++;
      }
    }),
    { numRuns: runs },
  );
  t.log(`${answered} answered, ${refused} refused of ${runs}`);
  t.true(refused > 0 && answered > 0);
});

test(`property: any text given as a WebRTC offer is an SdpError or NoCommonCodecError at worst (${runs} cases per run)`, (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ maxLength: 300 }).map((s) => `v=0\r\n${s}`)), (text) => {
      try {
        negotiateOffer(text, { webrtc: true });
      } catch (e) {
        if (!(e instanceof SdpError) && !(e instanceof NoCommonCodecError)) throw e;
      }
    }),
    { numRuns: runs },
  );
  t.pass();
});
