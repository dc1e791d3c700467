/**
 * SIP over WebSocket (RFC 7118) as a transport of the stack. The WebSockets themselves belong to
 * the HTTP server (uWebSockets.js, `api/sip-websocket.ts`), which hands each accepted socket to
 * this transport through the `WsGateway` interface; in `sip.server = thread` mode the gateway is
 * a message bridge to the SIP thread (`ws-bridge.ts`). One WebSocket message is one SIP message
 * (RFC 7118 §5: "each SIP message MUST be carried within a single WebSocket message"), so
 * messages are parsed as datagrams: no Content-Length framing. A WebSocket client cannot be
 * dialled: requests and responses reach it only on its open connection (RFC 7118 §5.2, the
 * connection-oriented nature of the transport).
 */
import type { Logger } from '../../../config/logger.js';
import { TypedEmitter } from '../../../lib/typed-emitter.js';
import { TransportError, type Destination, type Endpoint, type MessageSource, type SentInfo, type Transport, type TransportEvents } from './types.js';

/** RFC 6455 §7.4.1 close codes the transport uses. */
export const wsCloseCodes = {
  goingAway: 1001,
  /** A message that is not SIP (RFC 6455 §7.4.1 1007: "data within a message that was not consistent with the type"). */
  invalidPayload: 1007,
  /** The peer does not read what we send. */
  policy: 1008,
  /** The engine is full of SIP WebSockets. */
  tryAgainLater: 1013,
} as const;

/** One accepted WebSocket, as the HTTP server holds it. */
export interface WsPeer {
  /** Sends one WebSocket message; false when it could not be (closed, or the peer does not read). */
  send(data: Buffer): boolean;
  /** Ends the WebSocket with a close frame. */
  close(code: number, reason: string): void;
}

/** What the HTTP server reports about one WebSocket it handed to the transport. */
export interface WsConnectionHandle {
  /** A whole WebSocket message (text or binary). */
  message(data: Buffer): void;
  /** The WebSocket is gone (either side closed it). */
  closed(): void;
}

/** The transport as the HTTP server sees it: where it listens, and the sockets it accepts. */
export interface WsGateway {
  /** The HTTP server listens at `local`: our Via sent-by and listening point for `ws`. */
  serve(local: Endpoint): void;
  /** A WebSocket was accepted from `remote`; null when the transport is closed (close the socket). */
  open(peer: WsPeer, remote: Endpoint, local: Endpoint): WsConnectionHandle | null;
}

/** A keep-alive: CRLFs only (RFC 5626 §4.4.1 ping as SIP.js sends it over WebSocket). */
const KEEPALIVE = /^(?:\r\n)+$/;
const PONG = Buffer.from('\r\n');

interface WsConnection {
  readonly id: number;
  readonly peer: WsPeer;
  readonly source: MessageSource;
  /** Contact hosts this socket's messages named (see `alias`). */
  readonly aliases: Set<string>;
}

/** Contact hosts remembered per socket at most: a client names one, a few at worst. */
const MAX_ALIASES_PER_CONNECTION = 4;

export class WsTransport extends TypedEmitter<TransportEvents> implements Transport, WsGateway {
  readonly protocol = 'ws';
  readonly reliable = true;
  readonly #conns = new Map<number, WsConnection>();
  /** Contact host (lower case) -> the socket that named it. */
  readonly #aliases = new Map<string, number>();
  #local: Endpoint = { address: '0.0.0.0', port: 0 };
  #nextId = 1;
  #closed = false;

  constructor(private readonly log: Logger) {
    super((event, error) => log.error({ err: error, event }, 'ws transport listener failed'));
  }

  /** Where the HTTP server listens (port 0 until it has started). */
  get local(): Endpoint {
    return this.#local;
  }

  /**
   * True while open: the stack is ready for WebSockets from the moment it starts, and the HTTP
   * server that carries them starts after it.
   */
  get listening(): boolean {
    return !this.#closed;
  }

  serve(local: Endpoint): void {
    this.#local = { ...local };
  }

