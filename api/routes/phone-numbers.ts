/**
 * Phone numbers: an E.164 number or a SIP user part, routed to an agent or to one of the
 * tenant's SIP users (its registered devices ring), optionally through a trunk. A number is
 * unique across the whole installation (`conflict`), so inbound routing is never ambiguous.
 * `agentId`, `sipUserId` and `trunkId` must name the caller's own (tenant and mode); null clears
 * them. A number has an agent or a SIP user, not both (checked on the number as it would be
 * after the write, so a PATCH that sets one must clear the other).
 */
import { z } from 'zod';
import type { PhoneNumber } from '../../engine/store/repositories/phone-numbers.js';
import type { Scope } from '../../engine/store/repositories/scoped.js';
import type { Store } from '../../engine/store/store.js';
import { listQuery } from '../http/pagination.js';
import type { RouteDef } from '../http/route.js';
import { access, managers } from './access.js';
import { crudRoutes, invalidBody, resourceShape, timestampsShape, unique, withoutTenant } from './crud.js';

/** E.164 as the product takes it (`+` and 8–15 digits), or a SIP user part. */
const dialNumber = z
  .string()
  .regex(/^(\+\d{8,15}|[A-Za-z0-9._-]{1,64})$/, 'Must be an E.164 number (+ and 8–15 digits) or a SIP user (letters, digits, . _ -)');

const phoneNumberSchema = z
  .object({
    ...resourceShape,
    number: z.string(),
    name: z.string().nullable(),
    agentId: z.uuid().nullable(),
    sipUserId: z.uuid().nullable().meta({ description: 'The SIP user whose registered devices ring for calls to this number (null when an agent answers)' }),
    trunkId: z.uuid().nullable(),
    ...timestampsShape,
  })
  .meta({ id: 'PhoneNumber' });

const createBody = z
  .strictObject({
    number: dialNumber,
    name: z.string().trim().min(1).max(200).nullable().optional(),
    agentId: z.string().min(1).nullable().optional().meta({ description: 'The agent that answers calls to this number (not with `sipUserId`)' }),
    sipUserId: z
      .string()
      .min(1)
      .nullable()
      .optional()
      .meta({ description: "A SIP user of the tenant: calls to this number ring each of its registered devices (not with `agentId`)" }),
    trunkId: z.string().min(1).nullable().optional().meta({ description: 'The trunk calls to this number arrive on' }),
  })
  .meta({ id: 'PhoneNumberCreate' });
const updateBody = createBody.partial().meta({ id: 'PhoneNumberUpdate' });

type References = { agentId?: string | null; sipUserId?: string | null; trunkId?: string | null };

/**
 * The agent, SIP user and trunk named must be the scope's; `current` is the number before an
 * update, so that the number as written has an agent or a SIP user, not both.
 */
function checkReferences(store: Store, scope: Scope, body: References, current: References = {}): void {
  const issues: { path: string[]; message: string }[] = [];
  if (body.agentId && !store.agents.get(scope, body.agentId)) issues.push({ path: ['agentId'], message: `Agent ${body.agentId} not found` });
  if (body.sipUserId && !store.sipUsers.get(scope, body.sipUserId)) issues.push({ path: ['sipUserId'], message: `SIP user ${body.sipUserId} not found` });
  const agentId = body.agentId === undefined ? current.agentId : body.agentId;
  const sipUserId = body.sipUserId === undefined ? current.sipUserId : body.sipUserId;
  if (agentId && sipUserId) {
    const path = body.sipUserId ? 'sipUserId' : 'agentId';
    issues.push({ path: [path], message: 'A number routes to an agent or a SIP user, not both (set the other to null)' });
  }
  if (body.trunkId && !store.sipTrunks.get(scope, body.trunkId)) issues.push({ path: ['trunkId'], message: `SIP trunk ${body.trunkId} not found` });
  if (issues.length) throw invalidBody(issues);
}

const taken = (number: string | undefined) => `Number ${number} is already in use`;

export function phoneNumberRoutes(store: Store): RouteDef[] {
  return crudRoutes({
    path: '/api/v1/phone-numbers',
    tag: 'Phone numbers',
    names: { one: 'PhoneNumber', many: 'PhoneNumbers', label: 'phone number' },
    access: access('phone_numbers', managers),
    item: phoneNumberSchema,
    listItem: phoneNumberSchema,
    createBody,
    updateBody,
    listQuery: listQuery('created_at', { agentId: z.string().optional(), sipUserId: z.string().optional(), trunkId: z.string().optional() }),
    errors: { create: ['conflict'], update: ['conflict'] },
    present: (n: PhoneNumber) => withoutTenant(n),
    presentListItem: (n: PhoneNumber) => withoutTenant(n),
    list: (auth, q) => store.phoneNumbers.list(auth, q, q.limit, q.offset),
    get: (auth, id) => store.phoneNumbers.get(auth, id),
    create: (auth, body) => {
      checkReferences(store, auth, body);
      return unique(() => store.phoneNumbers.create(auth, body), taken(body.number));
    },
    update: (auth, id, body) => {
      const current = store.phoneNumbers.get(auth, id);
      if (!current) return undefined;
      checkReferences(store, auth, body, current);
      return unique(() => store.phoneNumbers.update(auth, id, body), taken(body.number));
    },
    remove: (auth, id) => store.phoneNumbers.delete(auth, id),
  });
}
