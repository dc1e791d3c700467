/**
 * Offer/answer for the audio stream (RFC 3264): which m= line we take, which codec, RFC 4733
 * events, and the direction of our answer.
 */
import { NoCommonCodecError } from '../errors.js';
import { parseSdp, type ParsedSdp } from './parse.js';
import { remoteAudio } from './remote-audio.js';
import { readWebRtc, webRtcProfiles } from './webrtc.js';
import {
  g711Codecs,
  opusCodec,
  type AudioCodec,
  type CodecPreference,
  type Direction,
  type MediaSection,
  type Negotiation,
  type RemoteAudio,
  type RtpFormat,
  type TelephoneEvent,
} from './types.js';

/** Plain RTP profiles; SRTP (RTP/SAVP, RTP/SAVPF) and DTLS are not carried on SIP legs yet. */
const plainRtpProfiles = new Set(['RTP/AVP', 'RTP/AVPF']);

/** Events we accept when the offer's fmtp says nothing: DTMF digits and flash (RFC 4733 §3.2). */
const defaultEvents = '0-16';

const sends = (d: Direction) => d === 'sendrecv' || d === 'sendonly';
const receives = (d: Direction) => d === 'sendrecv' || d === 'recvonly';

function direction(send: boolean, recv: boolean): Direction {
  if (send && recv) return 'sendrecv';
  if (send) return 'sendonly';
  if (recv) return 'recvonly';
  return 'inactive';
}

/**
 * RFC 3264 §6.1: "If a stream is offered as sendonly, the corresponding stream MUST be marked as
 * recvonly or inactive in the answer. If a media stream is listed as recvonly in the offer, the
 * answer MUST be marked as sendonly or inactive ... If an offered media stream is listed as
 * inactive, it MUST be marked as inactive in the answer." Within that, `local` is what we want.
 */
export function answerDirection(offered: Direction, local: Direction = 'sendrecv'): Direction {
  return direction(receives(offered) && sends(local), sends(offered) && receives(local));
}

/** The G.711 codec a format stands for, at its static payload type only. */
function g711Of(f: RtpFormat): AudioCodec | undefined {
  const name = f.name.toUpperCase();
  if (f.clockRate !== 8000 || f.channels !== 1) return undefined;
  if (name === 'PCMU' && f.payloadType === 0) return g711Codecs.PCMU;
  if (name === 'PCMA' && f.payloadType === 8) return g711Codecs.PCMA;
  return undefined;
}

/** Opus when a format is opus/48000/2 (RFC 7587 §7) at our payload type (see `opusPayloadType`). */
function opusOf(f: RtpFormat): AudioCodec | undefined {
  const ok = f.name.toLowerCase() === 'opus' && f.clockRate === 48000 && f.channels === 2 && f.payloadType === opusCodec.payloadType;
  return ok ? opusCodec : undefined;
}

/** Every format we could carry, in the remote side's order: G.711, and Opus when `opus`. */
function carried(formats: RtpFormat[], opus: boolean): AudioCodec[] {
  return formats.map((f) => g711Of(f) ?? (opus ? opusOf(f) : undefined)).filter((c): c is AudioCodec => Boolean(c));
}

function telephoneEventOf(formats: RtpFormat[]): TelephoneEvent | null {
  const te = formats.find((f) => f.name.toLowerCase() === 'telephone-event' && f.clockRate === 8000);
  return te ? { payloadType: te.payloadType, events: te.fmtp?.trim() || defaultEvents } : null;
}

const describe = (formats: RtpFormat[]) =>
  formats.map((f) => `${f.payloadType} ${f.name || '?'}/${f.clockRate || '?'}`);

/**
 * Picks the codec: `prefer` when still offered (a re-offer keeps the running codec), else Opus
 * when `codecs` is `opus` and it is offered, else the first G.711 in the offer's order. In an
 * answer (`answer`), the answerer's first codec: it sends with that one.
 */
function pickCodec(remote: RemoteAudio, prefer: AudioCodec | undefined, codecs: CodecPreference, answer: boolean): AudioCodec | undefined {
  const supported = carried(remote.formats, codecs === 'opus' || prefer?.name === 'opus');
  if (answer) return supported[0];
  return supported.find((c) => c.name === prefer?.name) ?? supported.find((c) => c.name === 'opus') ?? supported.find((c) => c.name !== 'opus');
}

