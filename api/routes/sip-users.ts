/**
 * SIP users: the tenant's browser users and SIP devices that REGISTER to the engine (RFC 3261
 * §10), and their current registrations. The address-of-record is `sip:<username>@<tenant id>.live`
 * (`.test` in test mode; `aor` in each answer), the digest realm is `sip.realm`.
 *
 * The password is write-only: it is never answered, and an update keeps it unless one is given.
 * Usernames are unique per tenant and mode. Only admins and owners write (they are credentials);
 * every role reads. Registrations are the registrar's live bindings, held in memory.
 */
import { z } from 'zod';
import { remainingSeconds } from '../../engine/calls/registrar/bindings.js';
import type { Registrar } from '../../engine/calls/registrar/registrar.js';
import { aorOf } from '../../engine/calls/registrar/sip-domain.js';
import type { SipUser } from '../../engine/store/repositories/sip-users.js';
import type { Store } from '../../engine/store/store.js';
import { listQuery } from '../http/pagination.js';
import { route, type RouteDef } from '../http/route.js';
import { access, managers } from './access.js';
import { crudRoutes, found, idParams, resourceShape, timestampsShape, unique } from './crud.js';

/** RFC 3261 §25.1 `user` restricted to unreserved characters, so it needs no escaping anywhere. */
const username = z
  .string()
  .regex(/^[A-Za-z0-9._~+-]{1,64}$/, 'Must be 1-64 letters, digits or . _ ~ + -')
  .meta({ description: 'The user part of the address-of-record and the digest username' });
const password = z.string().min(8).max(128).meta({ description: 'Write-only: the digest password' });
const displayName = z.string().trim().min(1).max(200).nullable();

const createBody = z.strictObject({ username, password, displayName: displayName.optional() }).meta({ id: 'SipUserCreate' });
const updateBody = z
  .strictObject({ username: username.optional(), password: password.optional(), displayName: displayName.optional() })
  .meta({ id: 'SipUserUpdate' });

const sipUserSchema = z
  .object({
    ...resourceShape,
    username: z.string(),
    displayName: z.string().nullable(),
    aor: z.string().meta({ description: 'The address-of-record to register: sip:<username>@<tenant id>.live (.test in test mode)' }),
    ...timestampsShape,
  })
  .meta({ id: 'SipUser' });

const registrationSchema = z
  .object({
    contact: z.string().meta({ description: 'The Contact URI bound' }),
    expires: z.number().int().meta({ description: 'Seconds granted at the last REGISTER' }),
    expiresInSeconds: z.number().int(),
    registeredAt: z.iso.datetime(),
    transport: z.string().meta({ description: 'udp, tcp, tls or ws: the flow the REGISTER came on' }),
    source: z.string().meta({ description: 'address:port of that flow (a WebSocket has a stand-in port)' }),
    userAgent: z.string().nullable(),
  })
  .meta({ id: 'SipRegistration' });
const registrationList = z.object({ aor: z.string(), items: z.array(registrationSchema) }).meta({ id: 'SipRegistrationList' });

const present = ({ tenantId, password: _, ...u }: SipUser) => ({ ...u, aor: aorOf({ tenantId, mode: u.mode }, u.username) });

const TAKEN = 'A SIP user with this username already exists';

export function sipUserRoutes(store: Store, registrar: Registrar): RouteDef[] {
  const acc = access('sip_users', managers);
  return [
    ...crudRoutes({
      path: '/api/v1/sip-users',
      tag: 'SIP users',
      names: { one: 'SipUser', many: 'SipUsers', label: 'SIP user' },
      access: acc,
      item: sipUserSchema,
      listItem: sipUserSchema,
      createBody,
      updateBody,
      listQuery: listQuery('created_at', {}),
      present,
      presentListItem: present,
      list: (auth, q) => store.sipUsers.list(auth, q, q.limit, q.offset),
      get: (auth, id) => store.sipUsers.get(auth, id),
      create: (auth, body) => unique(() => store.sipUsers.create(auth, { username: body.username, password: body.password, displayName: body.displayName ?? null }), TAKEN),
      update: (auth, id, body) => unique(() => store.sipUsers.update(auth, id, body), TAKEN),
      remove: (auth, id) => {
        const u = store.sipUsers.get(auth, id);
        if (!u || !store.sipUsers.delete(auth, id)) return false;
        registrar.unbind(aorOf(auth, u.username));
        return true;
      },
      errors: { create: ['conflict'], update: ['conflict'] },
    }),
    route({
      method: 'get',
      path: '/api/v1/sip-users/:id/registrations',
      auth: acc.read,
      summary: "A SIP user's current registrations (bindings)",
      tags: ['SIP users'],
      operationId: 'listSipUserRegistrations',
      params: idParams,
      response: registrationList,
      handler: ({ auth, params }) => {
        const u = found(store.sipUsers.get(auth, params.id), 'SIP user');
        const aor = aorOf(auth, u.username);
        const now = performance.now();
        return {
          aor,
          items: registrar.registrationsOf(aor).map((b) => ({
            contact: b.contact,
            expires: b.expires,
            expiresInSeconds: remainingSeconds(b, now),
            registeredAt: b.registeredAt.toISOString(),
            transport: b.flow.protocol,
            source: `${b.flow.address}:${b.flow.port}`,
            userAgent: b.userAgent,
          })),
        };
      },
    }),
  ];
}
