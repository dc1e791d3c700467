/**
 * Negotiated SDP -> mediasoup RTP parameters. One router per worker carries every SIP leg, so
 * its codec list is fixed: G.711 at the static payload types.
 */
import type { types as ms } from 'mediasoup';
import { g711Codecs, type AudioCodec, type Negotiation } from './sdp/types.js';

/** Every router's codecs: G.711 at its static payload types. */
export const routerMediaCodecs: ms.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/PCMU', clockRate: 8000, preferredPayloadType: 0, channels: 1 },
  { kind: 'audio', mimeType: 'audio/PCMA', clockRate: 8000, preferredPayloadType: 8, channels: 1 },
];

const mediaCodec = (c: AudioCodec, payloadType: number = c.payloadType): ms.RtpCodecParameters => ({
  mimeType: `audio/${c.name}`,
  payloadType,
  clockRate: c.clockRate,
  channels: 1,
});

/**
 * The codec RFC 4733 events travel as inside mediasoup: the other G.711 law. mediasoup 3.12
 * accepts audio/telephone-event in a Producer but its Consumers forward media codecs only
 * (Consumer.cpp fills `supportedCodecPayloadTypes` from `IsMediaCodec()`, and telephone-event is
 * a "complementary" codec), so events would never leave the Producer. Declared as the other law
 * at the peer's event payload type, they are mapped to that law's router payload type and reach
 * any Consumer that accepts it: a Node-side audio tap takes them, the Consumer towards the peer
 * does not (it accepts the negotiated law only).
 */
export function eventCarrier(codec: AudioCodec): AudioCodec {
  return codec.name === 'PCMU' ? g711Codecs.PCMA : g711Codecs.PCMU;
}

/**
 * What the peer sends, as a Producer: the negotiated codec first (mediasoup creates the stream
 * on the first packet of that payload type), then RFC 4733 events at the peer's payload type
 * (see `eventCarrier`). mediasoup 3.12 matches an incoming stream by SSRC, MID or RID only, and
 * SIP peers send neither of the last two, so the SSRC is the one learned from the peer's first
 * packet.
 */
export function producerRtpParameters(n: Pick<Negotiation, 'codec' | 'telephoneEvent'>, ssrc: number): ms.RtpParameters {
  const codecs = [mediaCodec(n.codec)];
  if (n.telephoneEvent) codecs.push(mediaCodec(eventCarrier(n.codec), n.telephoneEvent.payloadType));
  return { codecs, encodings: [{ ssrc }], headerExtensions: [], rtcp: { reducedSize: false } };
}

/**
 * What the peer can receive, for a Consumer sending to it: the negotiated codec (its static
 * payload type is also the router's), with no header extensions and no RTCP feedback, as plain
 * RTP peers expect.
 */
export function peerRtpCapabilities(n: Pick<Negotiation, 'codec'>): ms.RtpCapabilities {
  return {
    codecs: [{ kind: 'audio', mimeType: `audio/${n.codec.name}`, clockRate: 8000, preferredPayloadType: n.codec.payloadType, channels: 1 }],
    headerExtensions: [],
  };
}
