/**
 * Where messages go: responses by the top Via (RFC 3261 §18.2.2 with RFC 3581 rport), requests
 * by their URI (RFC 3263 §4, simplified). Pure functions; `TransportLayer` applies them.
 */
import { getParam } from '../message/params.js';
import { hostAddress, uriParam, type SipUri } from '../message/uri.js';
import { defaultPort, type Via } from '../message/via.js';
import type { MessageSource, SipProtocol, Target } from './types.js';

/**
 * The protocol a transport token (Via, URI `transport=`) names, or null for one we do not speak
 * (SCTP...). RFC 7118 §5.2: WS and WSS are both SIP over WebSocket; the engine's HTTP server
 * carries them (TLS, when there is any, ends before it), so both are our `ws` transport.
 */
function protocolOf(token: string): SipProtocol | null {
  const t = token.toLowerCase();
  if (t === 'wss') return 'ws';
  return t === 'udp' || t === 'tcp' || t === 'tls' || t === 'ws' ? t : null;
}

/** The protocol a Via transport names, or null for one we do not speak. */
function viaProtocol(via: Via): SipProtocol | null {
  return protocolOf(via.transport);
}

/** The transport token written in a Via for a protocol. */
export function viaTransport(protocol: SipProtocol): string {
  return protocol.toUpperCase();
}

/**
 * §18.2.2 "Sending Responses", in the RFC's order:
 * - reliable: "If the original request was sent over a reliable transport ... the response MUST
 *   be sent on the same connection" when it is still open (`isOpen`); otherwise "the server SHOULD
 *   open a connection to the IP address in the received parameter, if present, using the port in
 *   the sent-by value, or the default port for that transport".
 * - maddr: "the response MUST be forwarded to the address listed there, using the port indicated
 *   in sent-by, or port 5060 if none is present" (multicast TTL is not handled).
 * - unreliable with received: "the response MUST be sent to the address in the received
 *   parameter, using the port indicated in the sent-by value"; RFC 3581 §4: with an rport value,
 *   "it MUST send the response to the IP address ... in received and the port in rport".
 * - otherwise: to sent-by (host resolved by the caller, RFC 3263 §5 simplified to A/AAAA).
 */
export function responseTarget(via: Via, source: MessageSource | null, isOpen: (id: number) => boolean): Target | null {
  const protocol = viaProtocol(via);
  if (source && protocol !== source.protocol) {
    // §18.2.2 takes for granted that a request came over the transport its Via names. One that
    // did not (a peer's mistake, or RFC 4475's messages sent as written over another transport)
    // is answered the way it came: on its connection, or to its source address over UDP.
    if (source.protocol === 'udp') return { protocol: 'udp', host: source.remote.address, port: source.remote.port };
    if (source.connectionId != null && isOpen(source.connectionId)) {
      return { protocol: source.protocol, host: source.remote.address, port: source.remote.port, connectionId: source.connectionId };
    }
  }
  if (!protocol) return null;
  const received = getParam(via.params, 'received');
  const sentByPort = via.port ?? defaultPort(via.transport);
  if (protocol !== 'udp') {
    if (source?.connectionId != null && source.protocol === protocol && isOpen(source.connectionId)) {
      return { protocol, host: source.remote.address, port: source.remote.port, connectionId: source.connectionId };
    }
    return { protocol, host: received ?? hostAddress(via.host), port: sentByPort };
  }
  const maddr = getParam(via.params, 'maddr');
  if (maddr) return { protocol, host: hostAddress(maddr), port: sentByPort };
  const rport = getParam(via.params, 'rport');
  const port = rport && /^[0-9]{1,5}$/.test(rport) ? Number(rport) : sentByPort;
  return { protocol, host: hostAddress(received ?? via.host), port };
}

/**
 * The next hop for a request to `uri` (RFC 3263 §4, without NAPTR/SRV: this stack resolves only
 * A/AAAA records). Transport: the `transport` parameter if present; "sips" means TLS (§26.2.2);
 * otherwise UDP (RFC 3263 §4.1: "if no NAPTR records are found ... the transport protocol
 * SHOULD be ... UDP for SIP URIs"). `maddr` overrides the host (§19.1.1). Port: the URI's, or
 * 5060 / 5061 for TLS.
 */
export function requestTarget(uri: SipUri): Target | null {
  const param = uriParam(uri, 'transport');
  let protocol: SipProtocol;
  if (uri.scheme === 'sips') protocol = 'tls';
  else if (param == null) protocol = 'udp';
  else {
    const p = protocolOf(param);
    if (!p) return null;
    protocol = p;
  }
  const maddr = uriParam(uri, 'maddr');
  return { protocol, host: hostAddress(maddr || uri.host), port: uri.port ?? (protocol === 'tls' ? 5061 : 5060) };
}
