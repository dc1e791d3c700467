/**
 * The WebSocket protocol of `GET /api/v1/ws`: JSON text frames, zod-validated both ways, each
 * schema a named component of the OpenAPI document.
 *
 * Client -> server: every frame has `type` and a request id `id` (string or integer, echoed in
 * the answer). `auth` (unless the upgrade request carried `X-API-Key` or `Authorization`),
 * `subscribe` / `unsubscribe` (topics, optional types, optional `lastEventId` to resume), `ping`,
 * and the call commands `hangup`, `say`, `transfer`, `dtmf`, `mute`.
 *
 * Server -> client: `ready` (authenticated by the upgrade's header), `reply` (a request
 * succeeded: `id` and `result`), `error` (a request failed, or a frame could not be read: `id`,
 * null when unknown, and the REST error envelope's `error` object), `event` (an event of a
 * subscribed topic, with its log id).
 */
import { z } from 'zod';
import { realtimeEventSchema } from '../../engine/events/schemas.js';
import { AppError, errorEnvelopeSchema, zodDetails } from '../http/errors.js';
import { parseClientJson } from '../http/json-input.js';
import { roles } from '../http/route.js';
import { eventTypeSchema, topicSchema } from './selection.js';
import { modes } from '../../engine/store/mode.js';

const requestIdSchema = z
  .union([z.string().min(1).max(64), z.number().int()])
  .meta({ id: 'WsRequestId', description: 'Chosen by the client; echoed in the reply or error' });

const callId = z.string().min(1).max(64).meta({ description: 'A call of the caller’s tenant and mode' });

const frame = <T extends string, S extends z.ZodRawShape>(type: T, shape: S, id: string, description: string) =>
  z.strictObject({ type: z.literal(type), id: requestIdSchema, ...shape }).meta({ id, description });

const authFrameSchema = z
  .strictObject({
    type: z.literal('auth'),
    id: requestIdSchema,
    apiKey: z.string().min(1).max(256).optional(),
    token: z.string().min(1).max(8192).optional().meta({ description: 'An access token (JWT)' }),
  })
  .refine((f) => (f.apiKey === undefined) !== (f.token === undefined), { message: 'send exactly one of apiKey and token', path: ['apiKey'] })
  .meta({ id: 'WsAuthFrame', description: 'The first frame when the upgrade request had no credentials: exactly one of apiKey and token' });

const subscribeFrameSchema = frame(
  'subscribe',
  {
    topics: z.array(topicSchema).min(1).max(100),
    types: z.array(eventTypeSchema).min(1).optional().meta({ description: 'Only these event types, for these topics' }),
    lastEventId: z.number().int().min(0).optional().meta({ description: 'Replay these topics’ events after this id first' }),
  },
  'WsSubscribeFrame',
  'Adds topics; with lastEventId, the events after it are replayed before live ones (no gap, no duplicate)',
);

const unsubscribeFrameSchema = frame('unsubscribe', { topics: z.array(topicSchema).min(1).max(100) }, 'WsUnsubscribeFrame', 'Removes topics');

const pingFrameSchema = frame('ping', {}, 'WsPingFrame', 'Answered with a reply (for clients that cannot send WebSocket pings)');