export interface OfferOutcome {
  sdp: ParsedSdp;
  /** Every m= line of the offer, for an answer with the same count. */
  sections: MediaSection[];
  negotiation: Negotiation;
}

/**
 * Negotiates an SDP offer: the first live m=audio line over plain RTP with PCMU or PCMA, in the
 * offer's order of preference (Opus first on a WebRTC offer when `codecs` is `opus`; the first
 * one as written when `answer`: a browser's answer to our offer), plus telephone-event/8000 when
 * offered (keeping the offerer's payload type). Throws `SdpError` for a malformed body and
 * `NoCommonCodecError` when nothing fits.
 */
export function negotiateOffer(
  offer: string,
  opts: { direction?: Direction; prefer?: AudioCodec; webrtc?: boolean; codecs?: CodecPreference; answer?: boolean } = {},
): OfferOutcome {
  const sdp = parseSdp(offer);
  const sections = sdp.media.map((m) => ({ type: m.type, protocol: m.protocol, payloads: m.payloads ?? '', mid: midOf(m) }));
  const offered: string[] = [];
  const profiles = opts.webrtc ? webRtcProfiles : plainRtpProfiles;
  for (let i = 0; i < sdp.media.length; i++) {
    const m = sdp.media[i]!;
    if (m.type !== 'audio' || m.port === 0) continue;
    const remote = remoteAudio(sdp, i, opts.webrtc);
    if (!profiles.has(m.protocol)) {
      offered.push(...describe(remote.formats).map((f) => `${f} (${m.protocol})`));
      continue;
    }
    offered.push(...describe(remote.formats));
    // Opus only where it is decoded in Node or forwarded to another browser: WebRTC legs.
    const codec = pickCodec(remote, opts.prefer, opts.webrtc ? (opts.codecs ?? 'g711') : 'g711', opts.answer ?? false);
    if (!codec) continue;
    if (opts.webrtc) remote.webrtc = readWebRtc(offer, i);
    return {
      sdp,
      sections,
      negotiation: {
        codec,
        telephoneEvent: telephoneEventOf(remote.formats),
        remote,
        direction: answerDirection(remote.direction, opts.direction),
      },
    };
  }
  throw new NoCommonCodecError(offered);
}

/** An m= line's a=mid, as written (RFC 5888), for the answer's matching line. */
function midOf(m: ParsedSdp['media'][number]): string | undefined {
  return m.mid;
}

/** What we put in an offer, to check the answer against. */
export interface OfferedAudio {
  codecs: AudioCodec[];
  telephoneEvent: TelephoneEvent | null;
  direction: Direction;
}

/**
 * Reads the answer to an offer we made (RFC 3264 §7): the first live m=audio line, the first
 * codec of its list that we offered, and telephone-event if both sides listed it. The answer's
 * payload type for telephone-event is the one the answerer receives on.
 */
export function negotiateAnswer(answer: string, offered: OfferedAudio, webrtc = false): Negotiation {
  const sdp = parseSdp(answer);
  const index = sdp.media.findIndex((m) => m.type === 'audio' && m.port !== 0);
  if (index < 0) throw new NoCommonCodecError([]);
  const remote = remoteAudio(sdp, index, webrtc);
  const codec = carried(remote.formats, webrtc && offered.codecs.some((o) => o.name === 'opus')).find((c) => offered.codecs.some((o) => o.name === c.name));
  if (!codec || !(webrtc ? webRtcProfiles : plainRtpProfiles).has(sdp.media[index]!.protocol)) throw new NoCommonCodecError(describe(remote.formats));
  if (webrtc) remote.webrtc = readWebRtc(answer, index);
  return {
    codec,
    telephoneEvent: offered.telephoneEvent ? telephoneEventOf(remote.formats) : null,
    remote,
    // Our direction is what we offered, narrowed by what the answerer accepted.
    direction: direction(
      sends(offered.direction) && receives(remote.direction),
      receives(offered.direction) && sends(remote.direction),
    ),
  };
}
