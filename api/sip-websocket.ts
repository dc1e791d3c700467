/**
 * SIP over WebSocket (RFC 7118) on the HTTP server: the upgrade at `sip.wsPath` with the `sip`
 * subprotocol, then each socket handed to the SIP stack's WebSocket transport through its
 * `WsGateway` (in-process, or bridged to the SIP thread). Bounded here, where the sockets are:
 * connections (503 before the upgrade), message size (uWS drops the connection, no close frame)
 * and idle time.
 */
import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t } from 'uWebSockets.js';
import type { Logger } from '../config/logger.js';
import { normalizeAddress, type Endpoint } from '../engine/sip/transport/types.js';
import { wsCloseCodes, type WsConnectionHandle, type WsGateway } from '../engine/sip/transport/ws-transport.js';

export interface SipWebSocketOptions {
  path: string;
  maxConnections: number;
  maxMessageBytes: number;
  idleTimeoutSeconds: number;
}

/**
 * What uWS may buffer for a peer that does not read before a send is refused and the socket
 * closed: a few dozen SIP messages, far more than a live dialog ever waits on.
 */
const MAX_BACKPRESSURE_BYTES = 1024 * 1024;

/** RFC 7118 §4: the WebSocket subprotocol of SIP. */
export const SIP_SUBPROTOCOL = 'sip';

interface UserData {
  remote: string;
  /** The stand-in port (see StandInPorts); 0 until open. */
  port: number;
  handle: WsConnectionHandle | null;
  ended: boolean;
}

/** The mounted endpoint. */
export interface SipWebSocketEndpoint {
  /** Tells the transport where the HTTP server listens, once it does (Via sent-by, listening point). */
  serve(local: Endpoint): void;
  /** Open SIP WebSockets. */
  connections(): number;
  /** Calls `listener` with each closed socket's flow (address and stand-in port); returns the remover. */
  onClosed(listener: (remote: Endpoint) => void): () => void;
}

/**
 * uWebSockets.js does not tell a peer's port. Each socket gets a stand-in port instead, unique
 * among the open sockets from its address, so that a flow (RFC 5626 §3) is named by address and
 * port as on TCP: in the Via's rport, in drachtio-srf's `source_port`, in a registrar's binding,
 * and in a target `sip:<address>:<port>;transport=ws` that reaches that very socket.
 */
class StandInPorts {
  readonly #used = new Set<string>();
  #next = 1;

  take(address: string): number {
    for (;;) {
      const port = this.#next;
      this.#next = (this.#next % 65535) + 1;
      if (!this.#used.has(`${address}|${port}`)) {
        this.#used.add(`${address}|${port}`);
        return port;
      }
    }
  }

  release(address: string, port: number): void {
    this.#used.delete(`${address}|${port}`);
  }
}

/** Mounts the SIP WebSocket endpoint on `app` (before the HTTP server listens). */
export function mountSipWebSocket(app: TemplatedApp, gateway: WsGateway, o: SipWebSocketOptions, log: Logger): SipWebSocketEndpoint {
  let open = 0;
  let local: Endpoint = { address: '0.0.0.0', port: 0 };
  const ports = new StandInPorts();
  const closedListeners = new Set<(remote: Endpoint) => void>();
  app.ws<UserData>(o.path, {
    maxPayloadLength: o.maxMessageBytes,
    idleTimeout: o.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    maxBackpressure: MAX_BACKPRESSURE_BYTES,
    upgrade: (res, req, context) => {
      try {
        upgrade(res, req, context, open >= o.maxConnections, log);
      } catch (err) {
        log.error({ err }, 'sip websocket upgrade threw');
        try {
          res.cork(() => res.writeStatus('500 Internal Server Error').end());
        } catch {
          // Already answered or aborted.
        }
      }
    },
    open: (ws) => {
      open++;
      const data = ws.getUserData();
      try {
        const peer = {
          send: (bytes: Buffer) => {
            if (data.ended) return false;
            let status = 0;
            ws.cork(() => (status = ws.send(bytes, false)));
            // 2: dropped at maxBackpressure (0 is buffered, 1 sent).
            return status !== 2;
          },
          close: (code: number, reason: string) => {
            if (data.ended) return;
            data.ended = true;
            ws.end(code, reason);
          },
        };
        data.port = ports.take(data.remote);
        data.handle = gateway.open(peer, { address: data.remote, port: data.port }, local);
        if (!data.handle) peer.close(wsCloseCodes.tryAgainLater, 'sip transport closed');
      } catch (err) {
        log.error({ err }, 'sip websocket open threw');
        ws.end(1011, 'internal error');
      }
    },
    message: (ws, message: ArrayBuffer) => {
      try {
        // Copied: uWS reuses the ArrayBuffer once this callback returns.
        ws.getUserData().handle?.message(Buffer.from(message.slice(0)));
      } catch (err) {
        log.error({ err }, 'sip websocket message threw');
        ws.end(1011, 'internal error');
      }
    },
    close: (ws, code, message) => {
      open--;
      const data = ws.getUserData();
      data.ended = true;
      // 1006: a message over maxMessageBytes (uWS drops it), the peer vanished, or idle timeout.
      const fields = { remote: data.remote, code, reason: Buffer.from(message).toString('utf8').slice(0, 120) };
      if (code === 1000 || code === 1001 || code === 1005) log.debug(fields, 'sip websocket closed');
      else log.info(fields, 'sip websocket closed abnormally');
      try {
        data.handle?.closed();
        if (data.port) {
          ports.release(data.remote, data.port);
          for (const l of closedListeners) l({ address: data.remote, port: data.port });
        }
      } catch (err) {
        log.error({ err }, 'sip websocket close threw');
      }
    },
  });
  return {
    serve: (at) => {
      local = { ...at };
      gateway.serve(at);
    },
    connections: () => open,
    onClosed: (listener) => {
      closedListeners.add(listener);
      return () => closedListeners.delete(listener);
    },
  };
}

/**
 * RFC 7118 §4.1: the client "MUST include the value "sip" in the list of protocols"; the server
 * echoes it. An upgrade without it is refused (426 would name HTTP upgrades, so 400), and one past
 * the connection limit gets 503.
 */
function upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, full: boolean, log: Logger): void {
  const protocols = (req.getHeader('sec-websocket-protocol') ?? '').split(',').map((p) => p.trim().toLowerCase());
  const key = req.getHeader('sec-websocket-key');
  const extensions = req.getHeader('sec-websocket-extensions');
  const remote = normalizeAddress(Buffer.from(res.getRemoteAddressAsText()).toString('utf8'));
  if (!protocols.includes(SIP_SUBPROTOCOL)) {
    log.info({ remote }, 'sip websocket refused: no sip subprotocol');
    res.cork(() => res.writeStatus('400 Bad Request').writeHeader('Content-Type', 'text/plain').end('Sec-WebSocket-Protocol must include sip (RFC 7118)'));
    return;
  }
  if (full) {
    log.warn({ remote }, 'sip websocket refused: connection limit reached');
    res.cork(() => res.writeStatus('503 Service Unavailable').writeHeader('Retry-After', '5').writeHeader('Content-Type', 'text/plain').end('too many SIP WebSocket connections'));
    return;
  }
  res.cork(() => res.upgrade<UserData>({ remote, port: 0, handle: null, ended: false }, key, SIP_SUBPROTOCOL, extensions, context));
}
