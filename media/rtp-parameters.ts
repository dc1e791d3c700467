/**
 * Negotiated SDP -> mediasoup RTP parameters. One router per worker carries every SIP leg, so
 * its codec list is fixed: G.711 at the static payload types and RFC 4733 events at 101.
 */
import type { types as ms } from 'mediasoup';
import type { AudioCodec, Negotiation, TelephoneEvent } from './sdp/types.js';

/**
 * The router's payload type for telephone-event. Consumers send with the router's payload type,
 * so events reach a peer only when its negotiated type is this one; 101 is what Asterisk,
 * FreeSWITCH, SIPp, baresip and most carriers use.
 */
export const routerTelephoneEventPt = 101;

/** Every router's codecs. mediasoup 3.12 lists telephone-event/8000 among its supported codecs. */
export const routerMediaCodecs: ms.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/PCMU', clockRate: 8000, preferredPayloadType: 0, channels: 1 },
  { kind: 'audio', mimeType: 'audio/PCMA', clockRate: 8000, preferredPayloadType: 8, channels: 1 },
  {
    kind: 'audio',
    mimeType: 'audio/telephone-event',
    clockRate: 8000,
    preferredPayloadType: routerTelephoneEventPt,
    channels: 1,
  },
];

const mediaCodec = (c: AudioCodec): ms.RtpCodecParameters => ({
  mimeType: `audio/${c.name}`,
  payloadType: c.payloadType,
  clockRate: c.clockRate,
  channels: 1,
});

const eventCodec = (te: TelephoneEvent): ms.RtpCodecParameters => ({
  mimeType: 'audio/telephone-event',
  payloadType: te.payloadType,
  clockRate: 8000,
  channels: 1,
  parameters: {},
});

/**
 * What the peer sends, as a Producer: the negotiated codec first (mediasoup creates the stream
 * on the first packet of that payload type), then telephone-event at the peer's own payload
 * type, which mediasoup maps to the router's. mediasoup 3.12 matches an incoming stream by SSRC,
 * MID or RID only, and SIP peers send neither of the last two, so the SSRC is the one learned
 * from the peer's first packet.
 */
export function producerRtpParameters(n: Pick<Negotiation, 'codec' | 'telephoneEvent'>, ssrc: number): ms.RtpParameters {
  const codecs = [mediaCodec(n.codec)];
  if (n.telephoneEvent) codecs.push(eventCodec(n.telephoneEvent));
  return { codecs, encodings: [{ ssrc }], headerExtensions: [], rtcp: { reducedSize: false } };
}

/**
 * What the peer can receive, for a Consumer sending to it: the negotiated codec (its static
 * payload type is also the router's), and telephone-event only when the peer negotiated the
 * router's payload type for it; no header extensions and no RTCP feedback, as plain RTP peers
 * expect.
 */
export function peerRtpCapabilities(n: Pick<Negotiation, 'codec' | 'telephoneEvent'>): ms.RtpCapabilities {
  const codecs: ms.RtpCodecCapability[] = [
    { kind: 'audio', mimeType: `audio/${n.codec.name}`, clockRate: 8000, preferredPayloadType: n.codec.payloadType, channels: 1 },
  ];
  if (n.telephoneEvent?.payloadType === routerTelephoneEventPt) codecs.push(routerMediaCodecs[2]!);
  return { codecs, headerExtensions: [] };
}
