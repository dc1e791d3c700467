/**
 * Writes our WebRTC SDP (RFC 8829 JSEP): ICE-lite (RFC 8839 §5.4; mediasoup answers checks, the
 * browser is the controlling agent), our host candidates, the DTLS fingerprint and role
 * (RFC 8842 §5), rtcp-mux, one BUNDLE group with the audio stream's mid (RFC 8843), and a=ssrc
 * for what we send (RFC 5576).
 */
import { isIP } from 'node:net';
import type { AudioCodec, Direction, MediaSection, TelephoneEvent } from './types.js';
import type { SdpFingerprint } from './webrtc.js';
import { sdesMidUri } from './webrtc.js';
import type { SdpOrigin } from './write.js';

/** One of our ICE candidates (a mediasoup `IceCandidate`). */
export interface LocalCandidate {
  foundation: string;
  priority: number;
  ip: string;
  protocol: 'udp' | 'tcp';
  port: number;
}

/** Our side of a WebRTC audio stream. */
export interface WebRtcLocal {
  ice: { usernameFragment: string; password: string };
  candidates: readonly LocalCandidate[];
  fingerprint: SdpFingerprint;
  /** `actpass` in an offer; `passive` or `active` in an answer. */
  setup: 'actpass' | 'active' | 'passive';
  mid: string;
  midExtensionId: number | null;
  /** Our sending SSRC and its CNAME, when we send. */
  ssrc: { ssrc: number; cname: string } | null;
  codecs: readonly AudioCodec[];
  telephoneEvent: TelephoneEvent | null;
  ptime: number;
  direction: Direction;
  protocol: string;
}

const ipVer = (address: string) => (isIP(address) === 6 ? 'IP6' : 'IP4');

/** RFC 8839 §5.1 candidate-attribute; ICE-TCP candidates of ours are passive (RFC 6544 §4.5). */
function candidateLine(c: LocalCandidate): string {
  const tcp = c.protocol === 'tcp' ? ' tcptype passive' : '';
  return `a=candidate:${c.foundation} 1 ${c.protocol} ${c.priority} ${c.ip} ${c.port} typ host${tcp}`;
}

/** The default candidate (RFC 8839 §4.3.1.4): the first UDP one, else the first. */
function defaultCandidate(local: WebRtcLocal): LocalCandidate | undefined {
  return local.candidates.find((c) => c.protocol === 'udp') ?? local.candidates[0];
}

function audioLines(local: WebRtcLocal): string[] {
  const d = defaultCandidate(local);
  const address = d?.ip ?? '0.0.0.0';
  const pts = local.codecs.map((c) => c.payloadType as number);
  if (local.telephoneEvent) pts.push(local.telephoneEvent.payloadType);
  const lines = [
    `m=audio ${d?.port ?? 9} ${local.protocol} ${pts.join(' ')}`,
    `c=IN ${ipVer(address)} ${address}`,
    `a=mid:${local.mid}`,
    `a=ice-ufrag:${local.ice.usernameFragment}`,
    `a=ice-pwd:${local.ice.password}`,
    `a=fingerprint:${local.fingerprint.algorithm} ${local.fingerprint.value}`,
    `a=setup:${local.setup}`,
  ];
  if (local.midExtensionId !== null) lines.push(`a=extmap:${local.midExtensionId} ${sdesMidUri}`);
  // RFC 7587 §7: "The encoding name MUST be opus ... and the number of channels MUST be 2".
  for (const c of local.codecs) lines.push(`a=rtpmap:${c.payloadType} ${c.name}/${c.clockRate}${c.channels === 2 ? '/2' : ''}`);
  if (local.telephoneEvent) {
    const te = local.telephoneEvent;
    lines.push(`a=rtpmap:${te.payloadType} telephone-event/8000`, `a=fmtp:${te.payloadType} ${te.events}`);
  }
  lines.push(`a=ptime:${local.ptime}`, `a=${local.direction}`, 'a=rtcp-mux');
  if (local.ssrc) {
    lines.push(`a=msid:${local.ssrc.cname} audio`, `a=ssrc:${local.ssrc.ssrc} cname:${local.ssrc.cname}`);
  }
  lines.push(...local.candidates.map(candidateLine), 'a=end-of-candidates');
  return lines;
}

function sessionLines(mid: string): string[] {
  return ['s=-', 't=0 0', 'a=ice-lite', `a=group:BUNDLE ${mid}`, 'a=msid-semantic: WMS *'];
}

/** Our WebRTC offer: one audio stream, a=setup:actpass (RFC 8842 §5.2). */
export function writeWebRtcOffer(origin: SdpOrigin, local: WebRtcLocal): string {
  const address = defaultCandidate(local)?.ip ?? '0.0.0.0';
  return origin.stamp(address, [...sessionLines(local.mid), ...audioLines(local)]);
}

/**
 * Our WebRTC answer: one m= line per offered line, in order (RFC 3264 §6); ours at `audioIndex`,
 * every other one rejected with port 0 and its mid kept (RFC 8829 §5.3.1: a rejected m= section
 * still carries its a=mid), and the BUNDLE group holding the audio stream only.
 */
export function writeWebRtcAnswer(origin: SdpOrigin, local: WebRtcLocal, sections: readonly MediaSection[], audioIndex: number): string {
  const address = defaultCandidate(local)?.ip ?? '0.0.0.0';
  const body = sessionLines(local.mid);
  sections.forEach((s, i) => {
    if (i === audioIndex) return body.push(...audioLines(local));
    body.push(`m=${s.type} 0 ${s.protocol} ${s.payloads || '0'}`.trimEnd(), `c=IN ${ipVer(address)} ${address}`);
    if (s.mid !== undefined) body.push(`a=mid:${s.mid}`);
  });
  return origin.stamp(address, body);
}
