/**
 * Calls: list and get, plus the call's timeline. Inbound calls are created by call control;
 * outbound ones by `POST /api/v1/calls` (outbound-calls.ts, with their cancel).
 *
 * - `GET /calls` lists newest first, filtered by status, direction, agent and a `from`/`to`
 *   range on `started_at`; items leave out the transcript, stats and metrics.
 * - `GET /calls/{id}` adds the transcript, RTP stats, metrics (including `turnLatencyMs`) and
 *   metadata; a queued outbound call also its `queuePosition` and `estimatedStartAt`.
 * - `GET /calls/{id}/events` is the timeline from the event log, oldest first and paginated
 *   like every list: a long call has thousands of events, which do not belong in one body.
 * - `POST /calls/{id}/say|dtmf|mute|unmute|transfer` act on a live call through its agent
 *   runtime: 202 when handed over, `conflict` when the call is not live, has no runtime, or the
 *   runtime refuses. The same function carries out the WebSocket's commands (`runCommand`).
 * - `GET /calls/{id}/recording` is the call's recording, `audio/wav` (one byte range on request).
 */
import { z } from 'zod';
import { callDirections, callStatuses } from '../../engine/calls/call-record.js';
import type { Recordings } from '../../engine/calls/recordings.js';
import type { Store } from '../../engine/store/store.js';
import { AppError } from '../http/errors.js';
import { singleByteRange } from '../http/range.js';
import { listQuery, page, paged, pageQuery } from '../http/pagination.js';
import { Reply, route, type RouteDef } from '../http/route.js';
import { commandAccess, runCommand, type CallCommand, type CommandDeps } from '../realtime/commands.js';
import { dtmfDigits, sayInterrupt, sayText, transferTarget } from '../realtime/ws-frames.js';
import { readAccess } from './access.js';
import { callSchema, callSummarySchema, present, presentSummary } from './call-shapes.js';
import { outboundCallRoutes, type OutboundCalls } from './outbound-calls.js';
import { found, idParams } from './crud.js';

const callEventSchema = z
  .object({ id: z.number().int(), type: z.string(), data: z.unknown(), createdAt: z.string() })
  .meta({ id: 'CallEvent' });

const commandAccepted = z.object({ callId: z.string(), accepted: z.literal(true) }).meta({ id: 'CallActionAccepted' });

/** What an action does beyond the shared answer, for the document. */
const ACTION_NOTE =
  'Needs a live call driven by an agent runtime. 202 when the runtime took the action (it runs asynchronously; ' +
  'watch the call events); 409 `conflict` when the call is not live, has no agent runtime, or the runtime refused ' +
  '(its reason is the message). Same rights as the WebSocket `hangup`: owner, admin or member; `calls:write` for scoped keys.';

/** One REST call action: `POST /api/v1/calls/{id}/<name>`, carried out by `runCommand`. */
function callAction<B extends z.ZodType>(
  commands: CommandDeps,
  a: { name: string; operationId: string; summary: string; body?: B; command: (callId: string, body: z.infer<B>) => CallCommand },
): RouteDef {
  return route({
    method: 'post',
    path: `/api/v1/calls/:id/${a.name}`,
    auth: commandAccess,
    summary: a.summary,
    description: ACTION_NOTE,
    tags: ['Calls'],
    operationId: a.operationId,
    params: idParams,
    ...(a.body ? { body: a.body } : {}),
    response: commandAccepted,
    status: 202,
    errors: ['conflict'],
    handler: ({ auth, params, body }) => runCommand(commands, auth, a.command(params.id, body as z.infer<B>)),
  });
}

const sayBody = z.strictObject({ text: sayText, interrupt: sayInterrupt }).meta({ id: 'CallSayRequest' });
const dtmfBody = z.strictObject({ digits: dtmfDigits }).meta({ id: 'CallDtmfRequest' });
const transferBody = z.strictObject({ target: transferTarget }).meta({ id: 'CallTransferRequest' });

