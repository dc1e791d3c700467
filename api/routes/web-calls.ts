/**
 * `POST /api/v1/calls/web`: what a browser needs to call one of the tenant's agents or numbers:
 * the SIP WebSocket URL, a short-lived SIP identity in the tenant's SIP domain (its password
 * shown here once), the target URI and the ICE servers. The identity is the registrar's like a
 * stored SIP user's (REGISTER, INVITE with digest) until it expires; see
 * engine/calls/registrar/web-identities.ts. The call itself is an INVITE to the target over the
 * WebSocket, answered by the agent (engine/calls/user-agent-route.ts).
 */
import { z } from 'zod';
import { iceServerSchema } from '../../config/schema.js';
import { sipDomainOf } from '../../engine/calls/registrar/sip-domain.js';
import type { WebIdentities } from '../../engine/calls/registrar/web-identities.js';
import { agentUser } from '../../engine/calls/user-agent-route.js';
import type { Store } from '../../engine/store/store.js';
import { AppError } from '../http/errors.js';
import { route, type AuthContext, type RequestInfo, type RouteDef } from '../http/route.js';
import { commandAccess } from '../realtime/commands.js';
import { invalidBody } from './crud.js';

/** What the route needs besides the store and the identities. */
export interface WebCallSettings {
  realm: string;
  /** The SIP WebSocket's path (`sip.wsPath`); null when SIP over WebSocket is not served. */
  wsPath: string | null;
  /** The HTTP listener speaks TLS (then `wss:`). */
  tls: boolean;
  /** `webCalls.publicUrl`: the base the WebSocket URL is built on, over the request's Host. */
  publicUrl: string | undefined;
  /** Where the HTTP server listens, for a request without a usable Host. */
  listening: () => { host: string; port: number };
  iceServers: z.infer<typeof iceServerSchema>[];
}

const TTL_DEFAULT = 600;

const createBody = z
  .strictObject({
    agentId: z.uuid().optional().meta({ description: 'The agent to call (active, of the caller’s tenant and mode). Exactly one of agentId and phoneNumberId' }),
    phoneNumberId: z.uuid().optional().meta({ description: 'The phone number to call (its agent answers, as for a call from a trunk)' }),
    ttlSeconds: z.number().int().min(60).max(3600).default(TTL_DEFAULT).meta({ description: 'How long the SIP identity is good for: 60–3600 s, default 600' }),
  })
  .superRefine((b, ctx) => {
    if ((b.agentId === undefined) === (b.phoneNumberId === undefined)) {
      ctx.addIssue({ code: 'custom', path: [b.agentId === undefined ? 'agentId' : 'phoneNumberId'], message: 'Give exactly one of agentId and phoneNumberId' });
    }
  })
  .meta({ id: 'WebCallCreate', example: { agentId: '3f2b8c1e-5d4a-4c6b-9e7f-0a1b2c3d4e5f', ttlSeconds: 600 } });

const webCallSchema = z
  .object({
    websocketUrl: z.string().meta({ description: 'SIP over WebSocket (RFC 7118, subprotocol `sip`): `wss:` when the listener has TLS' }),
    sip: z.object({
      uri: z.string().meta({ description: 'The identity’s address-of-record: sip:<username>@<tenant id>.<mode>' }),
      username: z.string().meta({ description: 'Digest username (`web-` and 20 hex digits)' }),
      password: z.string().meta({ description: 'Digest password: shown only here, never again, and never logged' }),
      realm: z.string().meta({ description: 'Digest realm of the challenges' }),
      expiresAt: z.iso.datetime().meta({ description: 'After this, REGISTER and INVITE with the identity get 403 and its registrations go; a call already up goes on' }),
    }),
    target: z.string().meta({ description: 'The SIP URI to INVITE: sip:agent-<agent id>@<domain>, or sip:<number>@<domain>. The identity may call this target only (403 elsewhere)' }),
    iceServers: z.array(iceServerSchema).meta({ description: 'For RTCPeerConnection (setting `webCalls.iceServers`)' }),
  })
  .meta({
    id: 'WebCall',
    example: {
      websocketUrl: 'wss://voice.example.com/sip',
      sip: {
        uri: 'sip:web-8f14e45fceea167a5a36@0b7c1f9e-2a3d-4e5f-8a9b-c0d1e2f3a4b5.live',
        username: 'web-8f14e45fceea167a5a36',
        password: 'kQ3x9vTz0bW1yN2m4L5p6R7s',
        realm: 'agent-studio',
        expiresAt: '2026-01-01T12:10:00.000Z',
      },
      target: 'sip:agent-3f2b8c1e-5d4a-4c6b-9e7f-0a1b2c3d4e5f@0b7c1f9e-2a3d-4e5f-8a9b-c0d1e2f3a4b5.live',
      iceServers: [{ urls: 'stun:stun.example.com:3478' }],
    },
  });

