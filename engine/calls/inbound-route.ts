/**
 * Where an inbound INVITE goes once its trunks are known: the dialled number, rewritten by each
 * trunk's inbound prefix rule, among that trunk's tenant's numbers; then the number's agent,
 * which must exist and be active, or the number's SIP user (whose registered devices ring,
 * trunk-user-call.ts). Every refusal says which tenant, if any, it concerns, so the tenant sees
 * it in its error log.
 */
import type { Agent } from '../store/repositories/agents.js';
import type { Mode } from '../store/mode.js';
import type { PhoneNumber } from '../store/repositories/phone-numbers.js';
import type { SipTrunk } from '../store/repositories/sip-trunks.js';
import type { SipUser } from '../store/repositories/sip-users.js';
import type { Store } from '../store/store.js';
import { dialledCandidates } from './inbound-auth.js';
import { applyPrefixRule, numberForms } from './prefix-rules.js';

/** Where a call goes. */
export interface Route {
  scope: { tenantId: string; mode: Mode };
  /** The number dialled (null: a SIP user called the agent itself). */
  number: PhoneNumber | null;
  /** The trunk it came through (null: from one of the tenant's SIP users, see user-agent-route.ts). */
  trunk: SipTrunk | null;
  agent: Agent;
  /** The caller's number as sent (null when the From has none, or the caller is a SIP user). */
  fromNumber: string | null;
  /** `inbound` from a trunk; `web` from one of the tenant's SIP users (a browser or a registered device). */
  direction: 'inbound' | 'web';
  /** The calling SIP user's address-of-record (`web` calls), the agent's `caller`. */
  callerAor: string | null;
}

/**
 * A call to a number that rings one of the tenant's SIP users (trunk-user-call.ts): a trunk's
 * (`inbound`, its trunk set), or one of the tenant's SIP users' or browsers' (`web`, no trunk,
 * `callerAor` set; user-agent-route.ts).
 */
export interface UserRoute extends Omit<Route, 'agent' | 'number'> {
  number: PhoneNumber;
  sipUser: SipUser;
}

/** A refusal: the SIP answer, and the tenant it concerns (null: nothing identified one). */
export interface Refusal {
  status: number;
  why: string;
  headers: Record<string, string>;
  tenant: { tenantId: string; mode: Mode } | null;
}

interface InviteAddress {
  requestUri: string;
  to: string;
  fromUri: string;
}

/** Routes an INVITE that came through `trunks`: a route (to an agent or a SIP user), or the refusal to send. */
export function routeInvite(store: Store, invite: InviteAddress, trunks: SipTrunk[]): Route | UserRoute | Refusal {
  const found = findNumber(store, invite, trunks);
  if (!found) {
    // A number of ours that none of these trunks may reach (another tenant's trunk, or not the
    // trunk the number is pinned to): its tenant sees the refusal, a misconfiguration to fix.
    const owner = tenantOfDialled(store, invite.requestUri, invite.to);
    return { status: 404, why: owner ? 'the number is not reachable through the calling trunk' : 'unknown number', headers: {}, tenant: owner };
  }
  const { number, trunk } = found;
  // The rule is for the dialled number: its unconditional `add` would garble a caller number
  // sent in another form (`+1555…` under `{strip: '0', add: '+44'}`).
  const fromNumber = dialledCandidates(invite.fromUri, '')[0] ?? null;
  const base = { scope: { tenantId: number.tenantId, mode: number.mode }, number, trunk, fromNumber, direction: 'inbound' as const, callerAor: null };
  if (number.sipUserId) {
    const sipUser = store.sipUsers.get(base.scope, number.sipUserId);
    // Deleting the user clears the number's sipUserId (ON DELETE SET NULL): gone only in a race.
    if (!sipUser) return unavailable(`SIP user ${number.sipUserId} is gone`, 'No one answers this number', base.scope);
    return { ...base, sipUser };
  }
  const agent = agentOfNumber(store, number);
  if ('why' in agent) return agent;
  return { ...base, agent };
}

/** The agent that answers `number`: it must exist and be active (480 otherwise). */
export function agentOfNumber(store: Store, number: PhoneNumber): Agent | Refusal {
  const tenant = { tenantId: number.tenantId, mode: number.mode };
  if (!number.agentId) return unavailable(number.sipUserId ? 'number rings a SIP user' : 'number has no agent', 'No agent answers this number', tenant);
  return activeAgent(store, tenant, number.agentId);
}

/** The tenant's agent `agentId`, when active; 480 when inactive or gone. */
export function activeAgent(store: Store, tenant: { tenantId: string; mode: Mode }, agentId: string): Agent | Refusal {
  const agent = store.agents.get(tenant, agentId);
  // The agent's status is the admin's switch: an inactive agent takes no calls.
  if (!agent || agent.status !== 'active') return unavailable(`agent ${agentId} is inactive`, 'The agent is inactive', tenant);
  return agent;
}

/**
 * The tenant a refused INVITE concerns, when its dialled number (as sent, no trunk being known)
 * is one of ours. Null otherwise: such attempts go to the operator's log only.
 */
export function tenantOfDialled(store: Store, requestUri: string, to: string): Refusal['tenant'] {
  for (const candidate of dialledCandidates(requestUri, to)) {
    const n = store.phoneNumbers.findByNumber(candidate);
    if (n) return { tenantId: n.tenantId, mode: n.mode };
  }
  return null;
}

/**
 * The dialled number in the tenant of one of the trunks. Each trunk's inbound rule rewrites the
 * number the carrier sent before the lookup, so `0044…` finds `+44…` under `{strip: '00', add: '+'}`.
 */
function findNumber(store: Store, invite: InviteAddress, trunks: SipTrunk[]): { number: PhoneNumber; trunk: SipTrunk } | undefined {
  const sent = dialledCandidates(invite.requestUri, invite.to)[0];
  if (sent === undefined) return undefined;
  for (const trunk of trunks) {
    const rewritten = applyPrefixRule(sent, trunk.prefixRules.inbound);
    for (const candidate of numberForms(rewritten)) {
      const n = store.phoneNumbers.findByNumber(candidate);
      // A number pinned to a trunk only answers through that trunk.
      if (n && n.tenantId === trunk.tenantId && n.mode === trunk.mode && (!n.trunkId || n.trunkId === trunk.id)) return { number: n, trunk };
    }
  }
  return undefined;
}

/**
 * RFC 3261 §21.4.18 480 Temporarily Unavailable: "the callee's end system was contacted
 * successfully but the callee is currently unavailable". The Reason (RFC 3326) and Warning
 * (§20.43, 399 miscellaneous) say why, for the carrier's logs.
 */
export function unavailable(why: string, text: string, tenant: Refusal['tenant']): Refusal {
  return {
    status: 480,
    why,
    headers: { Reason: `SIP;cause=480;text="${text}"`, Warning: `399 agent-studio "${text}"` },
    tenant,
  };
}
