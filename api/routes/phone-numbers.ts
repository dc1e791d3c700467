/**
 * Phone numbers: an E.164 number or a SIP user, routed to an agent, optionally through a
 * trunk. A number is unique across the whole installation (`conflict`), so inbound routing is
 * never ambiguous. `agentId` and `trunkId` must name the caller's own (tenant and mode); null
 * clears them.
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
    trunkId: z.uuid().nullable(),
    ...timestampsShape,
  })
  .meta({ id: 'PhoneNumber' });

const createBody = z
  .strictObject({
    number: dialNumber,
    name: z.string().trim().min(1).max(200).nullable().optional(),
    agentId: z.string().min(1).nullable().optional().meta({ description: 'The agent that answers calls to this number' }),
    trunkId: z.string().min(1).nullable().optional().meta({ description: 'The trunk calls to this number arrive on' }),
  })
  .meta({ id: 'PhoneNumberCreate' });
const updateBody = createBody.partial().meta({ id: 'PhoneNumberUpdate' });

/** The agent and trunk named must be the scope's. */
function checkReferences(store: Store, scope: Scope, body: { agentId?: string | null; trunkId?: string | null }): void {
  const issues: { path: string[]; message: string }[] = [];
  if (body.agentId && !store.agents.get(scope, body.agentId)) issues.push({ path: ['agentId'], message: `Agent ${body.agentId} not found` });
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
    listQuery: listQuery('created_at', { agentId: z.string().optional(), trunkId: z.string().optional() }),
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
      if (!store.phoneNumbers.get(auth, id)) return undefined;
      checkReferences(store, auth, body);
      return unique(() => store.phoneNumbers.update(auth, id, body), taken(body.number));
    },
    remove: (auth, id) => store.phoneNumbers.delete(auth, id),
  });
}
