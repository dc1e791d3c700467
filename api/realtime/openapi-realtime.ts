/**
 * The real-time surface in the OpenAPI document. OpenAPI 3.0 cannot describe a WebSocket, so
 * `GET /api/v1/ws` is an operation (a plain GET answers 422; the upgrade answers 101) carrying an
 * `x-websocket` extension: the frame schemas (named components), topics and close codes. Event
 * schemas come in through the SSE operation's response (`RealtimeEvent`, one component per type).
 */
import { AppError } from '../http/errors.js';
import { route, type RouteDef } from '../http/route.js';
import { toSchema } from '../openapi.js';
import { clientFrameSchema, closeCodes, serverFrameSchema } from './ws-frames.js';
import { MAX_CLIENT_FRAME_BYTES, WS_PATH } from './ws-server.js';

type Json = Record<string, unknown>;

const wsDescription = [
  'Bidirectional WebSocket (JSON text frames; schemas under `x-websocket` and the `Ws*`',
  'components). Authenticate with `X-API-Key` or `Authorization: Bearer` on the upgrade request',
  '(a bad one is refused with 401 and the error envelope; a good one is greeted with `ready`), or',
  'with an `auth` frame first (browsers), within 10 s.',
  '',
  'Then `subscribe` to topics: `tenant`, `agent:<id>`, `call:<id>`, optionally limited to `types`',
  '(those this version sends; a reserved type, documented in `RealtimeEvent` but not sent yet, is a',
  '`validation_error`), optionally with `lastEventId` to get the events after it first (no gap, no duplicate). Each',
  '`event` frame carries the event with its log id. To resume after a drop, reconnect and',
  'subscribe with the highest id received.',
  '',
  'Commands, each with a request id answered by `reply` or `error`: `hangup` ends a live call;',
  '`say`, `dtmf`, `mute` (`muted: false` unmutes) and `transfer` go to the agent runtime driving the',
  'call, as the REST actions under `/api/v1/calls/{id}/` do: a call that is not live, has no agent',
  'runtime, or whose runtime refuses the action answers `conflict` (the reason as the message). Another',
  "tenant's call answers `not_found`. A malformed frame gets an `error` (`validation_error`) and",
  'the connection stays open. Every frame but `auth` and `ping` spends the caller\'s rate limit,',
  'the same budget as its REST requests; past it the frame gets an `error` (`rate_limit_exceeded`,',
  'the seconds to wait in its message) and is not carried out. A connection whose key is',
  'revoked, user disabled, session signed out or access token expired is closed 4401 at the next',
  'heartbeat.',
].join('\n');

/** The documented operation; reached only by requests that are not WebSocket upgrades. */
export function wsRoute(): RouteDef {
  return route({
    method: 'get',
    path: WS_PATH,
    auth: false,
    summary: 'WebSocket: live events and call commands (upgrade)',
    description: wsDescription,
    tags: ['Real time'],
    operationId: 'openWebSocket',
    status: 101,
    // 401: the upgrade carried X-API-Key or Authorization, and it was refused (ws-server.ts).
    errors: ['validation_error', 'authentication_error'],
    handler: () => {
      throw new AppError('validation_error', 'This endpoint speaks WebSocket: send an upgrade request', [
        { field: 'headers.upgrade', message: 'must be "websocket"' },
      ]);
    },
  });
}

/** Adds the frame schemas and the `x-websocket` extension to a document built by `buildOpenApi`. */
export function documentRealtime(doc: Json): Json {
  const components = (doc.components as { schemas: Json }).schemas;
  const clientFrames = toSchema(clientFrameSchema, 'input', components);
  const serverFrames = toSchema(serverFrameSchema, 'output', components);
  const op = ((doc.paths as Record<string, Json>)[WS_PATH]?.get ?? {}) as Json;
  const responses = (op.responses ?? {}) as Json;
  responses['101'] = { description: 'Switching Protocols: the connection speaks the frames of `x-websocket`' };
  op.responses = responses;
  op['x-websocket'] = {
    clientFrames,
    serverFrames,
    topics: {
      tenant: "all of the caller's tenant's events, in the caller's mode",
      'agent:<id>': "events whose data.agentId is the agent's",
      'call:<id>': "the call's events",
    },
    closeCodes: {
      [closeCodes.going_away]: 'going_away: the server is stopping',
      [closeCodes.slow_consumer]: 'slow_consumer: too much unread (1 MiB by default); reconnect and resume with lastEventId',
      [closeCodes.authentication_error]: 'authentication_error: no or bad credentials, no auth frame in time, or the caller was revoked',
      [closeCodes.internal_error]: 'internal_error',
    },
    maxClientFrameBytes: MAX_CLIENT_FRAME_BYTES,
    oversizedFrame: 'a client frame larger than maxClientFrameBytes drops the connection (no close frame)',
    invalidUtf8: 'a text frame that is not UTF-8 fails the connection (RFC 6455 §8.1): dropped, no close frame',
  };
  return doc;
}
