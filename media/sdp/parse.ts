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
  const sdp = checkedSession(raw) ?? checkedBySchema(raw);
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

/** The session checked by its zod schema: the reference, and the one path that names each problem. */
export function checkedBySchema(raw: unknown): ParsedSdp {
  const result = sessionSchema.safeParse(raw);
  if (!result.success) {
    throw new SdpError(result.error.issues.map((i) => `${i.path.join('.') || 'session'}: ${i.message}`));
  }
  return result.data;
}

/*
 * The same check without zod, for the common case (every INVITE's SDP goes through here, and the
 * schema pass was a few percent of a call's CPU). It accepts only what the schema accepts and
 * returns what the schema returns (the declared fields, the same conversions); anything it is
 * not sure of gives null, and the schema decides (and words the refusal). test/media/sdp.test.ts
 * holds it to the schema over real and mangled offers.
 */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isPort = (v: unknown): v is number => isInt(v) && v >= 0 && v <= 65535;
const isText = (v: unknown): v is string | number => typeof v === 'string' || isNum(v);
const directions: ReadonlySet<unknown> = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);

/** Copies `key` when present and valid; false when present and invalid. */
function optional(from: Obj, to: Obj, key: string, ok: (v: unknown) => boolean, map: (v: never) => unknown = (v) => v): boolean {
  if (!(key in from)) return true;
  const v = from[key];
  if (!ok(v)) return false;
  to[key] = map(v as never);
  return true;
}

function checkedConnection(v: unknown): Obj | null {
  if (!isObj(v) || (v.version !== 4 && v.version !== 6) || typeof v.ip !== 'string') return null;
  if (isIP(v.ip) === 0 && !hostName.test(v.ip)) return null;
  return { version: v.version, ip: v.ip };
}

function checkedMedia(m: unknown): Obj | null {
  if (!isObj(m) || typeof m.type !== 'string' || !/^[a-z]+$/i.test(m.type) || !isPort(m.port)) return null;
  if (typeof m.protocol !== 'string' || m.protocol.length < 1 || !Array.isArray(m.rtp) || !Array.isArray(m.fmtp)) return null;
  const rtp: Obj[] = [];
  for (const r of m.rtp as unknown[]) {
    if (!isObj(r) || !isInt(r.payload) || r.payload < 0 || r.payload > 127 || typeof r.codec !== 'string') return null;
    const out: Obj = { payload: r.payload, codec: r.codec };
    if (!optional(r, out, 'rate', (v) => isInt(v) && v > 0) || !optional(r, out, 'encoding', isText)) return null;
    rtp.push(out);
  }
  const fmtp: Obj[] = [];
  for (const f of m.fmtp as unknown[]) {
    if (!isObj(f) || !isInt(f.payload) || !isText(f.config)) return null;
    fmtp.push({ payload: f.payload, config: String(f.config) });
  }
  const out: Obj = { type: m.type, port: m.port, protocol: m.protocol };
  if (!optional(m, out, 'payloads', isText, String)) return null;
  if ('connection' in m) {
    const c = checkedConnection(m.connection);
    if (!c) return null;
    out.connection = c;
  }
  out.rtp = rtp;
  out.fmtp = fmtp;
  if (!optional(m, out, 'rtcp', (v) => isObj(v) && isPort(v.port), (v: Obj) => ({ port: v.port }))) return null;
  if (!optional(m, out, 'rtcpMux', (v) => typeof v === 'string')) return null;
  if (!optional(m, out, 'direction', (v) => directions.has(v))) return null;
  if (!optional(m, out, 'ptime', (v) => isNum(v) && v > 0)) return null;
  if ('ssrcs' in m) {
    if (!Array.isArray(m.ssrcs)) return null;
    const ssrcs: Obj[] = [];
    for (const x of m.ssrcs as unknown[]) {
      if (!isObj(x) || !isText(x.id)) return null;
      ssrcs.push({ id: x.id });
    }
    out.ssrcs = ssrcs;
  }
  if (!optional(m, out, 'mid', isText, String)) return null;
  return out;
}

/** `sessionSchema`'s result for `raw`, or null when the schema must decide. */
export function checkedSession(raw: unknown): ParsedSdp | null {
  if (!isObj(raw) || raw.version !== 0 || !isObj(raw.origin) || !Array.isArray(raw.media) || raw.media.length < 1) return null;
  const o = raw.origin;
  if (!isText(o.username) || !isText(o.sessionId) || !isText(o.sessionVersion) || (o.ipVer !== 4 && o.ipVer !== 6) || !isText(o.address)) return null;
  const out: Obj = {
    version: 0,
    origin: { username: o.username, sessionId: o.sessionId, sessionVersion: o.sessionVersion, ipVer: o.ipVer, address: o.address },
  };
  if ('connection' in raw) {
    const c = checkedConnection(raw.connection);
    if (!c) return null;
    out.connection = c;
  }
  if (!optional(raw, out, 'direction', (v) => directions.has(v))) return null;
  const media: Obj[] = [];
  for (const m of raw.media as unknown[]) {
    const c = checkedMedia(m);
    if (!c) return null;
    media.push(c);
  }
  out.media = media;
  return out as unknown as ParsedSdp;
}
