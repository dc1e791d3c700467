/** The shapes SDP negotiation speaks in. Nothing here knows about mediasoup or SIP dialogs. */
import type { WebRtcRemote } from './webrtc.js';

/** RFC 3264 §5.1 stream direction, as seen from the side that wrote the SDP. */
export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** G.711 at its static payload types (RFC 3551 §6, table 4): what every leg can carry. */
export type G711Name = 'PCMU' | 'PCMA';

/**
 * The audio codecs a leg carries: G.711, and Opus (RFC 7587) on browser legs. RFC 7587 §7 writes
 * Opus as opus/48000/2 whatever the audio: the timestamp clock is always 48 kHz.
 */
export type AudioCodec =
  | { name: G711Name; payloadType: 0 | 8; clockRate: 8000; channels: 1 }
  | { name: 'opus'; payloadType: typeof opusPayloadType; clockRate: 48000; channels: 2 };

export const g711Codecs = {
  PCMU: { name: 'PCMU', payloadType: 0, clockRate: 8000, channels: 1 },
  PCMA: { name: 'PCMA', payloadType: 8, clockRate: 8000, channels: 1 },
} as const satisfies Record<G711Name, AudioCodec>;

/**
 * Opus's payload type, in the router and so in every answer. A mediasoup Consumer sends each
 * codec at the router's payload type, and JSEP (RFC 8829 §5.3.1) has the answerer keep the
 * offer's, so Opus is answered only when offered at this type: 111 is Chrome's, Edge's and
 * Safari's (Firefox offers 109 and gets G.711).
 */
export const opusPayloadType = 111;

export const opusCodec = { name: 'opus', payloadType: opusPayloadType, clockRate: 48000, channels: 2 } as const satisfies AudioCodec;

/**
 * Which codec a browser leg asks for: `opus` when Node decodes and encodes the audio (an agent
 * keeps the call), `g711` when the leg may be bridged to a phone (mediasoup forwards, it does not
 * transcode, and phones speak G.711).
 */
export type CodecPreference = 'opus' | 'g711';

export const isG711 = (c: AudioCodec): c is Extract<AudioCodec, { name: G711Name }> => c.name !== 'opus';

/** RFC 4733 named telephone events, carried at a dynamic payload type. */
export interface TelephoneEvent {
  payloadType: number;
  /** The fmtp event list, e.g. `0-16`. */
  events: string;
}

/** One format of an m= line, with its rtpmap (or the static table's entry when there is none). */
export interface RtpFormat {
  payloadType: number;
  /** Encoding name as written (case kept); `''` when a dynamic type has no rtpmap. */
  name: string;
  clockRate: number;
  channels: number;
  fmtp?: string;
}

/** The remote side's audio stream, as its SDP describes it. */
export interface RemoteAudio {
  /** Index of the m= line in the SDP. */
  index: number;
  /** Connection address (media-level c= over session-level), IP literal or host name. */
  address: string;
  /** 4 or 6. */
  family: 4 | 6;
  port: number;
  /** RFC 3605 a=rtcp port, else the RTP port + 1 (RFC 3550 §11). */
  rtcpPort: number;
  /** RFC 5761 a=rtcp-mux present. */
  rtcpMux: boolean;
  /**
   * Direction in force: media-level attribute over session-level, sendrecv by default
   * (RFC 3264 §5.1), with RFC 2543 hold (c=0.0.0.0, RFC 3264 §8.4) read as "will not receive".
   */
  direction: Direction;
  /** True when the remote side asks not to be sent media: sendonly, inactive, or c=0.0.0.0. */
  onHold: boolean;
  /** a=ptime, in ms, when given. */
  ptime?: number;
  /** Formats in the m= line's order of preference. */
  formats: RtpFormat[];
  /** a=ssrc, when the remote announces one. */
  ssrc?: number;
  /** ICE, DTLS, mid: present when the stream is WebRTC (UDP/TLS/RTP/SAVPF), absent on plain RTP. */
  webrtc?: WebRtcRemote;
}

/** The outcome of one offer/answer exchange for the audio stream. */
export interface Negotiation {
  codec: AudioCodec;
  /** RFC 4733 events at the remote side's payload type, when both sides have them. */
  telephoneEvent: TelephoneEvent | null;
  remote: RemoteAudio;
  /** Our direction for this stream (in an answer: RFC 3264 §6.1). */
  direction: Direction;
}

/** Every m= line of an offer, so the answer can have the same count (RFC 3264 §6). */
export interface MediaSection {
  type: string;
  protocol: string;
  /** The format list as written. */
  payloads: string;
  /** a=mid (RFC 5888), when written: a WebRTC answer repeats it on every line, rejected ones too. */
  mid?: string | undefined;
}
