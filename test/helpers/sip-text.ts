/** Builds SIP text for tests: lines joined by CRLF, an empty line, then the body. */
import { DEFAULT_LIMITS } from '../../engine/sip/message/parser.js';
import { parseMessage } from '../../engine/sip/message/parser.js';
import type { SipMessage } from '../../engine/sip/message/message.js';

/** `headLines` (start line first), then CRLF CRLF, then `body`. */
export function sipText(headLines: string[], body = ''): string {
  return `${headLines.join('\r\n')}\r\n\r\n${body}`;
}

/** Same as `sipText`, as bytes. */
export function sipBytes(headLines: string[], body = ''): Buffer {
  return Buffer.from(sipText(headLines, body), 'utf8');
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
