/**
 * Which codec a browser's call to an agent asks for (issue 10). Opus sounds better and the agent
 * path decodes it in Node anyway; but mediasoup forwards, it does not transcode, so a leg that
 * may later be bridged to a phone (a transfer: phones speak G.711) must speak G.711 from the
 * start. An agent that can transfer, or whose behaviour we cannot see (a `websocket` agent may
 * ask for a transfer at any time), gets G.711; every other agent's call gets Opus.
 */
import type { CodecPreference } from '../../media/sdp/types.js';
import { graphToolRefs } from '../agents/workflow-graph.js';
import type { Agent } from '../store/repositories/agents.js';
import type { Store } from '../store/store.js';

/**
 * The codec preference of a browser leg for a call run by `agent` with `workflow` (the version
 * the call was recorded with, null for none).
 */
export function agentCodecPreference(
  store: Store,
  scope: { tenantId: string; mode: Agent['mode'] },
  agent: Agent | null,
  workflow: { id: string; version: number } | null,
): CodecPreference {
  try {
    return keepsCall(store, scope, agent, workflow) ? 'opus' : 'g711';
  } catch {
    // A stored row that does not read: G.711, the safe side; the agent runtime reports the row.
    return 'g711';
  }
}

function keepsCall(store: Store, scope: { tenantId: string; mode: Agent['mode'] }, agent: Agent | null, workflow: { id: string; version: number } | null): boolean {
  if (!agent || agent.config.kind === 'websocket') return false;
  const version = workflow ? store.workflows.versionById(workflow.id, workflow.version) : undefined;
  if (workflow && !version) return false;
  if (version?.graph.nodes.some((n) => n.kind === 'transfer')) return false;
  const toolIds = new Set([...(agent.config.toolIds ?? []), ...(version ? graphToolRefs(version.graph).map((r) => r.toolId) : [])]);
  for (const id of toolIds) {
    const action = store.tools.get(scope, id)?.action;
    if (action?.type === 'builtin' && action.name === 'transfer') return false;
  }
  return true;
}
