/**
 * The agent runtime's entry for call control: what an answered call runs (its plan, read from
 * the store when the call starts: the agent's config, the workflow version the call was recorded
 * with, the tools they use), and the session that runs it on the call's leg.
 */
import type { Logger } from '../../../config/logger.js';
import type { CallLeg } from '../../../media/call-leg.js';
import type { Call } from '../../calls/call.js';
import type { Recordings } from '../../calls/recordings.js';
import { untilAborted } from '../../calls/call-steps.js';
import type { EventLog } from '../../events/event-log.js';
import type { Agent } from '../../store/repositories/agents.js';
import type { Tool } from '../../store/repositories/tools.js';
import type { Store } from '../../store/store.js';
import type { Scope } from '../../store/repositories/scoped.js';
import { graphAudioFileRefs, graphToolRefs } from '../workflow-graph.js';
import type { AudioFiles } from '../audio-files.js';
import { AgentSession, runtimeDefaults, type AgentPlan, type AgentProviders, type SessionDeps } from './session.js';
import type { CallFacts } from './variables.js';
import { ExternalAgentSession, type ExternalDeps, type ExternalPlan } from '../external/external-session.js';

/** What an answered call runs: the built-in agent's plan, or an external agent's socket. */
export type RuntimePlan = AgentPlan | ExternalPlan;

export interface AgentRuntimeOptions {
  store: Store;
  events: EventLog;
  log: Logger;
  /** The providers of a tenant's calls (its credentials, the offline defaults). */
  providers(scope: Scope): AgentProviders;
  sendDtmf?: SessionDeps['sendDtmf'];
  transfer?: SessionDeps['transfer'];
  /** Where the calls of agents with `recording: true` are recorded. */
  recordings?: Recordings;
  /** The stored audio files workflows' play nodes play. */
  audioFiles?: AudioFiles;
  /** Bounds of external (`websocket`) agents' sockets; the defaults of external/protocol.ts otherwise. */
  externalLimits?: ExternalDeps['limits'];
}

export class AgentRuntime {
  constructor(private readonly o: AgentRuntimeOptions) {}

  /**
   * What the call's agent (`agent`, as the call read it when it was routed or placed) runs, or
   * null when it has nothing to run: no greeting, no workflow and no LLM (such an agent echoes
   * the caller, a media check). An agent of kind `websocket` runs as an external agent over its
   * socket.
   */
  plan(call: Call, agent: Agent | null, workflow: { id: string; version: number } | null, facts: CallFacts, direction: 'inbound' | 'outbound' = 'inbound'): RuntimePlan | null {
    const { store } = this.o;
    const scope = { tenantId: call.identity.tenantId, mode: call.identity.mode };
    if (!agent) return null;
    const config = agent.config;
    if (config.kind === 'websocket' && config.websocket) return { kind: 'external', config, websocket: config.websocket, facts, direction };
    const version = workflow ? store.workflows.versionById(workflow.id, workflow.version) : undefined;
    if (!config.firstMessage && !version && !config.llm) return null;
    const ids = new Set([...(config.toolIds ?? []), ...(version ? graphToolRefs(version.graph).map((r) => r.toolId) : [])]);
    const tools = new Map<string, Tool>();
    for (const id of ids) {
      const t = store.tools.get(scope, id);
      if (t) tools.set(id, t);
    }
    const audioFiles = new Map<string, { name: string }>();
    for (const { audioFileId } of version ? graphAudioFileRefs(version.graph) : []) {
      const a = store.audioFiles.get(scope, audioFileId);
      if (a) audioFiles.set(audioFileId, { name: a.name });
    }
    return { config, workflow: version ? { id: version.workflowId, version: version.version, graph: version.graph } : null, tools, audioFiles, facts };
  }

  /** Opens the leg's audio and starts the agent once media flows (the caller's RTP has latched). */
  async start(call: Call, leg: CallLeg, plan: RuntimePlan): Promise<AgentSession | ExternalAgentSession> {
    const audio = await untilAborted(leg.openAudio(), call.signal, (a) => a.close());
    try {
      await untilAborted(leg.whenActive(), call.signal);
    } catch (err) {
      audio.close();
      throw err;
    }
    if (plan.config.recording) this.o.recordings?.start(call, audio, plan.config.timeouts?.maxDurationMs ?? runtimeDefaults.maxDurationMs);
    const { store, events } = this.o;
    if ('kind' in plan) {
      const deps: ExternalDeps = {
        store,
        events,
        ...(this.o.sendDtmf ? { sendDtmf: this.o.sendDtmf } : {}),
        ...(this.o.transfer ? { transfer: this.o.transfer } : {}),
        ...(this.o.externalLimits ? { limits: this.o.externalLimits } : {}),
      };
      return ExternalAgentSession.start(deps, call, plan, audio);
    }
    const deps: SessionDeps = {
      store,
      events,
      providers: this.o.providers({ tenantId: call.identity.tenantId, mode: call.identity.mode }),
      ...(this.o.sendDtmf ? { sendDtmf: this.o.sendDtmf } : {}),
      ...(this.o.transfer ? { transfer: this.o.transfer } : {}),
      ...(this.o.audioFiles ? { audioFiles: this.o.audioFiles } : {}),
    };
    return AgentSession.start(deps, call, plan, audio);
  }
}