/** What `say` speaks (WebSocket and REST). */
export const sayText = z.string().min(1).max(5000);
/** Speak at once, flushing what is queued (WebSocket and REST). */
export const sayInterrupt = z.boolean().optional().meta({ description: 'Flush queued speech and speak at once; default false (queued after it)' });
/** DTMF digits to send (WebSocket and REST). */
export const dtmfDigits = z.string().regex(/^[0-9*#A-D]{1,32}$/, 'digits 0-9, *, #, A-D');
/** E.164 (`+` and 2–15 digits) or a sip:/sips: URI with a host. */
const transferTargetRe = /^(\+[1-9]\d{1,14}|sips?:([^\s@<>"]+@)?[A-Za-z0-9.[\]:_-]+(;[^\s<>"]*)?)$/;
/** Where `transfer` sends the call (WebSocket and REST). */
export const transferTarget = z
  .string()
  .max(256)
  .regex(transferTargetRe, 'Must be an E.164 number (+15551234567) or a sip: URI (sip:desk@pbx.example.com)')
  .meta({ description: 'An E.164 number or a sip:/sips: URI' });

const ACTIONS_NOTE = 'needs an agent runtime on the call (else `conflict`); the runtime may refuse (`conflict`, its reason as the message)';
const hangupCommandSchema = frame('hangup', { callId }, 'WsHangupCommand', 'Ends a live call (BYE to the caller)');
const sayCommandSchema = frame('say', { callId, text: sayText, interrupt: sayInterrupt }, 'WsSayCommand', `Speaks text into a live call; ${ACTIONS_NOTE}`);
const transferCommandSchema = frame('transfer', { callId, target: transferTarget }, 'WsTransferCommand', `Blind-transfers a live call; ${ACTIONS_NOTE}`);
const dtmfCommandSchema = frame('dtmf', { callId, digits: dtmfDigits }, 'WsDtmfCommand', `Sends DTMF digits to the caller; ${ACTIONS_NOTE}`);
const muteCommandSchema = frame(
  'mute',
  { callId, muted: z.boolean().meta({ description: 'true mutes, false unmutes' }) },
  'WsMuteCommand',
  `Mutes or unmutes the agent's audio to the caller; ${ACTIONS_NOTE}`,
);

export const commandFrameSchema = z.discriminatedUnion('type', [
  hangupCommandSchema,
  sayCommandSchema,
  transferCommandSchema,
  dtmfCommandSchema,
  muteCommandSchema,
]);
export type CommandFrame = z.infer<typeof commandFrameSchema>;

export const clientFrameSchema = z
  .discriminatedUnion('type', [
    authFrameSchema,
    subscribeFrameSchema,
    unsubscribeFrameSchema,
    pingFrameSchema,
    hangupCommandSchema,
    sayCommandSchema,
    transferCommandSchema,
    dtmfCommandSchema,
    muteCommandSchema,
  ])
  .meta({ id: 'WsClientFrame', description: 'A frame a client sends (JSON text)' });
export type ClientFrame = z.infer<typeof clientFrameSchema>;
const clientFrameTypes = ['auth', 'subscribe', 'unsubscribe', 'ping', 'hangup', 'say', 'transfer', 'dtmf', 'mute'] as const;

const mode = z.enum(modes);

const readyFrameSchema = z
  .strictObject({ type: z.literal('ready'), tenantId: z.string(), mode, role: z.enum(roles) })
  .meta({ id: 'WsReadyFrame', description: 'Sent on open when the upgrade request authenticated the connection' });

const authResult = z.strictObject({ tenantId: z.string(), mode, role: z.enum(roles) });
const subscriptionResult = z.strictObject({
  topics: z.array(topicSchema).meta({ description: 'All topics of the connection now' }),
  replayed: z.number().int().meta({ description: 'Events replayed before this reply' }),
});
const pongResult = z.strictObject({ pong: z.literal(true), time: z.iso.datetime() });
const commandResult = z.strictObject({ callId: z.string(), accepted: z.literal(true) });

export const replyFrameSchema = z
  .strictObject({ type: z.literal('reply'), id: requestIdSchema, result: z.union([authResult, subscriptionResult, pongResult, commandResult]) })
  .meta({ id: 'WsReplyFrame', description: 'A request succeeded' });

const errorFrameSchema = z
  .strictObject({ type: z.literal('error'), id: requestIdSchema.nullable(), error: errorEnvelopeSchema.shape.error })
  .meta({ id: 'WsErrorFrame', description: 'A request failed, or a frame could not be read (id null when unknown); the error object of the REST envelope' });

const eventFrameSchema = z
  .strictObject({ type: z.literal('event'), event: realtimeEventSchema })
  .meta({ id: 'WsEventFrame', description: 'An event of a subscribed topic' });

export const serverFrameSchema = z
  .discriminatedUnion('type', [readyFrameSchema, replyFrameSchema, errorFrameSchema, eventFrameSchema])
  .meta({ id: 'WsServerFrame', description: 'A frame the server sends (JSON text)' });
export type ServerFrame = z.infer<typeof serverFrameSchema>;
export type ReplyResult = z.infer<typeof replyFrameSchema>['result'];

/**
 * Close codes: 4000 + the HTTP status of the error code given as the reason, plus the standard
 * ones. Before closing for an error the server sends an `error` frame with the whole message.
 */
export const closeCodes = {
  /** The server is stopping. */
  going_away: 1001,
  /** More than `realtime.maxBufferedBytes` unread: reconnect and resume with lastEventId. */
  slow_consumer: 1008,
  /** No or bad credentials, no auth frame in time, or the caller was revoked. */
  authentication_error: 4401,
  internal_error: 4500,
} as const;

/** A client frame read from the wire, or the error to answer it with (and its id, when readable). */
type ReadFrame = { ok: true; frame: ClientFrame } | { ok: false; id: string | number | null; error: AppError };

/** Reads one client frame: JSON text, then its schema. Never throws. */
export function readClientFrame(data: ArrayBuffer, isBinary: boolean): ReadFrame {
  if (isBinary) {
    return { ok: false, id: null, error: new AppError('validation_error', 'Binary frames are not accepted: send JSON text', [{ field: 'frame', message: 'binary frame' }]) };
  }
  let raw: unknown;
  try {
    // uWS already fails a connection whose text frame is not UTF-8 (RFC 6455 §8.1), before this
    // runs; the reader checks it anyway so that it stands on its own.
    raw = parseClientJson(Buffer.from(data), 'frame');
  } catch (e) {
    return { ok: false, id: null, error: e instanceof AppError ? e : new AppError('validation_error', 'Malformed JSON') };
  }
  const parsed = clientFrameSchema.safeParse(raw);
  if (parsed.success) return { ok: true, frame: parsed.data };
  const o = raw && typeof raw === 'object' ? (raw as { id?: unknown; type?: unknown }) : {};
  const id = requestIdSchema.safeParse(o.id);
  const known = typeof o.type === 'string' && (clientFrameTypes as readonly string[]).includes(o.type);
  const error = known
    ? new AppError('validation_error', `Invalid ${String(o.type)} frame`, zodDetails(parsed.error, 'frame'))
    : new AppError('validation_error', 'Unknown frame type', [{ field: 'frame.type', message: `must be one of ${clientFrameTypes.join(', ')}` }]);
  return { ok: false, id: id.success ? id.data : null, error };
}
