/**
 * The text of server -> app frames, field by field as drachtio-server 0.9.5 writes them
 * (shared/reference/drachtio-traces/README.md, "server -> app frame kinds").
 */
import type { SipProtocol } from '../transport/types.js';

/** `hh:mm:ss.micro`, the time of day drachtio stamps on each message. */
export function stackTime(d: Date = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}000`;
}

/** drachtio's dialog id: `<Call-ID>;from-tag=<From tag of the dialog-creating request>`. */
export const dialogIdOf = (callId: string, fromTag: string) => `${callId};from-tag=${fromTag}`;

export interface NetworkMeta {
  bytes: number;
  /** Empty for ACKs, as drachtio-server writes them. */
  protocol: SipProtocol | '';
  address: string;
  port: number;
  time: string;
  transactionId: string;
  dialogId: string;
}

/**
 * `sip|network|...` for a message from the network. A new out-of-dialog request also names the
 * local address it arrived on (`recv`); in-dialog requests and responses do not.
 */
export function networkHeader(m: NetworkMeta, recv?: { address: string; port: number }): string {
  const base = ['sip', 'network', m.bytes, m.protocol, m.address, m.port, m.time, m.transactionId, m.dialogId];
  return recv ? [...base, recv.address, recv.port, ''].join('|') : [...base, ''].join('|');
}

/** `sip|application|...|unsolicited|<dialogId>|`: a request the server made on the app's behalf (BYE after an ACK timeout). */
export function unsolicitedHeader(m: Omit<NetworkMeta, 'transactionId'>): string {
  return ['sip', 'application', m.bytes, m.protocol, m.address, m.port, m.time, 'unsolicited', m.dialogId, ''].join('|');
}

/** Fields after `response|<appMsgId>|` echoing a response the app sent. */
export function responseSentFields(m: NetworkMeta): string[] {
  return ['OK', 'application', String(m.bytes), m.protocol, m.address, String(m.port), m.time, m.transactionId, m.dialogId, '', 'Msg sent:', ''];
}

/** Fields after `response|<appMsgId>|` echoing a request the app sent (no dialog id field). */
export function requestSentFields(m: Omit<NetworkMeta, 'dialogId'>): string[] {
  return ['OK', 'application', String(m.bytes), m.protocol, m.address, String(m.port), m.time, m.transactionId, 'Msg sent:', ''];
}
