/**
 * Outbound calls: `POST /api/v1/calls` places a call through a trunk's outbound gateway, or to
 * one of the tenant's registered SIP users (`sipUserId`, or `to` as its address of record, and
 * no `trunkId`), and `DELETE /api/v1/calls/{id}` (or `POST /api/v1/calls/{id}/cancel`, the same thing) stops one
 * that is queued or ringing. Placing answers 201 at once with the call `queued`; the dialer
 * (engine/calls/outbound-dialer.ts) places it as the trunk's and tenant's caps allow. With an
 * `Idempotency-Key`, one key places at most one call (api/middleware/idempotency.ts).
 */
import { z } from 'zod';
import type { CancelResult, PlaceRequest, QueueInfo } from '../../engine/calls/outbound-dialer.js';
import { aorOf, scopeOfSipDomain } from '../../engine/calls/registrar/sip-domain.js';
import { resolveTarget } from '../../engine/calls/transfer-target.js';
import { parseSipUri } from '../../engine/sip/message/uri.js';
import type { Store } from '../../engine/store/store.js';
import { AppError } from '../http/errors.js';
import { route, type AuthContext, type RouteDef } from '../http/route.js';
import { commandAccess } from '../realtime/commands.js';
import { callSchema, present } from './call-shapes.js';
import { found, idParams, invalidBody } from './crud.js';

/** What the routes need of the engine's dialer. */
export interface OutboundCalls {
  /** The new call's id; null when the engine is stopping. */
  place(r: PlaceRequest): string | null;
  queueInfo(callId: string): QueueInfo | null;
  cancel(callId: string): Promise<CancelResult>;
}

/** ITU-T E.164: a plus, then up to 15 digits, not starting with 0. */
const e164 = z.string().regex(/^\+[1-9]\d{1,14}$/, 'Must be an E.164 number, e.g. +15551234567');
/** Custom headers: a carrier sees them, so they are few, short, and `X-` only. */
const MAX_HEADERS = 16;
const headerName = z.string().regex(/^X-[A-Za-z0-9-]{1,64}$/i, 'Must be an X- header name (X- then 1–64 of A-Z a-z 0-9 -)');
const headerValue = z
  .string()
  .max(256)
  // RFC 3261 §25.1 header values: no CR/LF (no header injection) and no other control characters.
  .regex(/^[\x20-\x7e]*$/, 'Must be printable ASCII, without line breaks');
/** Variables reach the agent's prompts and tools: bounded like the rest of a request. */
const MAX_VARIABLES = 32;
const variableValue = z.union([z.string().max(1024), z.number(), z.boolean(), z.null()]);

const placeBody = z
  .strictObject({
    agentId: z.uuid().meta({ description: 'The agent that runs the call once answered' }),
    trunkId: z.uuid().optional().meta({ description: "The SIP trunk whose outbound gateway places the call (with `to`). Leave it out to call one of the tenant's SIP users" }),
    sipUserId: z
      .uuid()
      .optional()
      .meta({ description: "One of the tenant's SIP users (same mode as the key), every one of its registrations rung at once (the first to answer takes the call); instead of `trunkId` and `to`" }),
    to: z
      .string()
      .min(1)
      .max(512)
      .optional()
      .meta({
        description:
          "With `trunkId`: an E.164 number (sent to the trunk's gateway after its outbound prefix rule) or a sip: URI on the trunk's gateway host. " +
          "Without: a SIP user's address of record, `sip:<username>@<tenant id>.<mode>` (the user's `aor`), as `sipUserId` would name it",
      }),
    from: e164.optional().meta({ description: "Caller id (From user); default the trunk's callerId (calls to SIP users: none, the engine's default From)" }),
    headers: z
      .record(headerName, headerValue)
      .refine((h) => Object.keys(h).length <= MAX_HEADERS, `At most ${MAX_HEADERS} headers`)
      .optional()
      .meta({ description: `Extra X- headers of the INVITE (at most ${MAX_HEADERS}, values up to 256 printable characters); also the agent's sip.* variables` }),
    ringTimeoutSeconds: z.number().int().min(5).max(300).default(30).meta({ description: 'An unanswered INVITE is CANCELed after this long (status no_answer)' }),
    variables: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'Must be an identifier'), variableValue)
      .refine((v) => Object.keys(v).length <= MAX_VARIABLES, `At most ${MAX_VARIABLES} variables`)
      .optional()
      .meta({ description: "Values for the agent's {{variables}}, over the agent's own defaults" }),
  })
  .meta({
    id: 'CallCreate',
    description:
      "Exactly one callee: `trunkId` with `to` (a number or a URI on the trunk's gateway), or one of the tenant's SIP users " +
      '(`sipUserId`, or `to` as its address of record, with neither `trunkId` nor the other)',
  });

type PlaceBody = z.infer<typeof placeBody>;

