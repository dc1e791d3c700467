/** Builds SIP text for tests: lines joined by CRLF, an empty line, then the body. */
import { DEFAULT_LIMITS } from '../../engine/sip/message/parser.js';
import { parseMessage } from '../../engine/sip/message/parser.js';
import type { SipMessage } from '../../engine/sip/message/message.js';

/** `headLines` (start line first), then CRLF CRLF, then `body`. */
export function sipText(headLines: string[], body = ''): string {
  return `${headLines.join('\r\n')}\r\n\r\n${body}`;
}

/** Lines joined by CRLF, each ending with CRLF (an SDP body). */
export function crlfLines(lines: string[]): string {
  return lines.map((l) => `${l}\r\n`).join('');
}

/** A 150-byte SDP body, the one RFC 4475 uses in several messages. */
export const SDP_150 = crlfLines([
  'v=0',
  'o=mhandley 29739 7272939 IN IP4 192.0.2.3',
  's=-',
  'c=IN IP4 192.0.2.4',
  't=0 0',
  'm=audio 49217 RTP/AVP 0 12',
  'm=video 3227 RTP/AVP 31',
  'a=rtpmap:31 LPC',
]);

/** Parses a datagram with the default limits. */
export function parseDatagram(text: string | Buffer): SipMessage {
  return parseMessage(typeof text === 'string' ? Buffer.from(text, 'utf8') : text, { stream: false, limits: DEFAULT_LIMITS });
}

interface RequestTextOptions {
  method: string;
  uri?: string;
  branch: string;
  callId: string;
  /** Port in our Via sent-by (and Contact). */
  viaPort: number;
  viaHost?: string;
  transport?: 'UDP' | 'TCP' | 'TLS' | 'WS';
  /** Adds an empty rport to the Via (RFC 3581). */
  rport?: boolean;
  fromTag?: string;
  toTag?: string;
  cseq?: number;
  cseqMethod?: string;
  extra?: string[];
  body?: string;
}

/** A request as a peer would write it. */
export function requestText(o: RequestTextOptions): string {
  const host = o.viaHost ?? '127.0.0.1';
  const body = o.body ?? '';
  return sipText(
    [
      `${o.method} ${o.uri ?? 'sip:uas@127.0.0.1'} SIP/2.0`,
      `Via: SIP/2.0/${o.transport ?? 'UDP'} ${host}:${o.viaPort};branch=${o.branch}${o.rport ? ';rport' : ''}`,
      'Max-Forwards: 70',
      `From: "Peer" <sip:peer@127.0.0.1>;tag=${o.fromTag ?? 'peertag'}`,
      `To: <sip:uas@127.0.0.1>${o.toTag ? `;tag=${o.toTag}` : ''}`,
      `Call-ID: ${o.callId}`,
      `CSeq: ${o.cseq ?? 1} ${o.cseqMethod ?? o.method}`,
      `Contact: <sip:peer@${host}:${o.viaPort}${o.transport && o.transport !== 'UDP' ? `;transport=${o.transport.toLowerCase()}` : ''}>`,
      ...(o.extra ?? []),
      `Content-Length: ${Buffer.byteLength(body)}`,
    ],
    body,
  );
}

/** A response to `req` as a peer would write it: Vias, From, To (+ tag), Call-ID, CSeq copied. */
export function responseText(
  req: import('../../engine/sip/message/message.js').SipRequest,
  status: number,
  reason: string,
  opts: { toTag?: string; extra?: string[]; body?: string } = {},
): string {
  const body = opts.body ?? '';
  const to = req.header('To');
  return sipText(
    [
      `SIP/2.0 ${status} ${reason}`,
      ...req.headers.getAll('Via').map((v) => `Via: ${v}`),
      `From: ${req.header('From')}`,
      `To: ${opts.toTag && !/;tag=/.test(to) ? `${to};tag=${opts.toTag}` : to}`,
      `Call-ID: ${req.callId}`,
      `CSeq: ${req.header('CSeq')}`,
      ...(opts.extra ?? []),
      `Content-Length: ${Buffer.byteLength(body)}`,
    ],
    body,
  );
}
