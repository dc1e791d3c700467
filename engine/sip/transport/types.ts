/**
 * Shared shapes of the transport layer (RFC 3261 §18): where a message came from, where one goes,
 * and what was sent. A `Transport` moves bytes; `TransportLayer` gives them SIP meaning.
 */
import type { SipParseError } from '../message/errors.js';

/** `ws`: SIP over WebSocket (RFC 7118), served on the HTTP port. */
export type SipProtocol = 'udp' | 'tcp' | 'tls' | 'ws';

/**
 * True for transports whose messages come framed by the transport itself (a UDP datagram, a
 * WebSocket message: RFC 7118 §5 "each SIP message MUST be carried within a single WebSocket
 * message"), false for byte streams framed by Content-Length (§18.3).
 */
export function isMessageFramed(protocol: SipProtocol): boolean {
  return protocol === 'udp' || protocol === 'ws';
}

export interface Endpoint {
  address: string;
  port: number;
}

/** Where a message came from and where it arrived. */
export interface MessageSource {
  protocol: SipProtocol;
  /** The peer's address and port (IPv4-mapped IPv6 addresses are given as IPv4). */
  remote: Endpoint;
  /**
   * The local address and port the message arrived on. For UDP this is the bound address: Node
   * cannot tell which local address a datagram reached when bound to a wildcard.
   */
  local: Endpoint;
  /** The connection it came on (TCP, TLS, WebSocket), or null for UDP. */
  connectionId: number | null;
}

/** A received message's origin plus its exact bytes (the drachtio layer reports their size). */
export interface ReceivedInfo {
  source: MessageSource;
  raw: Buffer;
  bytes: number;
  receivedAt: Date;
}

/** Where to send: an address already resolved, or an open connection. */
export interface Destination {
  address: string;
  port: number;
  /** Send on this connection if it is still open (stream transports). */
  connectionId?: number | null;
}

/** A request's next hop as the layers above name it: host may be a name. */
export interface Target {
  protocol: SipProtocol;
  host: string;
  port: number;
  connectionId?: number | null;
}

/** What was put on the wire. */
export interface SentInfo {
  protocol: SipProtocol;
  remote: Endpoint;
  local: Endpoint;
  raw: Buffer;
  bytes: number;
  connectionId: number | null;
  sentAt: Date;
}

/** `refused`: the destination is a banned source (see SourceGuard). */
type TransportErrorCode = 'no-transport' | 'dns' | 'connect' | 'closed' | 'too-large' | 'send' | 'refused';

/** A message could not be sent (§18.4 transport errors, reported to transactions as such). */
export class TransportError extends Error {
  constructor(
    readonly code: TransportErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

export interface TransportEvents extends Record<string, unknown[]> {
  /** A whole message's bytes (a datagram, or a Content-Length framed stream message). */
  message: [raw: Buffer, source: MessageSource];
  /** A stream that cannot be framed any more; `head` is its header section when known. */
  malformed: [error: SipParseError, head: Buffer | undefined, source: MessageSource];
}

/** One listening transport: UDP, TCP, TLS or WebSocket. */
export interface Transport {
  readonly protocol: SipProtocol;
  /** §18: TCP, TLS and WebSocket are reliable, UDP is not; the transaction timers depend on it. */
  readonly reliable: boolean;
  /** The bound address and port. */
  readonly local: Endpoint;
  /** True while the socket or server is bound and accepting. */
  readonly listening: boolean;
  on<K extends keyof TransportEvents>(event: K, listener: (...args: TransportEvents[K]) => void): () => void;
  send(data: Buffer, dest: Destination): Promise<SentInfo>;
  /** True while the stream connection `id` is open (always false for UDP). */
  isOpen(connectionId: number): boolean;
  /** Open stream connections (0 for UDP). */
  connectionCount(): number;
  /**
   * The open connection that reaches `host` though it cannot be dialled (a WebSocket client's
   * `*.invalid` Contact host, RFC 7118 §5), or undefined. Only the WebSocket transport has any.
   */
  connectionFor?(host: string): number | undefined;
  /** Closes one connection (a peer that sent garbage); false when it is not open (always for UDP). */
  closeConnection(connectionId: number, reason: string): boolean;
  /** Closes every stream connection from `address` (a banned source); how many (0 for UDP). */
  closeFrom(address: string, reason: string): number;
  /** Stops listening, closes every connection and clears every timer. Idempotent. */
  close(): Promise<void>;
}

/** `::ffff:1.2.3.4` -> `1.2.3.4`, so addresses compare the same on dual-stack sockets. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
