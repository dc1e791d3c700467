/** The record of an inbound call (from a trunk, or a SIP user's call to an agent or number) as it starts. */
import type Srf from 'drachtio-srf';
import type { Agent } from '../store/repositories/agents.js';
import type { InboundDeps } from './inbound-call.js';
import type { Route, UserRoute } from './inbound-route.js';

/** What a call's record says of its route (an agent's call, or a call bridged to a SIP user's devices). */
export type RecordedRoute = Pick<Route | UserRoute, 'scope' | 'number' | 'trunk' | 'fromNumber' | 'direction'>;

/**
 * The call's row and its first event, committed together: recorded before anything happens to
 * it. The call runs the version of the agent's workflow current now, and records which.
 */
export function recordCall(deps: Pick<InboundDeps, 'store' | 'events'>, req: Srf.SrfRequest, route: RecordedRoute, agent: Agent | null): { id: string; workflow: { id: string; version: number } | null } {
  const { number, trunk, fromNumber, scope } = route;
  const sipCallId = req.get('Call-ID');
  const wf = agent?.config.workflowId ? deps.store.workflows.get(scope, agent.config.workflowId) : undefined;
  const workflow = wf ? { id: wf.id, version: wf.version } : null;
  const fromUri = (req.getParsedHeader('From') as { uri: string }).uri;
  return deps.events.transaction(() => {
    const r = deps.store.calls.create({
      tenantId: scope.tenantId,
      mode: scope.mode,
      direction: route.direction,
      fromUri,
      toUri: req.uri,
      fromNumber,
      toNumber: number?.number ?? null,
      trunkId: trunk?.id ?? null,
      agentId: agent?.id ?? null,
      phoneNumberId: number?.id ?? null,
      workflowId: workflow?.id ?? null,
      workflowVersion: workflow?.version ?? null,
      sipCallId,
    });
    deps.events.append('call.started', { ...scope, callId: r.id }, {
      callId: r.id,
      agentId: agent?.id ?? null,
      direction: route.direction,
      from: { uri: fromUri, number: fromNumber },
      to: { uri: req.uri, number: number?.number ?? null },
      trunkId: trunk?.id ?? null,
      sipCallId,
    });
    return { id: r.id, workflow };
  });
}