/** The live-call actions, each one `runCommand`. */
function callActionRoutes(commands: CommandDeps): RouteDef[] {
  return [
    callAction(commands, {
      name: 'hangup',
      operationId: 'hangupCall',
      summary: 'Hang up a live call (BYE once answered; end reason api_hangup). Works on any live call, with or without an agent',
      command: (callId) => ({ type: 'hangup', callId }),
    }),
    callAction(commands, {
      name: 'say',
      operationId: 'sayOnCall',
      summary: "Speak text into a live call (after the agent's queued speech, or at once with interrupt)",
      body: sayBody,
      command: (callId, b) => ({ type: 'say', callId, text: b.text, interrupt: b.interrupt }),
    }),
    callAction(commands, {
      name: 'dtmf',
      operationId: 'sendCallDtmf',
      summary: 'Send DTMF digits to the caller',
      body: dtmfBody,
      command: (callId, b) => ({ type: 'dtmf', callId, digits: b.digits }),
    }),
    callAction(commands, {
      name: 'mute',
      operationId: 'muteCall',
      summary: "Mute the agent's audio to the caller",
      command: (callId) => ({ type: 'mute', callId, muted: true }),
    }),
    callAction(commands, {
      name: 'unmute',
      operationId: 'unmuteCall',
      summary: "Unmute the agent's audio to the caller",
      command: (callId) => ({ type: 'mute', callId, muted: false }),
    }),
    callAction(commands, {
      name: 'transfer',
      operationId: 'transferCall',
      summary: 'Blind-transfer a live call to an E.164 number or a SIP URI',
      body: transferBody,
      command: (callId, b) => ({ type: 'transfer', callId, target: b.target }),
    }),
  ];
}

export function callRoutes(store: Store, commands: CommandDeps, recordings: Recordings, outbound: OutboundCalls): RouteDef[] {
  const read = readAccess('calls');
  return [
    route({
      method: 'get',
      path: '/api/v1/calls',
      auth: read,
      summary: 'List calls, newest first',
      tags: ['Calls'],
      operationId: 'listCalls',
      query: listQuery('started_at', {
        status: z.enum(callStatuses).optional(),
        direction: z.enum(callDirections).optional(),
        agentId: z.string().optional(),
      }),
      response: page(callSummarySchema, 'CallPage'),
      handler: ({ auth, query }) => {
        const r = store.calls.list(auth, query, query.limit, query.offset);
        return paged({ items: r.items.map(presentSummary), total: r.total }, query);
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/calls/:id',
      auth: read,
      summary: 'Get a call with its transcript, RTP stats and metrics',
      tags: ['Calls'],
      operationId: 'getCall',
      params: idParams,
      response: callSchema,
      handler: ({ auth, params }) => {
        const call = found(store.calls.get(auth, params.id), 'call');
        return present(call, call.status === 'queued' ? outbound.queueInfo(call.id) : null);
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/calls/:id/events',
      auth: read,
      summary: "The call's timeline: its events, oldest first",
      tags: ['Calls'],
      operationId: 'listCallEvents',
      params: idParams,
      query: pageQuery,
      response: page(callEventSchema, 'CallEventPage'),
      handler: ({ auth, params, query }) => paged(found(store.calls.timeline(auth, params.id, query.limit, query.offset), 'call'), query),
    }),
    route({
      method: 'get',
      path: '/api/v1/calls/:id/recording',
      auth: read,
      summary: "The call's recording: a stereo WAV, the caller left and the agent right",
      description:
        'The recording of a call whose agent has `recording: true`: 16-bit PCM, 8 kHz, two channels (left: what the ' +
        'caller said; right: what the agent sent), as long as the call (up to the agent\'s maximum call duration). ' +
        'A `Range: bytes=start-end` request is answered `206 Partial Content` with `Content-Range`; several ranges, ' +
        'or one outside the file, get the whole file. `not_found` when the call has no recording (not recorded, ' +
        'or another tenant\'s call, or a recording that failed before any audio reached the disk); `conflict` while ' +
        'the call is still being recorded.',
      tags: ['Calls'],
      operationId: 'getCallRecording',
      params: idParams,
      produces: 'audio/wav',
      errors: ['conflict'],
      handler: async ({ auth, params, req }) => {
        const call = found(store.calls.get(auth, params.id), 'call');
        if (!call.recording) throw new AppError('not_found', 'The call has no recording');
        if (call.recording.status === 'recording') throw new AppError('conflict', 'The call is still being recorded');
        if (!call.recording.bytes) throw new AppError('not_found', `The call's recording holds no audio (${call.recording.error ?? call.recording.status})`);
        const file = found((await recordings.open(call.id)) ?? undefined, 'recording');
        const range = singleByteRange(req.headers.range, file.size);
        const headers = { 'accept-ranges': 'bytes', 'content-disposition': `attachment; filename="${call.id}.wav"` };
        if (!range) return Reply.file(file.file, 0, file.size, 'audio/wav', 200, headers);
        const partial = { ...headers, 'content-range': `bytes ${range.start}-${range.end}/${file.size}` };
        return Reply.file(file.file, range.start, range.end - range.start + 1, 'audio/wav', 206, partial);
      },
    }),
    ...callActionRoutes(commands),
    ...outboundCallRoutes(store, outbound),
  ];
}
