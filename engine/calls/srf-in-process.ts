/**
 * drachtio-srf on an in-process control connection: the embedded SIP server's
 * `ControlServer#openInProcess` (a socket pair, engine/sip/drachtio/in-process-socket.ts) instead
 * of `net.connect` to its control port. drachtio-srf's code is unchanged: its wire protocol
 * (framing, authentication, routes, pings, reconnection with backoff) runs as over TCP; only the
 * place where it opens a socket is ours, in a subclass of its `WireProtocol`.
 *
 * This reaches into drachtio-srf 5.0.x internals (lib/proto.js `app.connect`,
 * lib/drachtio-agent.js `connect`, lib/wire-protocol.js `connect` and `_onConnectionGone`), each
 * mirrored below with what it does. The drachtio conformance suite runs over this channel, so a
 * drachtio-srf release that changes them fails there.
 */
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type net from 'node:net';
import type Srf from 'drachtio-srf';

const require = createRequire(import.meta.url);

/** drachtio-srf's `reconnect` option (lib/wire-protocol.js). */
export interface ReconnectOptions {
  retryMaxDelay?: number | null;
  /** 0 or absent: no limit. Read on every retry. */
  maxAttempts?: number;
  connectTimeout?: number;
}

export interface InProcessConnectOptions {
  secret: string;
  reconnect?: ReconnectOptions;
  enablePing?: boolean;
  pingInterval?: number;
}

/** Opens one control connection to the server; throws when the server is closed. */
export type OpenControl = () => net.Socket;

/** The parts of lib/wire-protocol.js's class used here. */
interface WireProtocolInternals extends EventEmitter {
  host: string;
  port: number;
  closing?: boolean;
  reconnectOpts: ReconnectOptions;
  reconnectVars: { retryTimer: NodeJS.Timeout | null; retryTotaltime: number; retryDelay: number; retryBackoff: number; attempts: number };
  initializeRetryVars(): void;
  _evalPingOpts(opts: object): void;
  installListeners(socket: net.Socket): void;
  connect(opts: InProcessConnectOptions): void;
  _onConnectionGone(): void;
}

/** The parts of lib/drachtio-agent.js's class used here. */
interface AgentInternals extends EventEmitter {
  secret: string;
  tags: string[];
  wp: WireProtocolInternals;
  _onConnect(socket: net.Socket): void;
  _onClose(socket: net.Socket): void;
  _onMsg(socket: net.Socket, msg: string): void;
}

/** The connect.js app behind `srf.app`. */
interface AppInternals {
  client: AgentInternals;
  _init(): AgentInternals;
}

const WireProtocol = require('drachtio-srf/lib/wire-protocol.js') as new (opts: object) => WireProtocolInternals;

/** drachtio-srf's wire protocol with the socket opened in-process. */
class InProcessWireProtocol extends WireProtocol {
  constructor(
    private readonly open: OpenControl,
    opts: InProcessConnectOptions,
  ) {
    super(opts);
  }

  /** wire-protocol.js `connect`, with `open()` for `net.connect` (host and port name the channel in its debug lines). */
  override connect(opts: InProcessConnectOptions): void {
    this.host = 'in-process';
    this.port = 0;
    this.reconnectOpts = opts.reconnect ?? {};
    this.reconnectVars = { retryTimer: null, retryTotaltime: 0, retryDelay: 0, retryBackoff: 0, attempts: 0 };
    this.initializeRetryVars();
    this._evalPingOpts(opts);
    this.#attempt();
  }

  /**
   * wire-protocol.js `_onConnectionGone`: the same backoff (150 ms x 1.7, capped at
   * `retryMaxDelay`), `maxAttempts` and `connectTimeout`, and the same `reconnecting` event; the
   * retry opens an in-process connection.
   */
  override _onConnectionGone(): void {
    const vars = this.reconnectVars;
    const opts = this.reconnectOpts;
    if (vars.retryTimer || this.closing) return;
    const next = Math.floor(vars.retryDelay * vars.retryBackoff);
    vars.retryDelay = opts.retryMaxDelay != null && next > opts.retryMaxDelay ? opts.retryMaxDelay : next;
    if (opts.maxAttempts && vars.attempts >= opts.maxAttempts) return;
    vars.attempts += 1;
    this.emit('reconnecting', { delay: vars.retryDelay, attempt: vars.attempts });
    vars.retryTimer = setTimeout(() => {
      vars.retryTimer = null;
      vars.retryTotaltime += vars.retryDelay;
      if (opts.connectTimeout && vars.retryTotaltime >= opts.connectTimeout) return;
      this.#attempt();
    }, vars.retryDelay);
  }

  /** One connection attempt. A refusal is an `error` and a retry, as a refused TCP connect is. */
  #attempt(): void {
    let socket: net.Socket;
    try {
      socket = this.open();
    } catch (err) {
      process.nextTick(() => {
        if (this.closing) return;
        this.emit('error', err);
        this._onConnectionGone();
      });
      return;
    }
    this.installListeners(socket);
  }
}

/**
 * Connects `srf` over `open` as `srf.connect(opts)` would over TCP: the same events (`connect`,
 * `error`, `close`, `reconnecting`), authentication with `secret`, routes, pings and reconnection.
 */
export function connectInProcess(srf: Srf, opts: InProcessConnectOptions, open: OpenControl): void {
  // srf.js `connect`: the app's tags go with the connect options.
  const { _tags: tags, app } = srf as unknown as { _tags: string[]; app: AppInternals };
  // proto.js `app.connect`: a new agent, wired to the app's events.
  const agent = (app.client = app._init());
  // drachtio-agent.js `connect`, with this wire protocol.
  agent.secret = opts.secret;
  agent.tags = tags;
  agent.wp = new InProcessWireProtocol(open, opts);
  agent.wp.connect(opts);
  for (const evt of ['reconnecting', 'close', 'error']) {
    agent.wp.on(evt, (...args: unknown[]) => agent.emit(evt, ...args));
  }
  agent.wp.on('connect', agent._onConnect.bind(agent));
  agent.wp.on('close', agent._onClose.bind(agent));
  agent.wp.on('msg', agent._onMsg.bind(agent));
}
