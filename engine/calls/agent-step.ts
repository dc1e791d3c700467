/**
 * The agent step, the last of every answered call, inbound or outbound (the one step both run):
 * the agent's workflow, LLM conversation or greeting, on the leg's audio.
 */
import type { Logger } from '../../config/logger.js';
import type { CallLeg } from '../../media/call-leg.js';
import type { AgentRuntime } from '../agents/runtime/runtime.js';
import type { CallFacts } from '../agents/runtime/variables.js';
import type { Agent } from '../store/repositories/agents.js';
import type { Store } from '../store/store.js';
import type { Call } from './call.js';
import { StepAborted, type CallStep, type StepContext } from './call-steps.js';

export type CallScope = { tenantId: string; mode: Call['identity']['mode']; callId: string };

/** What the agent step needs of a call's context. */
export interface AgentStepContext extends StepContext {
  deps: { store: Store; agents?: AgentRuntime };
  log: Logger;
  scope: CallScope;
  leg?: CallLeg;
  /**
   * The call's agent as read once, when the call was routed (inbound) or placed (outbound); null
   * when it had none or it was gone. Every step reads this one: a call runs one agent config.
   */
  agent: Agent | null;
  /** The workflow version the call was recorded with (the agent's when the call was created). */
  workflow: { id: string; version: number } | null;
  /** What the call brings to the agent's variables. */
  facts: CallFacts;
  /** Who called: the far end (inbound) or the engine (outbound); an external agent is told. */
  direction: 'inbound' | 'outbound';
}

/**
 * An agent with nothing to run (no greeting, workflow or LLM) echoes the far end through
 * mediasoup, a media check. A call we cannot feed would be an answered call of silence: end it
 * instead.
 */
export const agentStep: CallStep<AgentStepContext> = {
  name: 'agent',
  needs: ['answered', 'leg'],
  async run(ctx, signal) {
    const { call, deps, log } = ctx;
    const leg = ctx.leg!;
    const fail = (err: unknown) => {
      if (signal.aborted || err instanceof StepAborted) return;
      log.error({ err }, 'media feed failed');
      deps.store.errorLogs.record({ ...ctx.scope, kind: 'media', message: `media feed failed: ${(err as Error).message}`, details: { sipCallId: call.identity.sipCallId } });
      call.hangup('media_error');
    };
    const plan = deps.agents?.plan(call, ctx.agent, ctx.workflow, ctx.facts, ctx.direction) ?? null;
    if (!plan || !deps.agents) {
      leg.echo().catch(fail);
      return;
    }
    await deps.agents.start(call, leg, plan).catch(fail);
  },
};
