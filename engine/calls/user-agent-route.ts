/**
 * Calls from a tenant's SIP users (stored `/api/v1/sip-users` and browser identities from
 * `POST /api/v1/calls/web`) to the tenant's agents, by the Request-URI user in the tenant's SIP
 * domain (`<tenant id>.<mode>`):
 *
 * - `sip:agent-<agent id>@<domain>`: that agent;
 * - `sip:<number>@<domain>`: one of the tenant's phone numbers (as stored, or an E.164 number
 *   with or without its `+`), and so the number's agent, or the SIP user the number rings (the
 *   engine bridges the caller to that user's devices, as it does a trunk's call to the number:
 *   trunk-user-call.ts, a `web` call with the number on its record);
 * - anything else: not an agent call (a user's address-of-record: the call is proxied to its
 *   devices, registrar/user-calls.ts).
 *
 * An agent or number the tenant does not have is 404 (an E.164-looking user is never a SIP
 * user's name), an inactive agent 480, as for trunk calls. The caller has already been
 * authenticated as one of the same tenant's users.
 */
import type { Store } from '../store/store.js';
import type { Scope } from '../store/repositories/scoped.js';
import { activeAgent, agentOfNumber, unavailable, type Refusal, type Route, type UserRoute } from './inbound-route.js';
import { numberForms } from './prefix-rules.js';

/** `agent-` then the agent's id (a UUID). */
const AGENT_USER = /^agent-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;
/** A user that can only be a number (E.164 with or without `+`): unknown ones are 404, never proxied. */
const NUMBER_USER = /^\+?\d{1,15}$/;

/** The agent URI user of `agentId` (what `POST /api/v1/calls/web` gives as the target). */
export const agentUser = (agentId: string) => `agent-${agentId}`;

/**
 * The route of a call from `callerAor` to `user` in `scope`'s domain: a route (to an agent, or to
 * the SIP user a number rings), a refusal, or null when `user` names no agent and no number (a
 * SIP user).
 */
export function routeUserCall(store: Store, scope: Scope, user: string, callerAor: string): Route | UserRoute | Refusal | null {
  const tenant = { tenantId: scope.tenantId, mode: scope.mode };
  const base = { scope: tenant, trunk: null, fromNumber: null, direction: 'web' as const, callerAor };
  const agentId = AGENT_USER.exec(user)?.[1]?.toLowerCase();
  if (agentId) {
    if (!store.agents.get(tenant, agentId)) return notFound('unknown agent', tenant);
    const agent = activeAgent(store, tenant, agentId);
    return 'why' in agent ? agent : { ...base, number: null, agent };
  }
  for (const form of numberForms(safeDecode(user))) {
    const number = store.phoneNumbers.findByNumber(form);
    // Another tenant's number is no number of this domain.
    if (!number || number.tenantId !== scope.tenantId || number.mode !== scope.mode) continue;
    if (number.sipUserId) {
      const sipUser = store.sipUsers.get(tenant, number.sipUserId);
      // Deleting the user clears the number's sipUserId (ON DELETE SET NULL): gone only in a race.
      if (!sipUser) return unavailable(`SIP user ${number.sipUserId} is gone`, 'No one answers this number', tenant);
      return { ...base, number, sipUser };
    }
    const agent = agentOfNumber(store, number);
    return 'why' in agent ? agent : { ...base, number, agent };
  }
  if (NUMBER_USER.test(user)) return notFound('unknown number', tenant);
  return null;
}

function notFound(why: string, tenant: Refusal['tenant']): Refusal {
  return { status: 404, why, headers: {}, tenant };
}

/** A malformed escape (`%ZZ`) is kept as sent: it then matches no number. */
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
