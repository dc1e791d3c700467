/**
 * Where a blind transfer goes, as a SIP URI for `Refer-To` and for the fallback INVITE. A target
 * is an E.164 number (`+15551234567`) or a `sip:`/`sips:` URI (the workflow's `transferTarget`).
 *
 * The rule for a number: on the call's trunk's outbound gateway when the trunk has one
 * (`sip:+1555…@host:port;user=phone`, with `transport=` when not UDP), otherwise on the caller's
 * side, at the host and port of the Contact the caller's INVITE gave (the carrier's SBC that
 * routes numbers; it is also where our in-dialog requests already go), after the trunk's
 * outbound prefix rule. A SIP URI is used as
 * written, without URI headers (`?Replaces=…` would turn a blind transfer into something else)
 * and without a password.
 */
import { parseSipUri, type SipUri } from '../sip/message/uri.js';
import type { SipTrunk } from '../store/repositories/sip-trunks.js';
import { applyPrefixRule } from './prefix-rules.js';
import type { Binding } from './registrar/bindings.js';

/** ITU-T E.164: a plus, then up to 15 digits, not starting with 0. */
const E164 = /^\+[1-9]\d{1,14}$/;

export interface ResolvedTarget {
  /** The URI to refer to and to dial. */
  uri: string;
  /** Digest credentials for the fallback INVITE, when it goes to a trunk that has them. */
  auth: { username: string; password: string } | null;
  /** What the target's media is: `webrtc` for a browser (a SIP user registered over a WebSocket), plain RTP otherwise. */
  media?: 'webrtc' | 'rtp';
  /** A SIP user's bindings, newest first: every one is rung at once (registrar/user-dial.ts). */
  bindings?: readonly Binding[];
}

export type TargetRefusal = { error: string };

/**
 * Turns a target into a URI. `callerContact` is the caller's Contact URI (the dialog's remote
 * target). Returns a refusal, never throws, for anything that is neither form.
 */
export function resolveTarget(target: string, trunk: SipTrunk | null, callerContact: string | null): ResolvedTarget | TargetRefusal {
  if (typeof target !== 'string' || target.length > 512) return { error: 'target must be an E.164 number or a sip: URI' };
  if (E164.test(target)) return numberTarget(target, trunk, callerContact);
  if (!/^sips?:/i.test(target)) return { error: 'target must be an E.164 number or a sip: URI' };
  let uri: SipUri;
  try {
    uri = parseSipUri(target);
  } catch (err) {
    return { error: (err as Error).message };
  }
  if (uri.headers !== null) return { error: 'target URI must not carry headers' };
  if (uri.password !== null) return { error: 'target URI must not carry a password' };
  // maddr sends the request elsewhere than the host (RFC 3261 §19.1.1): past the gateway check below.
  if (uri.params.some((p) => p.name.toLowerCase() === 'maddr')) return { error: 'target URI must not carry maddr' };
  const gw = trunk?.outbound;
  // Credentials go only where they belong: the trunk's own gateway.
  const auth = gw && gw.username && gw.password && sameHost(uri, gw.host) ? { username: gw.username, password: gw.password } : null;
  return { uri: target, auth };
}

function numberTarget(e164: string, trunk: SipTrunk | null, callerContact: string | null): ResolvedTarget | TargetRefusal {
  // The trunk's outbound rule writes the number the way its carrier expects (`+44…` -> `0044…`);
  // `#` is not allowed bare in a URI's user part (RFC 3261 §25.1).
  const number = applyPrefixRule(e164, trunk?.prefixRules.outbound).replaceAll('#', '%23');
  const gw = trunk?.outbound;
  if (gw) {
    const host = gw.host.includes(':') && !gw.host.startsWith('[') ? `[${gw.host}]` : gw.host;
    const scheme = gw.transport === 'tls' ? 'sips' : 'sip';
    const transport = gw.transport === 'udp' ? '' : `;transport=${gw.transport}`;
    const auth = gw.username && gw.password ? { username: gw.username, password: gw.password } : null;
    return { uri: `${scheme}:${number}@${host}:${gw.port};user=phone${transport}`, auth };
  }
  if (!callerContact) return { error: 'no outbound gateway on the trunk and no caller Contact to route the number' };
  let contact: SipUri;
  try {
    contact = parseSipUri(callerContact);
  } catch (err) {
    return { error: `caller Contact unusable: ${(err as Error).message}` };
  }
  const port = contact.port === null ? '' : `:${contact.port}`;
  const transport = contact.params.find((p) => p.name.toLowerCase() === 'transport');
  const tp = transport?.value ? `;transport=${transport.value}` : '';
  return { uri: `${contact.scheme}:${number}@${contact.host}${port};user=phone${tp}`, auth: null };
}

function sameHost(uri: SipUri, host: string): boolean {
  const strip = (h: string) => h.replace(/^\[|\]$/g, '').toLowerCase();
  return strip(uri.host) === strip(host);
}
