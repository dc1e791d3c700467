/**
 * Opus in offer/answer (issue 10): a browser leg that prefers Opus answers Chromium's offer with
 * opus/48000/2 at 111 (the router's type) and telephone-event/8000 at the offer's type; one that
 * prefers G.711 answers PCMU as before; Opus at another type (Firefox's 109) or over plain RTP
 * is never chosen; a re-offer keeps the running codec; our offer's answer reads Opus back.
 */
import test from 'ava';
import { NoCommonCodecError } from '../../media/errors.js';
import {
  g711Codecs,
  negotiateAnswer,
  negotiateOffer,
  opusCodec,
  SdpOrigin,
  writeWebRtcAnswer,
  writeWebRtcOffer,
  type CodecPreference,
  type OfferOutcome,
  type WebRtcLocal,
} from '../../media/sdp/index.js';
import { chromiumOffer, editOffer } from './fixtures/webrtc-offers.js';

const local = (o: OfferOutcome, codecs = [o.negotiation.codec]): WebRtcLocal => ({
  ice: { usernameFragment: 'abcdefgh12345678', password: 'abcdefghijklmnopqrstuvwx12345678' },
  candidates: [{ foundation: 'udpcandidate', priority: 1076558079, ip: '127.0.0.1', protocol: 'udp', port: 40000 }],
  fingerprint: { algorithm: 'sha-256', value: o.negotiation.remote.webrtc!.fingerprint.value },
  setup: 'passive',
  mid: '0',
  midExtensionId: null,
  ssrc: null,
  codecs,
  telephoneEvent: o.negotiation.telephoneEvent,
  ptime: 20,
  direction: 'sendrecv',
  protocol: 'UDP/TLS/RTP/SAVPF',
});

const answerTo = (offer: string, codecs: CodecPreference) => {
  const o = negotiateOffer(offer, { webrtc: true, codecs });
  return { o, sdp: writeWebRtcAnswer(new SdpOrigin(), local(o), o.sections, o.negotiation.remote.index) };
};

const audioLines = (sdp: string) => sdp.split('\r\n').filter((l) => /^(m=audio|a=rtpmap|a=fmtp)/.test(l));

test('Chromium offer, Opus preferred: the answer is opus/48000/2 at 111 and telephone-event/8000 at 126, nothing else', (t) => {
  const { o, sdp } = answerTo(chromiumOffer, 'opus');
  t.deepEqual(o.negotiation.codec, opusCodec);
  t.deepEqual(o.negotiation.telephoneEvent, { payloadType: 126, events: '0-16' });
  t.deepEqual(audioLines(sdp), ['m=audio 40000 UDP/TLS/RTP/SAVPF 111 126', 'a=rtpmap:111 opus/48000/2', 'a=rtpmap:126 telephone-event/8000', 'a=fmtp:126 0-16']);
  // The answer reads back as Opus, as the browser will read it.
  t.is(negotiateOffer(sdp, { webrtc: true, codecs: 'opus' }).negotiation.codec.name, 'opus');
});

