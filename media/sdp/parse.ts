/**
 * SDP text -> a checked session description. sdp-transform does the tokenising; it never throws
 * and silently drops what it does not understand, so the structure we rely on is then checked
 * with zod (RFC 4566 §5 for the line grammar). Anything wrong is an `SdpError` naming each problem.
 */
import { isIP } from 'node:net';
import sdpTransform from 'sdp-transform';
import { z } from 'zod';
import { SdpError } from '../errors.js';

/** Largest SDP body accepted; a phone's offer is well under 2 kB. */
const maxSdpBytes = 16 * 1024;

const port = z.number().int().min(0).max(65535);
/** RFC 4566 §5.7: unicast-address is an IP literal or a fully qualified domain name. */
const hostName = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const address = z.string().refine((a) => isIP(a) !== 0 || hostName.test(a), 'not an IP address or host name');
const connection = z.object({ version: z.union([z.literal(4), z.literal(6)]), ip: address });
const direction = z.enum(['sendrecv', 'sendonly', 'recvonly', 'inactive']).optional();

const mediaSchema = z.object({
  type: z.string().regex(/^[a-z]+$/i, 'bad media type'),
  port,
  protocol: z.string().min(1),
  payloads: z.union([z.string(), z.number()]).transform(String).optional(),
  connection: connection.optional(),
  rtp: z.array(
    z.object({
      payload: z.number().int().min(0).max(127),
      codec: z.string(),
      rate: z.number().int().positive().optional(),
      encoding: z.union([z.number(), z.string()]).optional(),
    }),
  ),
  fmtp: z.array(z.object({ payload: z.number().int(), config: z.union([z.string(), z.number()]).transform(String) })),
  rtcp: z.object({ port }).optional(),
  rtcpMux: z.string().optional(),
  direction,
  ptime: z.number().positive().optional(),
  ssrcs: z.array(z.object({ id: z.union([z.number(), z.string()]) })).optional(),
  /** RFC 5888 a=mid; checked strictly for WebRTC streams in webrtc.ts, kept as text here. */
  mid: z.union([z.string(), z.number()]).transform(String).optional().catch(undefined),
});

const sessionSchema = z.object({
  version: z.literal(0),
  origin: z.object({
    username: z.union([z.string(), z.number()]),
    sessionId: z.union([z.string(), z.number()]),
    sessionVersion: z.union([z.string(), z.number()]),
    ipVer: z.union([z.literal(4), z.literal(6)]),
    address: z.union([z.string(), z.number()]),
  }),
  connection: connection.optional(),
  direction,
  media: z.array(mediaSchema).min(1, 'no m= line'),
});

export type ParsedSdp = z.infer<typeof sessionSchema>;
export type ParsedMedia = ParsedSdp['media'][number];

/** Parses and checks an SDP body. Throws `SdpError`, never anything else. */
export function parseSdp(text: unknown): ParsedSdp {
  if (typeof text !== 'string' || text.trim() === '') throw new SdpError(['empty body']);
  if (Buffer.byteLength(text) > maxSdpBytes) throw new SdpError([`larger than ${maxSdpBytes} bytes`]);
  const lines = text.split(/\r\n|\r|\n/).filter((l) => l !== '');
  if (lines[0] !== 'v=0') throw new SdpError(['first line is not v=0 (RFC 4566 §5.1)']);
  const bad = lines.filter((l) => !/^[a-z]=/.test(l));
  if (bad.length) throw new SdpError(bad.slice(0, 3).map((l) => `not an SDP line: ${JSON.stringify(l.slice(0, 60))}`));

  let raw: unknown;
  try {
    raw = sdpTransform.parse(text);
  } catch (e) {
    throw new SdpError([`unparsable: ${(e as Error).message}`]);
  }
  const result = sessionSchema.safeParse(raw);
  if (!result.success) {
    throw new SdpError(result.error.issues.map((i) => `${i.path.join('.') || 'session'}: ${i.message}`));
  }
  const sdp = result.data;
  const problems: string[] = [];
  sdp.media.forEach((m, i) => {
    if (m.port !== 0 && !m.connection && !sdp.connection) problems.push(`media.${i}: no c= line (RFC 4566 §5.7)`);
    if (!/^\d+( \d+)*$/.test(m.payloads ?? '') && m.protocol.startsWith('RTP/')) {
      problems.push(`media.${i}: bad RTP format list ${JSON.stringify(m.payloads ?? '')}`);
    }
  });
  if (problems.length) throw new SdpError(problems);
  return sdp;
}