  open(peer: WsPeer, remote: Endpoint, local: Endpoint): WsConnectionHandle | null {
    if (this.#closed) return null;
    const id = this.#nextId++;
    // `remote.port` is a stand-in (uWebSockets.js does not tell the peer's port), unique per address.
    const conn: WsConnection = { id, peer, source: { protocol: 'ws', remote: { ...remote }, local: { ...local }, connectionId: id }, aliases: new Set() };
    this.#conns.set(id, conn);
    this.log.debug({ connection: id, remote }, 'sip websocket opened');
    return {
      message: (data) => this.#onMessage(conn, data),
      closed: () => {
        if (this.#forget(conn)) this.log.debug({ connection: id, remote }, 'sip websocket closed');
      },
    };
  }

  #onMessage(conn: WsConnection, data: Buffer): void {
    if (this.#closed || !this.#conns.has(conn.id)) return;
    // CR first: a SIP message (every other frame) is not turned into a string for the test.
    if (data[0] === 0x0d && KEEPALIVE.test(data.toString('latin1'))) {
      conn.peer.send(PONG);
      return;
    }
    this.emit('message', data, conn.source);
  }

  async send(data: Buffer, dest: Destination): Promise<SentInfo> {
    if (this.#closed) throw new TransportError('closed', 'ws transport closed');
    const conn = (dest.connectionId != null ? this.#conns.get(dest.connectionId) : undefined) ?? this.#byFlow(dest.address, dest.port);
    if (!conn) throw new TransportError('closed', `no open WebSocket ${dest.connectionId ?? `to ${dest.address}`}: a WebSocket peer cannot be dialled`);
    if (!conn.peer.send(data)) {
      this.closeConnection(conn.id, 'peer does not read');
      throw new TransportError('send', `WebSocket ${conn.id}: peer does not read`);
    }
    return { protocol: 'ws', remote: conn.source.remote, local: conn.source.local, raw: data, bytes: data.length, connectionId: conn.id, sentAt: new Date() };
  }

  /**
   * RFC 7118 §5: a WebSocket client's Contact names a host nobody can resolve
   * (`df7jal23ls0d.invalid`); requests to it (in-dialog requests, calls to its registration) must
   * go down the socket its messages came on. The transport layer calls this with each Contact host
   * a socket's messages carry. A host another open socket holds is not taken over.
   */
  alias(host: string, connectionId: number): void {
    const conn = this.#conns.get(connectionId);
    const key = host.toLowerCase();
    if (!conn || conn.aliases.has(key) || conn.aliases.size >= MAX_ALIASES_PER_CONNECTION) return;
    if (this.#aliases.has(key)) return;
    this.#aliases.set(key, connectionId);
    conn.aliases.add(key);
  }

  connectionFor(host: string): number | undefined {
    return this.#aliases.get(host.toLowerCase());
  }

  /** Drops a socket and its aliases; false when it was already gone. */
  #forget(conn: WsConnection): boolean {
    for (const a of conn.aliases) if (this.#aliases.get(a) === conn.id) this.#aliases.delete(a);
    return this.#conns.delete(conn.id);
  }

  /** The open socket whose flow is `address:port` (the stand-in port the HTTP server gave it). */
  #byFlow(address: string, port: number): WsConnection | undefined {
    for (const c of this.#conns.values()) if (c.source.remote.port === port && c.source.remote.address === address) return c;
    return undefined;
  }

  isOpen(connectionId: number): boolean {
    return this.#conns.has(connectionId);
  }

  connectionCount(): number {
    return this.#conns.size;
  }

  closeConnection(connectionId: number, reason: string): boolean {
    const conn = this.#conns.get(connectionId);
    if (!conn) return false;
    this.#forget(conn);
    this.log.info({ connection: connectionId, remote: conn.source.remote, reason }, 'sip websocket closed by the engine');
    conn.peer.close(reason === 'peer does not read' ? wsCloseCodes.policy : wsCloseCodes.invalidPayload, reason.slice(0, 120));
    return true;
  }

  closeFrom(address: string, reason: string): number {
    const from = [...this.#conns.values()].filter((c) => c.source.remote.address === address);
    for (const c of from) {
      this.#forget(c);
      c.peer.close(wsCloseCodes.policy, reason);
    }
    return from.length;
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.removeAllListeners();
      for (const c of this.#conns.values()) c.peer.close(wsCloseCodes.goingAway, 'sip transport closed');
      this.#conns.clear();
      this.#aliases.clear();
    }
    return Promise.resolve();
  }
}
