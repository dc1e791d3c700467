/** Writes our SDP: answers to offers, and offers for outbound calls. */
import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import type { AudioCodec, Direction, MediaSection, Negotiation, TelephoneEvent } from './types.js';

/** Our side of the audio stream. */
interface LocalAudio {
  /** Address written in c= and o= (the announced address, else the listen address). */
  address: string;
  port: number;
  /** RTP/AVP, or RTP/AVPF when answering an AVPF offer. */
  protocol?: string;
  /** Codecs, in our order of preference (an answer carries exactly one). */
  codecs: AudioCodec[];
  telephoneEvent: TelephoneEvent | null;
  /** Packetisation we want to receive, in ms. */
  ptime: number;
  direction: Direction;
  rtcpMux: boolean;
}

const ipVer = (address: string) => (isIP(address) === 6 ? 'IP6' : 'IP4');

/**
 * The o= line of one side of a session, across its offers and answers. RFC 3264 §8: "the "o="
 * line of the new SDP MUST be identical to that in the previous SDP, except that the version in
 * the origin field MUST increment by one from the previous SDP. If the version in the origin
 * line does not increment, the SDP MUST be identical to the SDP with that version number."
 */
export class SdpOrigin {
  /** RFC 4566 §5.2 suggests an NTP timestamp; any number unique enough will do. */
  readonly sessionId = String(randomInt(1, 2 ** 47));
  #version = randomInt(1, 2 ** 31);
  #lastBody: string | undefined;

  get version(): number {
    return this.#version;
  }

  /** Prepends v= and o= to `body`, bumping the version when the body differs from the last one. */
  stamp(address: string, body: string[]): string {
    const text = body.join('\r\n');
    if (this.#lastBody !== undefined && this.#lastBody !== text) this.#version++;
    this.#lastBody = text;
    return ['v=0', `o=- ${this.sessionId} ${this.#version} IN ${ipVer(address)} ${address}`, text, ''].join('\r\n');
  }
}

function audioLines(local: LocalAudio): string[] {
  const pts = local.codecs.map((c) => c.payloadType as number);
  if (local.telephoneEvent) pts.push(local.telephoneEvent.payloadType);
  const lines = [`m=audio ${local.port} ${local.protocol ?? 'RTP/AVP'} ${pts.join(' ')}`];
  for (const c of local.codecs) lines.push(`a=rtpmap:${c.payloadType} ${c.name}/${c.clockRate}`);
  if (local.telephoneEvent) {
    const te = local.telephoneEvent;
    lines.push(`a=rtpmap:${te.payloadType} telephone-event/8000`, `a=fmtp:${te.payloadType} ${te.events}`);
  }
  lines.push(`a=ptime:${local.ptime}`, `a=${local.direction}`);
  if (local.rtcpMux) lines.push('a=rtcp-mux');
  return lines;
}

function sessionLines(address: string): string[] {
  return ['s=-', `c=IN ${ipVer(address)} ${address}`, 't=0 0'];
}

/**
 * An answer (RFC 3264 §6): one m= line per offered line, in order; ours at `audioIndex` and
 * every other one rejected with port 0 and its offered format list.
 */
function writeAnswer(origin: SdpOrigin, local: LocalAudio, sections: MediaSection[], audioIndex: number): string {
  const body = sessionLines(local.address);
  sections.forEach((s, i) => {
    if (i === audioIndex) body.push(...audioLines(local));
    else body.push(`m=${s.type} 0 ${s.protocol} ${s.payloads || '0'}`.trimEnd());
  });
  return origin.stamp(local.address, body);
}

/** An offer (RFC 3264 §5) with one audio stream: our codecs, telephone-event, ptime, direction. */
export function writeOffer(origin: SdpOrigin, local: LocalAudio): string {
  return origin.stamp(local.address, [...sessionLines(local.address), ...audioLines(local)]);
}

/** Packetisation we ask for when the offer names none: 20 ms, the G.711 norm (RFC 3551 §4.5). */
const defaultPtime = 20;

/**
 * The answer to a negotiated offer: our address and port, the chosen codec, telephone-event at
 * the offerer's payload type, our direction, and rtcp-mux only when the offer has it (RFC 5761 §5.1.1).
 */
export function writeNegotiatedAnswer(
  origin: SdpOrigin,
  offer: { sections: MediaSection[]; negotiation: Negotiation },
  local: { address: string; port: number; ptime?: number },
): string {
  const n = offer.negotiation;
  return writeAnswer(
    origin,
    {
      address: local.address,
      port: local.port,
      protocol: offer.sections[n.remote.index]!.protocol,
      codecs: [n.codec],
      telephoneEvent: n.telephoneEvent,
      ptime: local.ptime ?? defaultPtime,
      direction: n.direction,
      rtcpMux: n.remote.rtcpMux,
    },
    offer.sections,
    n.remote.index,
  );
}