/** The two shapes of the body, as the OpenAPI document shows them (ids are placeholders). */
const PLACE_EXAMPLES = {
  trunk: {
    summary: "A number, through a trunk's outbound gateway",
    value: {
      agentId: '3f0c9a52-6a1e-4d4b-9a57-0c3c1f1e2a10',
      trunkId: '8b6f1d0e-2c4a-4f3e-8d7b-5a9e0c1b2d34',
      to: '+15551234567',
      from: '+15550100',
      headers: { 'X-Campaign': 'spring' },
      ringTimeoutSeconds: 30,
      variables: { customer: 'Ada' },
    },
  },
  sipUser: {
    summary: "One of the tenant's registered SIP users, by id",
    value: { agentId: '3f0c9a52-6a1e-4d4b-9a57-0c3c1f1e2a10', sipUserId: 'c2d4e6f8-1a3b-4c5d-8e7f-9a0b1c2d3e4f', ringTimeoutSeconds: 20 },
  },
  sipUserAor: {
    summary: 'The same, by its address of record (`aor` of /api/v1/sip-users)',
    value: { agentId: '3f0c9a52-6a1e-4d4b-9a57-0c3c1f1e2a10', to: 'sip:desk@5b1e7c3a-9d2f-4e8a-b6c4-1f0a2e3d4c5b.live' },
  },
};

const PLACE_NOTE =
  'Two shapes: `trunkId` and `to` (a number or URI on the trunk\'s gateway), or a SIP user of the tenant (`sipUserId`, ' +
  'or `to` as its address of record, without `trunkId`): exactly one of the two. ' +
  'Answers 201 with the call `queued`; it is placed as the trunk\'s `cpsLimit` and `maxConcurrentCalls` and the ' +
  "engine's tenant-wide cap allow (queued, never dropped; calls to SIP users have no trunk caps). A call to a SIP user " +
  "rings every registration of the user at once when it leaves the queue (a registration over WebSocket, a browser, gets a " +
  'WebRTC offer: ICE, DTLS-SRTP; a SIP device plain RTP); the first to answer takes the call and the others are ' +
  'CANCELed, and when none answers the best refusal ends it (a 6xx, then 486, then the lowest other status). With no ' +
  'registration it ends `failed` with end reason `not_registered`. ' +
  'Status then: `ringing` (180/183), `in_progress` ' +
  '(answered: the agent runs), `completed`; or `busy` (486, 600), `no_answer` (ring timeout, 408, 480), ' +
  '`failed` (another refusal, see `sipCode` and `endReason`), `canceled`. A test API key places no real call: ' +
  'the call walks ringing, in_progress (after 200 ms) and completed (1 s later) with the same events, and no INVITE ' +
  'leaves. With an `Idempotency-Key` one key places at most one call: a repeat gets the same answer, or 409 ' +
  '`conflict` while the first is still being handled. `validation_error` for an unknown agent, trunk or SIP user ' +
  "(another tenant's or mode's included), a trunk without an outbound gateway, both a trunk and a user or neither, or " +
  'a `to` that is no form allowed; `service_unavailable` while the engine stops.';

/** The request, checked against the tenant's agents, trunks and SIP users, as the dialer takes it. */
function placeRequest(store: Store, auth: AuthContext, b: PlaceBody): PlaceRequest {
  const agent = store.agents.get(auth, b.agentId);
  if (!agent) throw invalidBody([{ path: ['agentId'], message: 'No such agent' }]);
  const base = {
    tenantId: auth.tenantId,
    mode: auth.mode,
    agentId: agent.id,
    headers: b.headers ?? {},
    ringTimeoutSeconds: b.ringTimeoutSeconds,
    variables: b.variables ?? {},
  };
  if (b.trunkId === undefined) {
    const user = userCallee(store, auth, b);
    return { ...base, to: user.aor, callee: user, from: b.from ?? null };
  }
  if (b.sipUserId !== undefined) throw invalidBody([{ path: ['sipUserId'], message: 'Give either trunkId (with to) or a SIP user, not both' }]);
  if (b.to === undefined) throw invalidBody([{ path: ['to'], message: 'Required with trunkId' }]);
  const trunk = store.sipTrunks.get(auth, b.trunkId);
  if (!trunk) throw invalidBody([{ path: ['trunkId'], message: 'No such SIP trunk' }]);
  if (!trunk.outbound) throw invalidBody([{ path: ['trunkId'], message: 'The trunk has no outbound gateway' }]);
  const target = resolveTarget(b.to, trunk, null);
  if ('error' in target) throw invalidBody([{ path: ['to'], message: target.error }]);
  // A URI elsewhere than the gateway would make the engine call any host a key names.
  if (!b.to.startsWith('+') && !sameGateway(target.uri, trunk.outbound.host)) {
    throw invalidBody([{ path: ['to'], message: "A sip: URI must be on the trunk's outbound gateway host" }]);
  }
  return { ...base, to: b.to, callee: { kind: 'trunk', trunk, target }, from: b.from ?? trunk.callerId };
}

