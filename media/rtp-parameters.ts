/**
 * Negotiated SDP -> mediasoup RTP parameters. One router per worker carries every leg, so its
 * codec list is fixed: G.711 at the static payload types, and Opus for browsers at 111.
 */
import type { types as ms } from 'mediasoup';
import { g711Codecs, opusCodec, type AudioCodec, type Negotiation } from './sdp/types.js';

/**
 * RFC 4733 events on their way out, to a peer: carried inside mediasoup as a spare media codec
 * routed at the peer's telephone-event payload type. mediasoup 3.12 Consumers forward media codecs
 * only, and send each at the router's payload type (the Producer maps incoming types to the
 * router's; the Consumer rewrites SSRC and sequence, not the type nor the timestamp). So an event
 * packet produced as, say, G.722 at 101 leaves the leg at 101, on the audio stream's SSRC and
 * sequence, untouched (test/media/telephone-event-forwarding.test.ts measures each of these).
 * A router's codec list is fixed, so each carrier serves one payload type: the ones peers use
 * (101 by far the most: Asterisk, FreeSWITCH, SIPp, baresip, most carriers; 96-98, 100, 102,
 * 110, 126, 127 seen from others). A peer whose type is not here gets DTMF by SIP INFO instead.
 * None of these codecs is ever negotiated with a peer (legs speak G.711, browsers also Opus).
 *
 * mediasoup tells a router's codecs apart by mime type, clock rate and channels (and, for
 * multiopus, its stream counts), never by payload type: a Producer's codec maps to the first
 * router codec that matches. So no carrier may be Opus itself: 127 once was (audio/opus/48000/2),
 * and with real Opus in the router the browser's Opus at 111 and the events at 127 would map to
 * one router codec. 127 rides on quad multiopus, which nobody negotiates on a telephone call.
 */
const eventCarriersOut: Readonly<Record<number, Omit<ms.RtpCodecCapability, 'preferredPayloadType' | 'kind'>>> = {
  101: { mimeType: 'audio/G722', clockRate: 8000, channels: 1 },
  96: { mimeType: 'audio/iLBC', clockRate: 8000, channels: 1 },
  97: { mimeType: 'audio/SILK', clockRate: 8000, channels: 1 },
  98: { mimeType: 'audio/SILK', clockRate: 12000, channels: 1 },
  100: { mimeType: 'audio/SILK', clockRate: 16000, channels: 1 },
  102: { mimeType: 'audio/SILK', clockRate: 24000, channels: 1 },
  110: { mimeType: 'audio/ISAC', clockRate: 16000, channels: 1 },
  126: { mimeType: 'audio/ISAC', clockRate: 32000, channels: 1 },
  127: { mimeType: 'audio/multiopus', clockRate: 48000, channels: 4, parameters: { channel_mapping: '0,1,2,3', num_streams: 2, coupled_streams: 2 } },
};

/** The carrier of outgoing events at `payloadType`, or null when there is none (use SIP INFO). */
export function eventCarrierOut(payloadType: number): ms.RtpCodecCapability | null {
  const c = eventCarriersOut[payloadType];
  return c ? { kind: 'audio', ...c, preferredPayloadType: payloadType } : null;
}

const carriersOut: ms.RtpCodecCapability[] = Object.keys(eventCarriersOut).map((pt) => eventCarrierOut(Number(pt))!);

/** Every router's codecs: G.711 at its static payload types, Opus, then the outgoing event carriers. */
export const routerMediaCodecs: ms.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/PCMU', clockRate: 8000, preferredPayloadType: 0, channels: 1 },
  { kind: 'audio', mimeType: 'audio/PCMA', clockRate: 8000, preferredPayloadType: 8, channels: 1 },
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, preferredPayloadType: opusCodec.payloadType, channels: 2 },
  ...carriersOut,
];

/**
 * What a Producer of ours (the agent's audio) declares: the leg's codec first (mediasoup creates
 * the stream on the first packet of the first codec's type), then every event carrier, so events
 * can be sent at whichever type the peer uses now.
 */
export function agentRtpParameters(codec: AudioCodec, ssrc: number): ms.RtpParameters {
  const carriers = carriersOut.map((c) => ({ mimeType: c.mimeType, payloadType: c.preferredPayloadType!, clockRate: c.clockRate, channels: c.channels!, parameters: c.parameters }));
  return { codecs: [mediaCodec(codec), ...carriers], encodings: [{ ssrc }] };
}

const mediaCodec = (c: AudioCodec, payloadType: number = c.payloadType): ms.RtpCodecParameters => ({
  mimeType: `audio/${c.name}`,
  payloadType,
  clockRate: c.clockRate,
  channels: c.channels,
});

/**
 * The codec RFC 4733 events travel as inside mediasoup: the other G.711 law (PCMU beside Opus). mediasoup 3.12
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
 * What the peer can receive, for a Consumer sending to it: the negotiated codec (its payload type
 * is also the router's), and the carrier of outgoing events at the peer's
 * telephone-event type when there is one, with no header extensions and no RTCP feedback, as
 * plain RTP peers expect.
 */
export function peerRtpCapabilities(n: Pick<Negotiation, 'codec' | 'telephoneEvent'>): ms.RtpCapabilities {
  const c = n.codec;
  const codecs: ms.RtpCodecCapability[] = [{ kind: 'audio', mimeType: `audio/${c.name}`, clockRate: c.clockRate, preferredPayloadType: c.payloadType, channels: c.channels }];
  const carrier = n.telephoneEvent && eventCarrierOut(n.telephoneEvent.payloadType);
  if (carrier) codecs.push(carrier);
  return { codecs, headerExtensions: [] };
}
