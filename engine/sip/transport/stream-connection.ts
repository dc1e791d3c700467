/**
 * One TCP or TLS connection carrying SIP: frames the byte stream into messages (§18.3), answers
 * RFC 5626 CRLF keep-alive pings, and closes itself when idle, when a peer dribbles a message
 * slower than `partialMessageMs` (slowloris), when it cannot be framed any more, or when the
 * peer stops reading (`maxWriteBuffer`).
 */
import type net from 'node:net';
import type { Logger } from '../../../config/logger.js';
import type { SipParseError } from '../message/errors.js';
import type { ParseLimits } from '../message/parser.js';
import { StreamFramer } from '../message/stream-framer.js';
import { TransportError, normalizeAddress, type Endpoint, type MessageSource } from './types.js';

export interface StreamConnectionOptions {
  limits: ParseLimits;
  /** Close after this long without traffic either way. */
  idleMs: number;
  /** Close when a started message is still incomplete after this long. */
  partialMessageMs: number;
  /** Close when more than this many bytes wait to be written to the peer. */
  maxWriteBuffer: number;
}

interface StreamConnectionHandlers {
  onMessage(raw: Buffer, source: MessageSource): void;
  onMalformed(error: SipParseError, head: Buffer | undefined, source: MessageSource): void;
  onClose(conn: StreamConnection): void;
}

/** After a framing error, how long the connection stays open so a 400 can still be written. */
const LINGER_MS = 250;

let nextId = 1;

export class StreamConnection {
  readonly id = nextId++;
  readonly remote: Endpoint;
  readonly local: Endpoint;
  readonly source: MessageSource;
  #framer: StreamFramer;
  #idle: NodeJS.Timeout;
  #partial: NodeJS.Timeout | undefined;
  #linger: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    private readonly socket: net.Socket,
    readonly protocol: 'tcp' | 'tls',
    private readonly opts: StreamConnectionOptions,
    private readonly handlers: StreamConnectionHandlers,
    private readonly log: Logger,
  ) {
    this.remote = { address: normalizeAddress(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 };
    this.local = { address: normalizeAddress(socket.localAddress ?? ''), port: socket.localPort ?? 0 };
    this.source = { protocol, remote: this.remote, local: this.local, connectionId: this.id };
    this.#framer = new StreamFramer(opts.limits);
    socket.setNoDelay(true);
    this.#idle = setTimeout(() => this.close('idle'), opts.idleMs);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => log.debug({ err, connection: this.id }, 'sip connection error'));
    socket.on('close', () => this.close('peer closed'));
  }

  get open(): boolean {
    return !this.#closed;
  }

  #onData(chunk: Buffer): void {
    if (this.#closed || this.#linger) return;
    this.#idle.refresh();
    for (const ev of this.#framer.push(chunk)) {
      if (ev.kind === 'message') this.handlers.onMessage(ev.raw, this.source);
      else if (ev.kind === 'ping') this.socket.write('\r\n'); // RFC 5626 §3.5.1: pong is a single CRLF.
      else {
        this.log.info({ connection: this.id, remote: this.remote, reason: ev.error.message }, 'sip stream cannot be framed; closing');
        this.handlers.onMalformed(ev.error, ev.head, this.source);
        this.#linger = setTimeout(() => this.close('malformed stream'), LINGER_MS);
        return;
      }
      if (this.#closed) return;
    }
    if (this.#framer.pendingBytes === 0) {
      clearTimeout(this.#partial);
      this.#partial = undefined;
    } else {
      this.#partial ??= setTimeout(() => this.close('incomplete message timed out'), this.opts.partialMessageMs);
    }
  }

  /** Writes bytes; resolves once they are handed to the OS. */
  write(data: Buffer): Promise<void> {
    if (this.#closed) return Promise.reject(new TransportError('closed', `connection ${this.id} is closed`));
    if (this.socket.writableLength + data.length > this.opts.maxWriteBuffer) {
      this.close('peer does not read');
      return Promise.reject(new TransportError('send', `connection ${this.id}: peer does not read`));
    }
    this.#idle.refresh();
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err ? reject(new TransportError('send', err.message)) : resolve()));
    });
  }

  /** Closes the connection and clears its timers. Idempotent. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idle);
    clearTimeout(this.#partial);
    clearTimeout(this.#linger);
    this.log.debug({ connection: this.id, remote: this.remote, reason }, 'sip connection closed');
    this.socket.destroy();
    this.handlers.onClose(this);
  }
}
