/**
 * SIP trunks: a carrier's inbound side (allowlist of IPs/CIDRs, IPv4 and IPv6, and/or digest
 * credentials) and outbound side (gateway host, port, transport, credentials), plus caller id,
 * prefix rules, a calls-per-second cap and a concurrent-calls cap. The inbound side and prefix
 * rule act on inbound calls; the outbound side, caller id and outbound prefix rule act on
 * outbound calls (`POST /api/v1/calls`) and on blind transfers to E.164 numbers; the caps act on
 * outbound calls (which queue behind them). The document says so on each field.
 *
 * Passwords are write-only: responses say `hasPassword`. `inbound` and `outbound` merge key by
 * key on update: a key left out keeps its stored value (so a password is kept unless given),
 * null clears it, and `"outbound": null` removes the outbound side. A username needs a password
 * and the reverse. Deleting a trunk detaches the phone numbers that used it.
 */
import { z } from 'zod';
import { parseCidr, parseIp } from '../../lib/cidr.js';
import { prefixRulesSchema } from '../../engine/calls/prefix-rules.js';
import { definedOnly } from '../../engine/store/repositories/scoped.js';
import type { SipTrunk, TrunkInbound, TrunkOutbound } from '../../engine/store/repositories/sip-trunks.js';
import type { Store } from '../../engine/store/store.js';
import { listQuery } from '../http/pagination.js';
import type { RouteDef } from '../http/route.js';
import { access, managers } from './access.js';
import { crudRoutes, invalidBody, resourceShape, timestampsShape } from './crud.js';

const allowEntry = z
  .string()
  .max(64)
  .refine((v) => parseCidr(v) !== null, 'Must be an IPv4 or IPv6 address or CIDR block, e.g. 203.0.113.0/24');
const hostnameRe = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const host = z.string().refine((v) => parseIp(v) !== null || hostnameRe.test(v), 'Must be a hostname or an IP address');
const username = z.string().min(1).max(128).regex(/^[^\s:@]+$/, 'Must not contain spaces, : or @');
const password = z
  .string()
  .min(8)
  .max(128)
  .meta({ description: 'Write-only. On update: leave out to keep, null to remove' });
const transport = z.enum(['udp', 'tcp', 'tls']);

const inboundIn = z
  .strictObject({ allowlist: z.array(allowEntry).max(100), username: username.nullable(), password: password.nullable() })
  .partial()
  .meta({ id: 'TrunkInboundInput' });
const outboundShape = {
  host,
  port: z.number().int().min(1).max(65535).meta({ description: 'default 5060' }),
  transport: transport.meta({ description: 'default udp' }),
  username: username.nullable(),
  password: password.nullable(),
};
/** What the caps act on. */
const FOR_OUTBOUND = 'Applies to outbound calls (POST /api/v1/calls): calls over the cap wait in the trunk’s queue, none is dropped';
/** What outbound calls and blind transfers (engine/calls/transfer.ts) use of the outbound side. */
const FOR_TRANSFER =
  "Where outbound calls (POST /api/v1/calls) go, answering the gateway's digest challenge (401 or 407) with these credentials. Also used by blind transfers to an E.164 number: the number is referred to and, when the caller's side refuses REFER, dialled by the engine on this gateway";
const outboundUpdate = z.strictObject(outboundShape).partial().meta({ id: 'TrunkOutboundUpdate' });
const outboundCreate = outboundUpdate.required({ host: true }).meta({ id: 'TrunkOutboundInput' });

const settings = {
  callerId: z
    .string()
    .regex(/^(\+?\d{3,15}|[A-Za-z0-9._-]{1,64})$/, 'Must be a number (optionally +, 3–15 digits) or a SIP user')
    .nullable()
    .optional()
    .meta({ description: "Caller id (From user) of outbound calls without a `from`, and of the engine's own INVITE when it bridges a blind transfer (the caller's number when unset)" }),
  prefixRules: prefixRulesSchema.optional().meta({
    description: `Number rewriting. \`inbound\` is applied to the dialled number the carrier sends, before it is matched to a phone number. \`outbound\` is applied to the E.164 numbers we send the carrier: outbound calls' \`to\` and transfer targets`,
  }),
  cpsLimit: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .nullable()
    .optional()
    .meta({ description: `Outbound calls per second (INVITEs at least 1/cpsLimit s apart); null = no cap. ${FOR_OUTBOUND}` }),
  maxConcurrentCalls: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .nullable()
    .optional()
    .meta({ description: `Live outbound calls (dialling or answered) on this trunk at once; null = no cap of its own (the engine's tenant-wide cap still applies). ${FOR_OUTBOUND}` }),
};
const name = z.string().trim().min(1).max(200);
const createBody = z
  .strictObject({ name, inbound: inboundIn.optional(), outbound: outboundCreate.nullable().optional().meta({ description: FOR_TRANSFER }), ...settings })
  .meta({ id: 'SipTrunkCreate' });
