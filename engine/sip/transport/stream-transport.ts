/**
 * SIP over TCP and TLS (RFC 3261 §18, RFC 5630 for TLS): a listening server plus outgoing
 * connections. Connections are kept in one table, found again by id (to answer on the
 * connection a request came on, §18.2.2) or by peer address (to reuse a connection for the next
 * request to the same peer, §18.1.1 "a client ... SHOULD ... reuse"), and closed when idle.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../../../config/logger.js';
import { TypedEmitter } from '../../../lib/typed-emitter.js';
import { StreamConnection, type StreamConnectionOptions } from './stream-connection.js';
import { TransportError, normalizeAddress, type Destination, type Endpoint, type SentInfo, type Transport, type TransportEvents } from './types.js';

interface StreamTransportOptions extends StreamConnectionOptions {
  host: string;
  port: number;
  /** Give up connecting after this long. */
  connectTimeoutMs: number;
  /** Most simultaneous connections accepted. */
  maxConnections: number;
  /** Whether a new connection from this address is accepted (false: closed at once, e.g. a banned source). */
  admit?: (address: string) => boolean;
  /** Certificate and key (PEM) for a TLS listener, and what outgoing TLS connections check. */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer; rejectUnauthorized: boolean };
}

const peerKey = (address: string, port: number) => `${normalizeAddress(address)}|${port}`;

export class StreamTransport extends TypedEmitter<TransportEvents> implements Transport {
  readonly reliable = true;
  readonly #conns = new Map<number, StreamConnection>();
  readonly #byPeer = new Map<string, StreamConnection>();
  readonly #connecting = new Map<string, Promise<StreamConnection>>();
  /** Connects in progress, with the function that abandons each. */
  readonly #dialing = new Map<net.Socket, (err: Error) => void>();
  #closed: Promise<void> | undefined;

  private constructor(
    readonly protocol: 'tcp' | 'tls',
    private readonly server: net.Server,
    readonly local: Endpoint,
    private readonly opts: StreamTransportOptions,
    private readonly log: Logger,
  ) {
    super((event, error) => log.error({ err: error, event }, 'stream transport listener failed'));
    // A refused source is cut before the TLS handshake (the plain socket's 'connection' comes first).
    server.on('connection', (socket: net.Socket) => {
      if (opts.admit && !opts.admit(normalizeAddress(socket.remoteAddress ?? ''))) socket.destroy();
    });
    server.on(protocol === 'tls' ? 'secureConnection' : 'connection', (socket: net.Socket) => {
      if (!socket.destroyed) this.#adopt(socket);
    });
    server.on('error', (err) => log.warn({ err, protocol }, 'sip listener error'));
    if (protocol === 'tls') {
      server.on('tlsClientError', (err) => log.debug({ err }, 'sip tls handshake failed'));
    }
  }

  /** Listens on `opts.host:opts.port` (port 0: any free port; read it from `local`). */
  static listen(protocol: 'tcp' | 'tls', opts: StreamTransportOptions, log: Logger): Promise<StreamTransport> {
    if (protocol === 'tls' && !opts.tls) return Promise.reject(new Error('tls transport needs a certificate and key'));
    const server =
      protocol === 'tls'
        ? tls.createServer({ cert: opts.tls!.cert, key: opts.tls!.key, handshakeTimeout: opts.connectTimeoutMs })
        : net.createServer();
    server.maxConnections = opts.maxConnections;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: opts.host, port: opts.port, exclusive: true }, () => {
        server.off('error', reject);
        const a = server.address() as net.AddressInfo;
        resolve(new StreamTransport(protocol, server, { address: normalizeAddress(a.address), port: a.port }, opts, log));
      });
    });
  }

  #adopt(socket: net.Socket): StreamConnection {
    const conn = new StreamConnection(socket, this.protocol, this.opts, {
      onMessage: (raw, source) => this.emit('message', raw, source),
      onMalformed: (error, head, source) => this.emit('malformed', error, head, source),
      onClose: (c) => {
        this.#conns.delete(c.id);
        const key = peerKey(c.remote.address, c.remote.port);
        if (this.#byPeer.get(key) === c) this.#byPeer.delete(key);
      },
    }, this.log);
    this.#conns.set(conn.id, conn);
    this.#byPeer.set(peerKey(conn.remote.address, conn.remote.port), conn);
    return conn;
  }

  /** An open connection to the peer, or a new one. Concurrent callers share one connect. */
  #connection(address: string, port: number): Promise<StreamConnection> {
    const key = peerKey(address, port);
    const open = this.#byPeer.get(key);
    if (open?.open) return Promise.resolve(open);
    let pending = this.#connecting.get(key);
    if (!pending) {
      pending = this.#connect(address, port).finally(() => this.#connecting.delete(key));
      this.#connecting.set(key, pending);
    }
    return pending;
  }

  #connect(address: string, port: number): Promise<StreamConnection> {
    return new Promise((resolve, reject) => {
      const t = this.opts.tls;
      const socket =
        this.protocol === 'tls'
          ? tls.connect({ host: address, port, ca: t?.ca, rejectUnauthorized: t?.rejectUnauthorized ?? true, servername: net.isIP(address) ? undefined : address })
          : net.connect({ host: address, port });
      const timer = setTimeout(() => fail(new Error(`no connection after ${this.opts.connectTimeoutMs} ms`)), this.opts.connectTimeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        this.#dialing.delete(socket);
        socket.destroy();
        reject(new TransportError('connect', `${this.protocol} connect to ${address}:${port} failed: ${err.message}`));
      };
      this.#dialing.set(socket, fail);
      socket.once('error', fail);
      socket.once(this.protocol === 'tls' ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        this.#dialing.delete(socket);
        socket.off('error', fail);
        if (this.#closed) {
          socket.destroy();
          reject(new TransportError('closed', `${this.protocol} transport closed`));
          return;
        }
        resolve(this.#adopt(socket));
      });
    });
  }

  async send(data: Buffer, dest: Destination): Promise<SentInfo> {
    if (this.#closed) throw new TransportError('closed', `${this.protocol} transport closed`);
    const byId = dest.connectionId != null ? this.#conns.get(dest.connectionId) : undefined;
    const conn = byId?.open ? byId : await this.#connection(dest.address, dest.port);
    await conn.write(data);
    return { protocol: this.protocol, remote: conn.remote, local: conn.local, raw: data, bytes: data.length, connectionId: conn.id, sentAt: new Date() };
  }

  get listening(): boolean {
    return this.server.listening;
  }

  isOpen(connectionId: number): boolean {
    return this.#conns.get(connectionId)?.open ?? false;
  }

  connectionCount(): number {
    return this.#conns.size;
  }

  closeConnection(connectionId: number, reason: string): boolean {
    const c = this.#conns.get(connectionId);
    c?.close(reason);
    return c !== undefined;
  }

  closeFrom(address: string, reason: string): number {
    const from = [...this.#conns.values()].filter((c) => c.remote.address === address);
    for (const c of from) c.close(reason);
    return from.length;
  }

  close(): Promise<void> {
    this.#closed ??= new Promise((resolve) => {
      this.removeAllListeners();
      for (const fail of [...this.#dialing.values()]) fail(new Error('transport closed'));
      for (const c of [...this.#conns.values()]) c.close('transport closed');
      this.server.close(() => resolve());
    });
    return this.#closed;
  }
}