/**
 * The SIP user a body without `trunkId` calls: `sipUserId`, or `to` as the user's address of
 * record. Only the caller's own tenant and mode: another tenant's user is "no such user" (its
 * existence is not told), whichever way it is named.
 */
function userCallee(store: Store, auth: AuthContext, b: PlaceBody): { kind: 'user'; sipUserId: string; aor: string } {
  if (b.sipUserId !== undefined) {
    if (b.to !== undefined) throw invalidBody([{ path: ['to'], message: 'Leave out to with sipUserId (the user is called at its address of record)' }]);
    const user = store.sipUsers.get(auth, b.sipUserId);
    if (!user) throw invalidBody([{ path: ['sipUserId'], message: 'No such SIP user' }]);
    return { kind: 'user', sipUserId: user.id, aor: aorOf(auth, user.username) };
  }
  if (b.to === undefined) throw invalidBody([{ path: ['trunkId'], message: 'Give trunkId and to, or a SIP user (sipUserId, or to as its address of record)' }]);
  const named = namedUser(b.to);
  if (!named) {
    throw invalidBody([{ path: ['to'], message: 'Without trunkId, to must be a SIP user\'s address of record (sip:<username>@<tenant id>.<mode>)' }]);
  }
  const scope = scopeOfSipDomain(named.host);
  const user = scope && scope.tenantId === auth.tenantId && scope.mode === auth.mode ? store.sipUsers.byUsername(auth, named.user) : undefined;
  if (!user) throw invalidBody([{ path: ['to'], message: 'No such SIP user' }]);
  return { kind: 'user', sipUserId: user.id, aor: aorOf(auth, user.username) };
}

/** The user and host of a plain `sip:user@host` (no port, parameters or headers: an address of record), else null. */
function namedUser(to: string): { user: string; host: string } | null {
  try {
    const uri = parseSipUri(to);
    if (uri.scheme !== 'sip' || !uri.user || uri.port !== null || uri.params.length || uri.headers !== null || uri.password !== null) return null;
    return { user: uri.user, host: uri.host };
  } catch {
    return null;
  }
}

function sameGateway(uri: string, host: string): boolean {
  const m = /^sips?:(?:[^@]*@)?(\[[^\]]+\]|[^:;>?]+)/i.exec(uri);
  const strip = (h: string) => h.replace(/^\[|\]$/g, '').toLowerCase();
  return !!m && strip(m[1]!) === strip(host);
}

export function outboundCallRoutes(store: Store, outbound: OutboundCalls): RouteDef[] {
  const cancel = async ({ auth, params }: { auth: AuthContext; params: { id: string } }) => {
    const call = found(store.calls.get(auth, params.id), 'call');
    const r = await outbound.cancel(call.id);
    if (r === 'answered') throw new AppError('conflict', 'The call is answered: hang it up instead (POST /api/v1/calls/{id}/hangup)');
    if (r === 'not_live') throw new AppError('conflict', `The call cannot be canceled (${call.status})`);
    return present(found(store.calls.get(auth, params.id), 'call'), null);
  };
  const cancelDoc = {
    auth: commandAccess,
    tags: ['Calls'],
    params: idParams,
    response: callSchema,
    errors: ['conflict' as const],
    description:
      'Stops a queued or ringing outbound call: a queued one leaves its queue, a dialled one is CANCELed. The call ' +
      'ends `canceled`. 409 `conflict` for an answered call (use `POST /api/v1/calls/{id}/hangup`) or one that has ended.',
  };
  return [
    route({
      method: 'post',
      path: '/api/v1/calls',
      auth: commandAccess,
      summary: "Place an outbound call through a trunk's gateway, or to a registered SIP user",
      description: PLACE_NOTE,
      tags: ['Calls'],
      operationId: 'createCall',
      body: placeBody,
      bodyExamples: PLACE_EXAMPLES,
      response: callSchema,
      status: 201,
      idempotent: true,
      errors: ['service_unavailable'],
      handler: ({ auth, body }) => {
        const id = outbound.place(placeRequest(store, auth, body));
        if (id === null) throw new AppError('service_unavailable', 'The engine is stopping: no call was placed');
        const call = found(store.calls.get(auth, id), 'call');
        return present(call, call.status === 'queued' ? outbound.queueInfo(id) : null);
      },
    }),
    route({ method: 'delete', path: '/api/v1/calls/:id', summary: 'Cancel a queued or ringing outbound call', operationId: 'cancelCall', ...cancelDoc, handler: cancel }),
    route({ method: 'post', path: '/api/v1/calls/:id/cancel', summary: 'Cancel a queued or ringing outbound call (as DELETE)', operationId: 'cancelCallAction', ...cancelDoc, handler: cancel }),
  ];
}