const NOTE =
  'Returns what a browser needs to call one of the tenant’s agents (`agentId`) or phone numbers (`phoneNumberId`), ' +
  'exactly one of them: a short-lived SIP identity (digest username and password, shown only here), the SIP WebSocket ' +
  'URL, the target URI and the ICE servers. Register with the identity (optional) and INVITE the target over the ' +
  'WebSocket with digest (407 then Proxy-Authorization): the agent answers, and the call is a call record with ' +
  'direction `web`. The identity may INVITE its target only (403 for any other URI). The identity lives in memory ' +
  'until `expiresAt` (an engine restart ends it); a tenant holds at ' +
  'most `webCalls.tenantMaxIdentities` at once, then 429 `rate_limit_exceeded` with Retry-After (when the next one ' +
  'expires). `validation_error` for an unknown agent or number, an inactive agent, a number without an active agent; ' +
  '`service_unavailable` when SIP over WebSocket is not served or the engine is stopping. Same rights as placing a call.';

/** A Host header we may put in a URL: a name or IPv4 address, or a bracketed IPv6 one, and a port. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/** The WebSocket URL the browser dials: from the public URL, else from the Host the request came to. */
function websocketUrl(s: WebCallSettings, req: RequestInfo, wsPath: string): string {
  if (s.publicUrl) {
    const base = new URL(s.publicUrl);
    const path = `${base.pathname.replace(/\/+$/, '')}${wsPath}`;
    return `${base.protocol === 'https:' ? 'wss' : 'ws'}://${base.host}${path}`;
  }
  const scheme = s.tls ? 'wss' : 'ws';
  const host = req.headers['host'];
  if (host && HOST.test(host)) return `${scheme}://${host}${wsPath}`;
  const l = s.listening();
  const h = l.host === '0.0.0.0' || l.host === '::' ? '127.0.0.1' : l.host.includes(':') ? `[${l.host}]` : l.host;
  return `${scheme}://${h}:${l.port}${wsPath}`;
}

/**
 * The target of the request as a Request-URI user (`agent-<id>`, or the number as stored), the
 * agent's or the number's; validation_error when it cannot be called.
 */
function targetOf(store: Store, auth: AuthContext, b: z.infer<typeof createBody>): string {
  let agentId: string | null;
  let user: string;
  let field: string;
  if (b.agentId !== undefined) {
    field = 'agentId';
    agentId = b.agentId;
    user = agentUser(b.agentId);
    if (!store.agents.get(auth, b.agentId)) throw invalidBody([{ path: [field], message: 'No such agent' }]);
  } else {
    field = 'phoneNumberId';
    const number = store.phoneNumbers.get(auth, b.phoneNumberId!);
    if (!number) throw invalidBody([{ path: [field], message: 'No such phone number' }]);
    if (!number.agentId) throw invalidBody([{ path: [field], message: 'The phone number has no agent' }]);
    agentId = number.agentId;
    user = number.number;
  }
  const agent = store.agents.get(auth, agentId);
  // The agent's status is the admin's switch: its calls would be refused (SIP 480).
  if (!agent || agent.status !== 'active') throw invalidBody([{ path: [field], message: 'The agent is inactive' }]);
  return user;
}

export function webCallRoutes(store: Store, identities: WebIdentities, settings: WebCallSettings): RouteDef[] {
  return [
    route({
      method: 'post',
      path: '/api/v1/calls/web',
      auth: commandAccess,
      summary: 'Get a short-lived SIP identity for a browser call to an agent or number',
      description: NOTE,
      tags: ['Calls'],
      operationId: 'createWebCall',
      body: createBody,
      response: webCallSchema,
      status: 201,
      errors: ['rate_limit_exceeded', 'service_unavailable'],
      handler: ({ auth, body, req, log }) => {
        if (settings.wsPath === null) throw new AppError('service_unavailable', 'SIP over WebSocket is not served (sip.transports has no ws, or the SIP server is external)');
        const callee = targetOf(store, auth, body);
        const target = `sip:${callee}@${sipDomainOf(auth)}`;
        const identity = identities.issue(auth, body.ttlSeconds, callee);
        if ('refused' in identity) {
          if (identity.refused === 'closed') throw new AppError('service_unavailable', 'The engine is stopping');
          throw new AppError('rate_limit_exceeded', 'The tenant holds as many web identities as it may: wait for one to expire', [], { 'Retry-After': String(identity.retryAfterSeconds) });
        }
        log.info({ identity: identity.username, target, ttlSeconds: body.ttlSeconds }, 'web identity issued');
        return {
          websocketUrl: websocketUrl(settings, req, settings.wsPath),
          sip: { uri: identity.aor, username: identity.username, password: identity.password, realm: settings.realm, expiresAt: new Date(identity.expiresAt).toISOString() },
          target,
          iceServers: settings.iceServers,
        };
      },
    }),
  ];
}
