/**
 * The WebRTC half of an audio m= line (RFC 8829 JSEP, RFC 8839 ICE, RFC 8842 DTLS-SRTP, RFC 8843
 * BUNDLE): ICE credentials, DTLS fingerprint and setup role, mid, the sender's SSRC and the
 * sdes:mid header extension. sdp-transform tokenises; zod checks; anything wrong or missing is an
 * `SdpError` naming each problem.
 */
import sdpTransform from 'sdp-transform';
import { z } from 'zod';
import { SdpError } from '../errors.js';
import { parseSdp } from './parse.js';

/** The profiles a browser offers audio on (RFC 5764 §8, RFC 8829 §5.1.2; TCP/TLS for ICE-TCP). */
export const webRtcProfiles: ReadonlySet<string> = new Set(['UDP/TLS/RTP/SAVPF', 'UDP/TLS/RTP/SAVP', 'TCP/TLS/RTP/SAVPF', 'TCP/TLS/RTP/SAVP']);

/** RFC 4145 §4 a=setup values. */
export type SetupRole = 'actpass' | 'active' | 'passive' | 'holdconn';

/** RFC 8122 §5 fingerprint: a hash function token and upper- or lower-case hex pairs. */
export interface SdpFingerprint {
  algorithm: 'sha-1' | 'sha-224' | 'sha-256' | 'sha-384' | 'sha-512';
  value: string;
}

/** What the peer's SDP says about its WebRTC transport for the audio stream. */
export interface WebRtcRemote {
  iceUfrag: string;
  icePwd: string;
  /** RFC 8839 §5.4 a=ice-lite at session level. */
  iceLite: boolean;
  fingerprint: SdpFingerprint;
  setup: SetupRole;
  /** RFC 5888 a=mid, when written (BUNDLE needs one). */
  mid: string | null;
  /** The id of urn:ietf:params:rtp-hdrext:sdes:mid (RFC 8843 §15.1), when offered. */
  midExtensionId: number | null;
  /** The peer's first a=ssrc for this stream (RFC 5576), when announced. */
  ssrc: number | null;
}

export const sdesMidUri = 'urn:ietf:params:rtp-hdrext:sdes:mid';

/** RFC 8839 §5.4: ice-char = ALPHA / DIGIT / "+" / "/"; ufrag 4-256, pwd 22-256 characters. */
const iceChars = /^[A-Za-z0-9+/]+$/;
const ufrag = z.string().min(4).max(256).regex(iceChars, 'not ice-chars');
const pwd = z.string().min(22).max(256).regex(iceChars, 'not ice-chars');
const fingerprint = z.object({
  type: z.string().transform((s) => s.toLowerCase()).pipe(z.enum(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512'])),
  hash: z.string().regex(/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){15,63}$/, 'not a fingerprint'),
});
const setup = z.enum(['actpass', 'active', 'passive', 'holdconn']);
const webrtcAttributes = {
  iceUfrag: ufrag.optional(),
  icePwd: pwd.optional(),
  fingerprint: fingerprint.optional(),
  setup: setup.optional(),
};
const mediaSchema = z.object({
  ...webrtcAttributes,
  mid: z.union([z.string(), z.number()]).transform(String).pipe(z.string().min(1).max(32).regex(/^[A-Za-z0-9_.~-]+$/, 'bad mid')).optional(),
  ext: z.array(z.object({ value: z.number().int().min(1).max(255), uri: z.string() })).optional(),
  ssrcs: z.array(z.object({ id: z.union([z.number(), z.string()]) })).optional(),
});
const sessionSchema = z.object({
  ...webrtcAttributes,
  icelite: z.string().optional(),
  media: z.array(z.unknown()),
});

/**
 * Reads the WebRTC attributes of m= line `index` of `text` (an SDP `parseSdp` has accepted):
 * media-level attributes over session-level ones (RFC 8839 §5.4, RFC 8122 §5). Refuses a stream
 * without ICE credentials, a fingerprint or rtcp-mux (RFC 8829 §5.1.3: rtcp-mux is required), or
 * with a=setup:holdconn.
 */
export function readWebRtc(text: string, index: number): WebRtcRemote {
  let raw: { media?: unknown[] };
  try {
    raw = sdpTransform.parse(text) as { media?: unknown[] };
  } catch (e) {
    throw new SdpError([`unparsable: ${(e as Error).message}`]);
  }
  const session = sessionSchema.safeParse(raw);
  const media = mediaSchema.safeParse(raw.media?.[index]);
  const issues = [...issuesOf('session', session), ...issuesOf(`media.${index}`, media)];
  if (!session.success || !media.success) throw new SdpError(issues);
  const s = session.data;
  const m = media.data;
  const rtcpMux = (raw.media?.[index] as { rtcpMux?: unknown } | undefined)?.rtcpMux !== undefined;
  const problems: string[] = [];
  const iceUfrag = m.iceUfrag ?? s.iceUfrag;
  const icePwd = m.icePwd ?? s.icePwd;
  const fp = m.fingerprint ?? s.fingerprint;
  // RFC 4145 §4: "If the a=setup attribute is absent, the default is active".
  const role = m.setup ?? s.setup ?? 'active';
  if (!iceUfrag || !icePwd) problems.push('no a=ice-ufrag / a=ice-pwd (RFC 8839 §5.4)');
  if (!fp) problems.push('no a=fingerprint (RFC 8122 §5)');
  if (!rtcpMux) problems.push('no a=rtcp-mux (RFC 8829 §5.1.3)');
  if (role === 'holdconn') problems.push('a=setup:holdconn');
  const ssrc = m.ssrcs?.[0] ? Number(m.ssrcs[0].id) : null;
  if (ssrc !== null && !(Number.isInteger(ssrc) && ssrc > 0 && ssrc < 2 ** 32)) problems.push(`bad a=ssrc ${String(m.ssrcs?.[0]?.id)}`);
  if (problems.length) throw new SdpError(problems);
  return {
    iceUfrag: iceUfrag!,
    icePwd: icePwd!,
    iceLite: s.icelite !== undefined,
    fingerprint: { algorithm: fp!.type, value: fp!.hash.toUpperCase() },
    setup: role,
    mid: m.mid ?? null,
    midExtensionId: m.ext?.find((e) => e.uri === sdesMidUri)?.value ?? null,
    ssrc,
  };
}

/**
 * True when the offer's first live audio stream is WebRTC (a DTLS-SRTP profile). Throws
 * `SdpError` for a body `parseSdp` refuses.
 */
export function isWebRtcOffer(text: string): boolean {
  const sdp = parseSdp(text);
  const audio = sdp.media.find((m) => m.type === 'audio' && m.port !== 0);
  return audio !== undefined && webRtcProfiles.has(audio.protocol);
}

/**
 * `isWebRtcOffer` without the check: reads only the first live audio m= line's profile, for a
 * caller that negotiates the offer next (the negotiation parses and checks it once, and refuses
 * a bad SDP whichever leg kind was chosen). False when there is no such line.
 */
export function offersWebRtc(text: string): boolean {
  for (const m of text.matchAll(/^m=audio[ \t]+(\d+)(?:\/\d+)?[ \t]+(\S+)/gm)) {
    if (Number(m[1]) !== 0) return webRtcProfiles.has(m[2]!);
  }
  return false;
}

function issuesOf(where: string, r: { success: boolean; error?: z.ZodError }): string[] {
  if (r.success || !r.error) return [];
  return r.error.issues.map((i) => `${[where, ...i.path].join('.')}: ${i.message}`);
}