const updateBody = z
  .strictObject({ name: name.optional(), inbound: inboundIn.optional(), outbound: outboundUpdate.nullable().optional().meta({ description: FOR_TRANSFER }), ...settings })
  .meta({ id: 'SipTrunkUpdate' });

const sipTrunkSchema = z
  .object({
    ...resourceShape,
    name: z.string(),
    inbound: z.object({ allowlist: z.array(z.string()), username: z.string().nullable(), hasPassword: z.boolean() }),
    outbound: z
      .object({ host: z.string(), port: z.number().int(), transport, username: z.string().nullable(), hasPassword: z.boolean() })
      .nullable(),
    callerId: z.string().nullable(),
    prefixRules: prefixRulesSchema,
    cpsLimit: z.number().int().nullable(),
    maxConcurrentCalls: z.number().int().nullable(),
    ...timestampsShape,
  })
  .meta({ id: 'SipTrunk' });

const present = ({ tenantId: _, inbound, outbound, ...t }: SipTrunk) => ({
  ...t,
  inbound: { allowlist: inbound.allowlist, username: inbound.username, hasPassword: inbound.password !== null },
  outbound: outbound && {
    host: outbound.host,
    port: outbound.port,
    transport: outbound.transport,
    username: outbound.username,
    hasPassword: outbound.password !== null,
  },
});

type Issue = { path: string[]; message: string };

/** A username and a password go together. */
function pairIssues(side: 'inbound' | 'outbound', c: { username: string | null; password: string | null } | null): Issue[] {
  if (!c || Boolean(c.username) === Boolean(c.password)) return [];
  return c.username
    ? [{ path: [side, 'password'], message: 'Required with a username' }]
    : [{ path: [side, 'username'], message: 'Required with a password' }];
}

/** The trunk's inbound and outbound sides after applying `body` to `cur` (the stored trunk, or none). */
function merge(
  cur: Pick<SipTrunk, 'inbound' | 'outbound'> | undefined,
  body: { inbound?: z.infer<typeof inboundIn>; outbound?: z.infer<typeof outboundUpdate> | null },
): { inbound: TrunkInbound; outbound: TrunkOutbound | null } {
  const inbound: TrunkInbound = { allowlist: [], username: null, password: null, ...cur?.inbound, ...definedOnly(body.inbound ?? {}) };
  let outbound = cur?.outbound ?? null;
  const issues: Issue[] = [];
  if (body.outbound === null) outbound = null;
  else if (body.outbound) {
    const next = { port: 5060, transport: 'udp' as const, username: null, password: null, ...outbound, ...definedOnly(body.outbound) };
    if (next.host === undefined) issues.push({ path: ['outbound', 'host'], message: 'Field is required' });
    else outbound = { ...next, host: next.host };
  }
  issues.push(...pairIssues('inbound', inbound), ...pairIssues('outbound', outbound));
  if (issues.length) throw invalidBody(issues);
  return { inbound, outbound };
}

export function sipTrunkRoutes(store: Store): RouteDef[] {
  return crudRoutes({
    path: '/api/v1/sip-trunks',
    tag: 'SIP trunks',
    names: { one: 'SipTrunk', many: 'SipTrunks', label: 'SIP trunk' },
    access: access('sip_trunks', managers),
    item: sipTrunkSchema,
    listItem: sipTrunkSchema,
    createBody,
    updateBody,
    listQuery: listQuery('created_at', {}),
    present,
    presentListItem: present,
    list: (auth, q) => store.sipTrunks.list(auth, q, q.limit, q.offset),
    get: (auth, id) => store.sipTrunks.get(auth, id),
    create: (auth, body) => store.sipTrunks.create(auth, { ...body, ...merge(undefined, body) }),
    update: (auth, id, body) => {
      const cur = store.sipTrunks.get(auth, id);
      return cur && store.sipTrunks.update(auth, id, { ...body, ...merge(cur, body) });
    },
    remove: (auth, id) => store.sipTrunks.delete(auth, id),
  });
}
