/**
 * The server side of drachtio's control connection: apps (drachtio-srf) connect over TCP,
 * authenticate with the shared secret, register the SIP methods they handle (`route|invite`),
 * ping, and exchange SIP frames. Behaviour follows drachtio-server 0.9.5 as recorded in
 * shared/reference/drachtio-traces (01-connect-auth-route.txt).
 */
import { randomUUID, timingSafeEqual, createHash } from 'node:crypto';
import net from 'node:net';
import type { Logger } from '../../../config/logger.js';
import { encodeFrame, FrameDecoder, FrameError } from './frame.js';
import { InProcessSocket } from './in-process-socket.js';

const CRLF = '\r\n';

/** Version reported to apps. drachtio-srf pings servers at v0.8.2 or later. */
export const DRACHTIO_VERSION = 'v0.9.5-agent-studio';

/** A `sip` frame from an app: `sip|<txnId>|<dialogId>[|<proxy/route uri>]` CRLF message. */
export interface AppSipFrame {
  msgId: string;
  transactionId: string;
  dialogId: string;
  /** Explicit destination (`sip|||sip:host:port`), as on a digest retry. */
  destination: string;
  message: string;
}

/**
 * A `proxy` frame (drachtio-srf lib/drachtio-agent.js `proxy`): `proxy|<txnId>|remainInDialog|
 * fullResponse|followRedirects|simultaneous or serial|<provisionalTimeout>|<finalTimeout>|<dest>...`
 * CRLF, then a request line naming the first destination and the app's extra headers.
 */
export interface AppProxyFrame {
  msgId: string;
  transactionId: string;
  remainInDialog: boolean;
  fullResponse: boolean;
  followRedirects: boolean;
  simultaneous: boolean;
  /** `2s`, `1500ms`, or empty. */
  provisionalTimeout: string;
  finalTimeout: string;
  destinations: string[];
  message: string;
}

/** What the control server needs from the SIP side. */
interface ControlHandler {
  /** Hostports for the authenticate reply, e.g. `tcp/127.0.0.1:5090,udp/127.0.0.1:5090`. */
  hostports(): string;
  onSip(session: AppSession, frame: AppSipFrame): void;
  onProxy(session: AppSession, frame: AppProxyFrame): void;
  onClosed(session: AppSession): void;
}

export class AppSession {
  authenticated = false;
  tags: string[] = [];
  readonly routes = new Set<string>();
  readonly id = randomUUID();
  #closed = false;

  constructor(
    readonly socket: net.Socket,
    private readonly log: Logger,
  ) {}

  get closed(): boolean {
    return this.#closed || this.socket.destroyed;
  }

  /** Sends `<newMsgId>|<body>` framed; `sip` is appended after CRLF when given. */
  send(body: string, sip?: string): void {
    if (this.closed) return;
    const text = `${randomUUID()}|${body}${sip === undefined ? '' : `${CRLF}${sip}`}`;
    this.socket.write(encodeFrame(text));
  }

  /** `response|<appMsgId>|<fields…>`, the reply to one app frame. */
  reply(appMsgId: string, fields: string[], sip?: string): void {
    this.send(['response', appMsgId, ...fields].join('|'), sip);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.end();
    // A peer that never reads must not hold the socket open.
    setTimeout(() => this.socket.destroy(), 2000).unref();
    this.log.debug({ session: this.id }, 'app session closing');
  }
}

export class ControlServer {
  readonly #server: net.Server;
  readonly #sessions = new Set<AppSession>();
  readonly #secretHash: Buffer;
  /** Round-robin position per verb. */
  readonly #next = new Map<string, number>();
  #closed = false;

