/**
 * `GET /api/v1/ws` on uWS: the upgrade (with the same header auth as REST when the request
 * carries `X-API-Key` or `Authorization`; a bad one is refused with 401 and the error envelope
 * before any WebSocket exists), then one `WsSession` per socket.
 */
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import type { Logger } from '../../config/logger.js';
import type { Authenticator } from '../http/adapter.js';
import { isRequestId, respondWithError } from '../http/adapter.js';
import type { AuthContext, RequestInfo } from '../http/route.js';
import type { CommandDeps } from './commands.js';
import type { RealtimeContext } from './context.js';
import { closeCodes } from './ws-frames.js';
import { WsSession } from './ws-session.js';

export const WS_PATH = '/api/v1/ws';

/** Largest frame a client may send; uWS drops the connection (no close frame) on a bigger one. */
export const MAX_CLIENT_FRAME_BYTES = 64 * 1024;

/**
 * uWS skips sends past its own backpressure limit; the session drops a client at
 * `maxBufferedBytes`, so uWS's limit sits one large frame above it and never skips silently.
 */
const LARGEST_FRAME_BYTES = 16 * 1024 * 1024;

/** Seconds without any frame before uWS closes; it pings well before, so only dead peers go. */
const IDLE_TIMEOUT_S = 120;

interface UserData {
  auth: AuthContext | null;
  authorization: string | undefined;
  requestId: string;
  session: WsSession | null;
}

interface WsServerOptions {
  ctx: RealtimeContext;
  /** The REST authenticator (headers), also used for `auth` frames. */
  authenticate: Authenticator;
  commands: CommandDeps;
  validate: boolean;
}

export function mountWebSocket(app: TemplatedApp, o: WsServerOptions): void {
  const log = o.ctx.log.child({ component: 'ws' });
  app.ws<UserData>(WS_PATH, {
    maxPayloadLength: MAX_CLIENT_FRAME_BYTES,
    idleTimeout: IDLE_TIMEOUT_S,
    sendPingsAutomatically: true,
    maxBackpressure: o.ctx.settings.maxBufferedBytes + LARGEST_FRAME_BYTES,
    upgrade: (res, req, context) => {
      try {
        upgrade(res, req, context, o.authenticate, log);
      } catch (err) {
        log.error({ err }, 'ws upgrade threw outside its error boundary');
        try {
          respondWithError(res, err, randomUUID());
        } catch {
          // Already answered or aborted.
        }
      }
    },
    open: guarded(log, 'open', (ws) => {
      const data = ws.getUserData();
      data.session = new WsSession({
        ctx: o.ctx,
        socket: {
          send: (texts) => {
            let status = 1;
            ws.cork(() => {
              for (const text of texts) {
                const s = ws.send(text);
                if (s === 0) status = 0;
                else if (s === 2) {
                  // Dropped by uWS: nothing after it may go (it would leave a gap); the session closes.
                  status = 2;
                  break;
                }
              }
            });
            return status;
          },
          bufferedAmount: () => ws.getBufferedAmount(),
          end: (code, reason) => ws.end(code, reason),
        },
        auth: data.auth,
        authorization: data.authorization,
        authenticate: o.authenticate,
        commands: o.commands,
        validate: o.validate,
        log: log.child({ requestId: data.requestId }),
        requestId: data.requestId,
      });
      data.session.opened();
    }),
    message: guarded(log, 'message', (ws, message: ArrayBuffer, isBinary: boolean) => ws.getUserData().session?.message(message, isBinary)),
    drain: guarded(log, 'drain', (ws) => ws.getUserData().session?.drained()),
    close: (ws: WebSocket<UserData>, code) => {
      try {
        ws.getUserData().session?.closed(code);
      } catch (err) {
        log.error({ err }, 'ws close handler threw');
      }
    },
  });
}

/**
 * A uWS WebSocket callback with a boundary: an exception escaping one would reach the process
 * (uWS calls back from native code). It is logged, and the connection is closed with 4500
 * `internal_error` (the session may be in any state after it).
 */
function guarded<A extends unknown[]>(log: Logger, callback: string, fn: (ws: WebSocket<UserData>, ...rest: A) => void) {
  return (ws: WebSocket<UserData>, ...rest: A): void => {
    try {
      fn(ws, ...rest);
    } catch (err) {
      log.error({ err, callback }, 'ws callback threw outside its error boundary');
      try {
        ws.end(closeCodes.internal_error, 'internal_error');
      } catch {
        // Already closed.
      }
    }
  };
}

/** Authenticates by header when one is there, then upgrades; a bad credential is a 401 envelope. */
function upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, authenticate: Authenticator, log: Logger): void {
  const headers: Record<string, string> = {};
  req.forEach((k, v) => (headers[k] = v));
  const given = headers['x-request-id'];
  const requestId = given !== undefined && isRequestId(given) ? given : randomUUID();
  const key = headers['sec-websocket-key'] ?? '';
  const extensions = headers['sec-websocket-extensions'] ?? '';
  const state = { aborted: false };
  const accept = (auth: AuthContext | null) => {
    if (state.aborted) return;
    // No subprotocol is spoken: none is echoed back.
    res.cork(() => res.upgrade<UserData>({ auth, authorization: headers['authorization'], requestId, session: null }, key, '', extensions, context));
  };
  if (headers['x-api-key'] === undefined && headers['authorization'] === undefined) {
    accept(null);
    return;
  }
  const info: RequestInfo = { method: 'GET', url: req.getUrl(), query: req.getQuery() ?? '', headers, ip: '', requestId };
  const refuse = (err: unknown) => respondWithError(res, err, requestId, state.aborted);
  let result;
  try {
    result = authenticate(info);
  } catch (err) {
    refuse(err);
    return;
  }
  if (!(result instanceof Promise)) {
    accept(result);
    return;
  }
  res.onAborted(() => (state.aborted = true));
  result.then(accept, refuse).catch((err: unknown) => log.error({ err }, 'ws upgrade could not be answered'));
}
