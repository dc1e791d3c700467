/**
 * Runs a workflow graph on a live call: from `start`, each node does its work through the
 * `WorkflowHost` (the agent session) and names the edge to follow. The graph was validated when
 * saved (one start, every edge resolves, the right edges out of each kind), so a missing edge
 * here simply ends the workflow. A graph that loops without waiting for the caller is stopped
 * after `MAX_VISITS` nodes (logged as an error), never spins the event loop.
 */
import { evaluate, parseExpression } from '../expression.js';
import type { WorkflowGraph, WorkflowNode } from '../workflow-graph.js';
import { render, renderDeep, type Vars } from './variables.js';

/** What the workflow asks of the call. */
export interface WorkflowHost {
  readonly vars: Vars;
  readonly signal: AbortSignal;
  /** Records the node as the next step of the path taken (and its timeline event). */
  enter(node: WorkflowNode): void;
  say(text: string, interruptible: boolean): Promise<void>;
  /** Plays a stored audio file; a missing one is a fault, and the workflow goes on. */
  play(audioFileId: string, interruptible: boolean): Promise<void>;
  /** Says `prompt` (if any), then waits for DTMF and/or speech; null when nothing came in time. */
  gather(node: Extract<WorkflowNode, { kind: 'gather' }>, prompt: string | null): Promise<string | null>;
  /** An LLM conversation step; resolves when it ends (exit condition, max turns, no LLM). */
  converse(node: Extract<WorkflowNode, { kind: 'llm' }>): Promise<void>;
  /** Runs a tool; the result (or null when it failed: the host has spoken a fallback). */
  runTool(toolId: string, args: Record<string, unknown>): Promise<{ ok: boolean; result: unknown }>;
  /** Blind transfer; false when it failed (the host has said so). */
  transfer(target: string): Promise<boolean>;
  /** The workflow is over: hang up (after what is queued has been said). */
  hangup(reason: string | null): Promise<void>;
  /** A defect in the workflow's run (not the caller's doing). */
  fault(code: string, message: string): void;
}

/** Nodes one call may visit: a phone menu repeats, but not a thousand times. */
const MAX_VISITS = 1000;

/** Which edge to leave by: the only one, or the `when: true` / `when: false` one; 'end' stops. */
type Exit = 'next' | boolean | 'end';

export async function runWorkflow(graph: WorkflowGraph, host: WorkflowHost): Promise<void> {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const out = new Map<string, { to: string; when?: boolean }[]>();
  for (const e of graph.edges) out.set(e.from, [...(out.get(e.from) ?? []), e]);
  let node: WorkflowNode | undefined = graph.nodes.find((n) => n.kind === 'start');
  let visits = 0;
  while (node && !host.signal.aborted) {
    if (++visits > MAX_VISITS) {
      host.fault('workflow_loop', `the workflow visited ${MAX_VISITS} nodes; stopped`);
      break;
    }
    host.enter(node);
    const exit = await step(node, host);
    if (exit === 'end' || host.signal.aborted) return;
    const edges: { to: string; when?: boolean }[] = out.get(node.id) ?? [];
    // A boolean exit takes its `when` edge; a gather without a no-input edge has only one.
    const edge: { to: string } | undefined = exit === 'next' || edges.every((e) => e.when === undefined) ? edges[0] : edges.find((e) => e.when === exit);
    node = edge ? byId.get(edge.to) : undefined;
    // A graph of branches and variables alone never waits: let the call's other work run.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (!host.signal.aborted) await host.hangup(null);
}

async function step(node: WorkflowNode, host: WorkflowHost): Promise<Exit> {
  const vars = host.vars;
  switch (node.kind) {
    case 'start':
      return 'next';
    case 'say':
      await host.say(render(node.text, vars), node.interruptible ?? true);
      return 'next';
    case 'play':
      await host.play(node.audioFileId, node.interruptible ?? true);
      return 'next';
    case 'gather': {
      const retries = node.retries ?? 0;
      for (let attempt = 0; attempt <= retries; attempt++) {
        if (attempt > 0 && node.noInputText) await host.say(render(node.noInputText, vars), true);
        const input = await host.gather(node, node.prompt ? render(node.prompt, vars) : null);
        if (host.signal.aborted) return 'end';
        if (input !== null) {
          vars[node.variable] = input;
          return true;
        }
      }
      vars[node.variable] = null;
      return false;
    }
    case 'llm':
      await host.converse(node);
      return 'next';
    case 'tool': {
      const args = renderDeep(node.arguments ?? {}, vars) as Record<string, unknown>;
      const r = await host.runTool(node.toolId, args);
      if (node.resultVariable) vars[node.resultVariable] = r.ok ? r.result : null;
      return 'next';
    }
    case 'branch': {
      try {
        return Boolean(evaluate(parseExpression(node.condition), vars));
      } catch (err) {
        host.fault('branch_condition', `node ${node.id}: ${(err as Error).message}`);
        return false;
      }
    }
    case 'set_variable':
      vars[node.variable] = typeof node.value === 'string' ? render(node.value, vars) : node.value;
      return 'next';
    case 'transfer': {
      if (node.announce) await host.say(render(node.announce, vars), false);
      const done = await host.transfer(node.target);
      if (!done && !host.signal.aborted) await host.hangup('transfer failed');
      return 'end';
    }
    case 'hangup':
      await host.hangup(node.reason ?? null);
      return 'end';
  }
}