test('Chromium offer, G.711 preferred (a leg bridged to a phone): PCMU, as before, though Opus is listed first', (t) => {
  const { o, sdp } = answerTo(chromiumOffer, 'g711');
  t.deepEqual(o.negotiation.codec, g711Codecs.PCMU);
  t.deepEqual(audioLines(sdp), ['m=audio 40000 UDP/TLS/RTP/SAVPF 0 126', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:126 telephone-event/8000', 'a=fmtp:126 0-16']);
  t.is(negotiateOffer(chromiumOffer, { webrtc: true }).negotiation.codec.name, 'PCMU', 'G.711 is the default');
});

test('Opus is chosen only at the router\'s payload type, over WebRTC, and only when asked for', (t) => {
  // Firefox writes Opus at 109: a Consumer would send it at 111, so G.711 it is.
  const firefox = editOffer((l) => l.replace(' 111 63 ', ' 109 63 ').replace('a=rtpmap:111 opus', 'a=rtpmap:109 opus'));
  t.is(negotiateOffer(firefox, { webrtc: true, codecs: 'opus' }).negotiation.codec.name, 'PCMU');
  // Mono or another clock is not RFC 7587's opus/48000/2.
  t.is(negotiateOffer(editOffer((l) => l.replace('opus/48000/2', 'opus/48000')), { webrtc: true, codecs: 'opus' }).negotiation.codec.name, 'PCMU');
  // An Opus-only offer: answered with Opus, refused by a G.711 leg (488 material).
  const opusOnly = editOffer((l) => (/^a=rtpmap:(0|8) /.test(l) ? null : l.replace(' 9 0 8 13 ', ' 9 13 ')));
  t.is(negotiateOffer(opusOnly, { webrtc: true, codecs: 'opus' }).negotiation.codec.name, 'opus');
  t.throws(() => negotiateOffer(opusOnly, { webrtc: true, codecs: 'g711' }), { instanceOf: NoCommonCodecError });
  // A plain RTP offer never gets Opus: SIP legs speak G.711.
  const plain = editOffer((l) => l.replace('UDP/TLS/RTP/SAVPF', 'RTP/AVP'));
  t.is(negotiateOffer(plain, { codecs: 'opus' }).negotiation.codec.name, 'PCMU');
});

test('a re-offer keeps the running codec, whichever the preference', (t) => {
  t.is(negotiateOffer(chromiumOffer, { webrtc: true, codecs: 'opus', prefer: g711Codecs.PCMU }).negotiation.codec.name, 'PCMU');
  t.is(negotiateOffer(chromiumOffer, { webrtc: true, codecs: 'g711', prefer: opusCodec }).negotiation.codec.name, 'opus');
  t.is(negotiateOffer(chromiumOffer, { webrtc: true, codecs: 'opus', prefer: g711Codecs.PCMA }).negotiation.codec.name, 'PCMA');
});

test('our offer lists Opus first when we prefer it; the browser\'s Opus answer reads back as Opus, a PCMA one as PCMA', (t) => {
  const o = negotiateOffer(chromiumOffer, { webrtc: true, codecs: 'opus' });
  const offer = writeWebRtcOffer(new SdpOrigin(), { ...local(o, [opusCodec, g711Codecs.PCMU, g711Codecs.PCMA]), setup: 'actpass' });
  t.regex(offer, /^m=audio 40000 UDP\/TLS\/RTP\/SAVPF 111 0 8 126$/m);
  t.regex(offer, /^a=rtpmap:111 opus\/48000\/2$/m);
  const offered = { codecs: [opusCodec, g711Codecs.PCMU, g711Codecs.PCMA], telephoneEvent: { payloadType: 126, events: '0-16' }, direction: 'sendrecv' as const };
  const answer = editOffer((l) => l.replace('a=setup:actpass', 'a=setup:active'));
  t.is(negotiateAnswer(answer, offered, true).codec.name, 'opus');
  const pcmaFirst = editOffer((l) => l.replace(' 111 63 9 0 8 ', ' 8 111 63 9 0 '));
  t.is(negotiateAnswer(pcmaFirst, offered, true).codec.name, 'PCMA');
  // An answer may not pick what we did not offer: Opus first in it, PCMU taken.
  t.is(negotiateAnswer(answer, { ...offered, codecs: [g711Codecs.PCMU] }, true).codec.name, 'PCMU');
});

test('a browser\'s answer to our offer: its first codec we carry, which it sends with, whatever ran before', (t) => {
  const opusFirst = editOffer((l) => l.replace('a=setup:actpass', 'a=setup:active'));
  t.is(negotiateOffer(opusFirst, { webrtc: true, codecs: 'opus', answer: true }).negotiation.codec.name, 'opus');
  // The leg's stand-in PCMU before the answer is no preference: Opus first in the answer wins.
  t.is(negotiateOffer(opusFirst, { webrtc: true, codecs: 'opus', answer: true, prefer: g711Codecs.PCMU }).negotiation.codec.name, 'opus');
  const pcmaFirst = editOffer((l) => l.replace(' 111 63 9 0 8 ', ' 8 0 111 63 9 '));
  t.is(negotiateOffer(pcmaFirst, { webrtc: true, codecs: 'opus', answer: true }).negotiation.codec.name, 'PCMA');
  t.is(negotiateOffer(opusFirst, { webrtc: true, codecs: 'g711', answer: true }).negotiation.codec.name, 'PCMU', 'Opus not ours to take: the first G.711');
});
