/** Reads one m=audio section of a parsed SDP into a `RemoteAudio`. */
import { isIP } from 'node:net';
import type { ParsedMedia, ParsedSdp } from './parse.js';
import type { Direction, RemoteAudio, RtpFormat } from './types.js';

/** RFC 3551 §6 table 4: static audio payload types a phone may use without an rtpmap line. */
const staticFormats: Record<number, { name: string; clockRate: number }> = {
  0: { name: 'PCMU', clockRate: 8000 },
  3: { name: 'GSM', clockRate: 8000 },
  4: { name: 'G723', clockRate: 8000 },
  8: { name: 'PCMA', clockRate: 8000 },
  9: { name: 'G722', clockRate: 8000 },
  13: { name: 'CN', clockRate: 8000 },
  18: { name: 'G729', clockRate: 8000 },
};

/** The m= line's formats, in its order, each with its rtpmap and fmtp. */
function formatsOf(m: ParsedMedia): RtpFormat[] {
  const pts = (m.payloads ?? '').split(' ').filter(Boolean).map(Number);
  return pts.map((pt) => {
    const map = m.rtp.find((r) => r.payload === pt);
    const fmtp = m.fmtp.find((f) => f.payload === pt)?.config;
    const fallback = staticFormats[pt];
    return {
      payloadType: pt,
      name: map?.codec ?? fallback?.name ?? '',
      clockRate: map?.rate ?? fallback?.clockRate ?? 0,
      channels: map?.encoding !== undefined ? Number(map.encoding) : 1,
      ...(fmtp !== undefined ? { fmtp } : {}),
    };
  });
}

/** True for the RFC 2543 "don't send to me" address (RFC 3264 §8.4), v4 or v6. */
export function isNullAddress(address: string): boolean {
  return address === '0.0.0.0' || (isIP(address) === 6 && /^[0:]+$/.test(address));
}

/** Removes the sending half of a direction: what "c=0.0.0.0" does to the writer's stream. */
function withoutReceiving(d: Direction): Direction {
  if (d === 'sendrecv') return 'sendonly';
  if (d === 'recvonly') return 'inactive';
  return d;
}

/**
 * The audio stream at m= line `index`. With `ice`, the c= line is ICE's default candidate or the
 * RFC 8839 §4.3.1.4 placeholder `IN IP4 0.0.0.0` (port 9), which is not a hold.
 */
export function remoteAudio(sdp: ParsedSdp, index: number, ice = false): RemoteAudio {
  const m = sdp.media[index]!;
  // parseSdp guarantees a c= at one of the two levels for a live stream.
  const c = (m.connection ?? sdp.connection)!;
  const written: Direction = m.direction ?? sdp.direction ?? 'sendrecv';
  const direction = isNullAddress(c.ip) && !ice ? withoutReceiving(written) : written;
  const ssrc = m.ssrcs?.[0] ? Number(m.ssrcs[0].id) : undefined;
  return {
    index,
    address: c.ip,
    family: c.version,
    port: m.port,
    rtcpPort: m.rtcp?.port ?? m.port + 1,
    rtcpMux: m.rtcpMux !== undefined,
    direction,
    onHold: direction === 'sendonly' || direction === 'inactive',
    ...(m.ptime !== undefined ? { ptime: m.ptime } : {}),
    formats: formatsOf(m),
    ...(ssrc !== undefined && Number.isInteger(ssrc) ? { ssrc } : {}),
  };
}