  constructor(
    secret: string,
    private readonly handler: ControlHandler,
    private readonly log: Logger,
  ) {
    this.#secretHash = sha256(secret);
    this.#server = net.createServer((socket) => this.#accept(socket));
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve((this.#server.address() as net.AddressInfo).port);
      });
    });
  }

  /**
   * A control connection from this process without TCP (in-process-socket.ts): the server's end
   * is accepted as a TCP connection would be, and the app's end is returned for drachtio-srf.
   * Throws once the server is closed, as a TCP connect would be refused.
   */
  openInProcess(): net.Socket {
    if (this.#closed) throw new Error('drachtio control server closed');
    const [app, server] = InProcessSocket.pair();
    this.#accept(server);
    return app;
  }

  /** Sessions that registered `verb` (lowercase SIP method), in the order to try them. */
  sessionFor(verb: string): AppSession | undefined {
    const candidates = [...this.#sessions].filter((s) => s.authenticated && !s.closed && s.routes.has(verb));
    if (!candidates.length) return undefined;
    const i = (this.#next.get(verb) ?? 0) % candidates.length;
    this.#next.set(verb, i + 1);
    return candidates[i];
  }

  get sessions(): ReadonlySet<AppSession> {
    return this.#sessions;
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#sessions) s.socket.destroy();
    this.#sessions.clear();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    socket.setKeepAlive(true);
    const session = new AppSession(socket, this.log);
    this.#sessions.add(session);
    this.log.debug({ session: session.id, remote: `${socket.remoteAddress}:${socket.remotePort}` }, 'app connected');
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      let bodies: string[];
      try {
        bodies = decoder.push(chunk);
      } catch (e) {
        this.log.warn({ session: session.id, err: (e as FrameError).message }, 'bad frame from app, closing');
        socket.destroy();
        return;
      }
      for (const body of bodies) {
        try {
          this.#onFrame(session, body);
        } catch (err) {
          this.log.error({ session: session.id, err }, 'app frame handling failed');
        }
      }
    });
    socket.on('error', (err) => this.log.debug({ session: session.id, err: err.message }, 'app socket error'));
    socket.on('close', () => {
      this.#sessions.delete(session);
      // drachtio-server closes its side when the app closes (trace 01).
      socket.destroy();
      this.handler.onClosed(session);
      this.log.debug({ session: session.id }, 'app disconnected');
    });
  }

  #onFrame(session: AppSession, body: string): void {
    const eol = body.indexOf(CRLF);
    const head = eol === -1 ? body : body.slice(0, eol);
    const fields = head.split('|');
    const msgId = fields[0] ?? '';
    const kind = fields[1];
    if (!session.authenticated && kind !== 'authenticate') {
      session.reply(msgId, ['NO', 'not authenticated']);
      session.close();
      return;
    }
    switch (kind) {
      case 'authenticate': {
        const given = sha256(fields[2] ?? '');
        if (!timingSafeEqual(given, this.#secretHash)) {
          session.reply(msgId, ['NO', 'incorrect secret']);
          session.close();
          return;
        }
        session.authenticated = true;
        session.tags = (fields[3] ?? '').split(',').filter(Boolean);
        const hp = this.handler.hostports();
        session.reply(msgId, ['OK', hp, DRACHTIO_VERSION, hp]);
        return;
      }
      case 'route':
        session.routes.add((fields[2] ?? '').toLowerCase());
        session.reply(msgId, ['OK']);
        return;
      case 'remove_route':
        session.routes.delete((fields[2] ?? '').toLowerCase());
        session.reply(msgId, ['OK']);
        return;
      case 'ping':
        session.reply(msgId, ['OK', 'pong']);
        return;
      case 'sip':
        if (eol === -1) {
          session.reply(msgId, ['NO', 'missing SIP message']);
          return;
        }
        this.handler.onSip(session, {
          msgId,
          transactionId: fields[2] ?? '',
          dialogId: fields[3] ?? '',
          destination: fields[4] ?? '',
          message: body.slice(eol + 2),
        });
        return;
      case 'proxy':
        this.handler.onProxy(session, {
          msgId,
          transactionId: fields[2] ?? '',
          remainInDialog: fields[3] === 'remainInDialog',
          fullResponse: fields[4] === 'fullResponse',
          followRedirects: fields[5] === 'followRedirects',
          simultaneous: fields[6] === 'simultaneous',
          provisionalTimeout: fields[7] ?? '',
          finalTimeout: fields[8] ?? '',
          destinations: fields.slice(9).filter(Boolean),
          message: eol === -1 ? '' : body.slice(eol + 2),
        });
        return;
      default:
        session.reply(msgId, ['NO', `unsupported request: ${kind ?? ''}`]);
    }
  }
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();
