/**
 * A workflow is a graph: nodes (steps of a call) joined by edges. Each node kind has its own
 * schema; `graphIssues` checks the structure (one start, unique ids, edges resolve, every node
 * reachable, the right edges out of each kind). The schema runs it, so a stored graph is always
 * a valid one. Whether tool and audio file ids exist is a question for the store, asked by the caller.
 *
 * Execution: from `start`, follow the single outgoing edge of each node; a `branch` follows its
 * `when: true` or `when: false` edge; a `gather` may have the same pair (input came / nothing
 * came, its no-input branch) or a single edge; `transfer` and `hangup` end the workflow, as does
 * a node with no outgoing edge.
 */
import { z } from 'zod';
import { languageTag, variableName } from './agent-config.js';
import { ExpressionError, parseExpression } from './expression.js';

const nodeId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'Must be 1–64 letters, digits, _ or -');

const base = {
  id: nodeId,
  name: z.string().max(200).optional().meta({ description: 'Label shown in the editor' }),
  position: z.strictObject({ x: z.number(), y: z.number() }).optional().meta({ description: 'Editor layout' }),
};

const startNode = z.strictObject({ ...base, kind: z.literal('start') }).meta({ id: 'StartNode' });

const sayNode = z
  .strictObject({
    ...base,
    kind: z.literal('say'),
    text: z.string().min(1).max(5000).meta({ description: 'Spoken text; {{variable}} is replaced' }),
    interruptible: z.boolean().optional(),
  })
  .meta({ id: 'SayNode' });

const playNode = z
  .strictObject({
    ...base,
    kind: z.literal('play'),
    audioFileId: z.uuid().meta({ description: 'A stored audio file of the tenant (POST /audio-files)' }),
    interruptible: z.boolean().optional().meta({ description: 'The caller may cut it short (barge-in, a key press); default true' }),
  })
  .meta({ id: 'PlayNode' });

const gatherNode = z
  .strictObject({
    ...base,
    kind: z.literal('gather'),
    prompt: z.string().min(1).max(5000).optional().meta({ description: 'Said before listening' }),
    dtmf: z
      .strictObject({
        maxDigits: z.number().int().min(1).max(64),
        finishOnKey: z.enum(['#', '*']).optional(),
        interDigitTimeoutMs: z.number().int().min(500).max(30_000).optional(),
      })
      .optional(),
    speech: z
      .strictObject({
        language: languageTag.optional().meta({
          description: 'Not applied per gather in this version: the call has one transcriber, in the agent’s transcriber (or agent) language',
        }),
        endSilenceMs: z.number().int().min(200).max(10_000).optional().meta({
          description: 'Not applied per gather in this version: the transcriber’s own end-of-speech detection decides (600 ms)',
        }),
        hints: z.array(z.string().min(1).max(100)).max(100).optional().meta({
          description: 'Words likely to be said; the hints of all the workflow’s gathers go to the transcriber when the call starts',
        }),
      })
      .optional(),
    timeoutMs: z.number().int().min(1000).max(120_000).meta({ description: 'Give up when nothing comes for this long' }),
    retries: z.number().int().min(0).max(5).optional().meta({
      description: 'Times the prompt is said again when nothing comes (default 0); then the no-input edge is taken',
    }),
    noInputText: z.string().min(1).max(5000).optional().meta({ description: 'Said before each retry (default: nothing)' }),
    variable: variableName.meta({ description: 'Receives the digits or the transcript (null when nothing came)' }),
  })
  .refine((n) => n.dtmf || n.speech, { message: 'Needs dtmf, speech or both', path: ['dtmf'] })
  .meta({ id: 'GatherNode' });

const llmNode = z
  .strictObject({
    ...base,
    kind: z.literal('llm'),
    prompt: z.string().min(1).max(100_000).optional().meta({ description: 'Instructions for this part of the call' }),
    maxTurns: z.number().int().min(1).max(200).optional(),
    exitWhen: z.string().min(1).max(1000).optional().meta({ description: 'When the conversation step is done' }),
  })
  .meta({ id: 'LlmNode' });

const toolNode = z
  .strictObject({
    ...base,
    kind: z.literal('tool'),
    toolId: z.string().min(1),
    arguments: z.record(z.string(), z.unknown()).optional().meta({ description: 'Values may use {{variable}}' }),
    resultVariable: variableName.optional(),
  })
  .meta({ id: 'ToolNode' });

const branchNode = z
  .strictObject({
    ...base,
    kind: z.literal('branch'),
    condition: z.string().min(1).max(1000).meta({ description: 'e.g. digits == 1 && customer.tier == "gold"' }),
  })
  .meta({ id: 'BranchNode' });

const setVariableNode = z
  .strictObject({
    ...base,
    kind: z.literal('set_variable'),
    variable: variableName,
    value: z.union([z.string().max(10_000), z.number(), z.boolean(), z.null()]),
  })
  .meta({ id: 'SetVariableNode' });

/** E.164, or a sip:/sips: URI. */
const transferTarget = z
  .string()
  .regex(/^(\+\d{8,15}|sips?:[^\s]+)$/, 'Must be an E.164 number (+ and 8–15 digits) or a sip: URI');

const transferNode = z
  .strictObject({ ...base, kind: z.literal('transfer'), target: transferTarget, announce: z.string().max(5000).optional() })
  .meta({ id: 'TransferNode' });

const hangupNode = z
  .strictObject({ ...base, kind: z.literal('hangup'), reason: z.string().max(200).optional() })
  .meta({ id: 'HangupNode' });

const workflowNodeSchema = z
  .discriminatedUnion('kind', [startNode, sayNode, playNode, gatherNode, llmNode, toolNode, branchNode, setVariableNode, transferNode, hangupNode])
  .meta({ id: 'WorkflowNode' });
type WorkflowNode = z.infer<typeof workflowNodeSchema>;

const workflowEdgeSchema = z
  .strictObject({
    from: z.string(),
    to: z.string(),
    when: z.boolean().optional().meta({
      description: 'On edges leaving a branch: taken when the condition is true / false; leaving a gather: input came / nothing came',
    }),
  })
  .meta({ id: 'WorkflowEdge' });
type WorkflowEdge = z.infer<typeof workflowEdgeSchema>;

/** Enough for any phone menu; a bound keeps validation and storage cheap. */
const MAX_NODES = 500;
const MAX_EDGES = 2000;

const graphShape = z.strictObject({
  nodes: z.array(workflowNodeSchema).min(1).max(MAX_NODES),
  edges: z.array(workflowEdgeSchema).max(MAX_EDGES),
});
export type WorkflowGraph = z.infer<typeof graphShape>;
export type { WorkflowNode, WorkflowEdge };

/** A problem in a graph, at a path inside it (`['nodes', 3, 'id']`). */
interface GraphIssue {
  path: (string | number)[];
  message: string;
}

const terminal = new Set<WorkflowNode['kind']>(['transfer', 'hangup']);

/** Structural problems of a graph whose nodes and edges are each well-formed; [] when valid. */
function graphIssues(g: WorkflowGraph): GraphIssue[] {
  const issues: GraphIssue[] = [];
  const index = new Map<string, number>();
  g.nodes.forEach((n, i) => {
    const first = index.get(n.id);
    if (first === undefined) index.set(n.id, i);
    else issues.push({ path: ['nodes', i, 'id'], message: `Duplicate node id "${n.id}" (first used by nodes[${first}])` });
  });

  const starts = g.nodes.flatMap((n, i) => (n.kind === 'start' ? [i] : []));
  if (starts.length === 0) issues.push({ path: ['nodes'], message: 'Exactly one start node is required; found none' });
  for (const i of starts.slice(1)) {
    issues.push({ path: ['nodes', i, 'kind'], message: `Only one start node is allowed; nodes[${starts[0]}] is already one` });
  }

  const out = new Map<number, { edge: WorkflowEdge; at: number }[]>();
  g.edges.forEach((edge, at) => {
    const from = index.get(edge.from);
    if (from === undefined) issues.push({ path: ['edges', at, 'from'], message: `Unknown node "${edge.from}"` });
    if (!index.has(edge.to)) issues.push({ path: ['edges', at, 'to'], message: `Unknown node "${edge.to}"` });
    if (from === undefined) return;
    if (edge.when !== undefined && g.nodes[from]!.kind !== 'branch' && g.nodes[from]!.kind !== 'gather') {
      issues.push({ path: ['edges', at, 'when'], message: 'Only edges leaving a branch or gather node carry "when"' });
    }
    out.set(from, [...(out.get(from) ?? []), { edge, at }]);
  });

  g.nodes.forEach((n, i) => issues.push(...outgoingIssues(n, i, out.get(i) ?? [])));

  if (starts.length === 1) {
    const reached = new Set<number>([starts[0]!]);
    const queue = [starts[0]!];
    while (queue.length) {
      for (const { edge } of out.get(queue.pop()!) ?? []) {
        const to = index.get(edge.to);
        if (to !== undefined && !reached.has(to)) {
          reached.add(to);
          queue.push(to);
        }
      }
    }
    g.nodes.forEach((n, i) => {
      if (!reached.has(i) && index.get(n.id) === i) {
        issues.push({ path: ['nodes', i], message: `Node "${n.id}" is not reachable from the start node` });
      }
    });
  }
  return issues;
}

/** What each kind demands of the edges leaving it, and a branch's condition syntax. */
function outgoingIssues(n: WorkflowNode, i: number, edges: { edge: WorkflowEdge; at: number }[]): GraphIssue[] {
  const at = ['nodes', i];
  if (n.kind === 'gather' && edges.some((e) => e.edge.when !== undefined)) {
    const yes = edges.filter((e) => e.edge.when === true).length;
    const no = edges.filter((e) => e.edge.when === false).length;
    if (yes !== 1 || no !== 1 || edges.length !== 2) {
      return [{ path: at, message: 'A gather with a no-input edge needs exactly two: "when": true (input came) and "when": false (nothing came)' }];
    }
    return [];
  }
  if (n.kind === 'branch') {
    const issues: GraphIssue[] = [];
    try {
      parseExpression(n.condition);
    } catch (e) {
      if (!(e instanceof ExpressionError)) throw e;
      issues.push({ path: [...at, 'condition'], message: e.message });
    }
    const yes = edges.filter((e) => e.edge.when === true).length;
    const no = edges.filter((e) => e.edge.when === false).length;
    if (yes !== 1 || no !== 1 || edges.length !== 2) {
      issues.push({ path: at, message: 'A branch needs exactly two outgoing edges: one with "when": true, one with "when": false' });
    }
    return issues;
  }
  if (terminal.has(n.kind) && edges.length > 0) {
    return [{ path: ['edges', edges[0]!.at], message: `A ${n.kind} node ends the workflow; it cannot have outgoing edges` }];
  }
  if (n.kind === 'start' && edges.length !== 1) return [{ path: at, message: 'The start node needs exactly one outgoing edge' }];
  if (edges.length > 1) {
    return [{ path: ['edges', edges[1]!.at], message: `Node "${n.id}" already has an outgoing edge; only a branch has two` }];
  }
  return [];
}

/**
 * A graph, well-formed and structurally valid. The structure is checked only once every node
 * and edge is well-formed (zod would otherwise run the check on a half-parsed graph).
 */
export const workflowGraphSchema = graphShape
  .superRefine(
    (g, ctx) => {
      for (const issue of graphIssues(g)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    },
    { when: (payload) => payload.issues.length === 0 },
  )
  .meta({ id: 'WorkflowGraph' });

/** Tool ids a graph's tool nodes use, with the path of each. */
export function graphToolRefs(g: WorkflowGraph): { toolId: string; path: (string | number)[] }[] {
  return g.nodes.flatMap((n, i) => (n.kind === 'tool' ? [{ toolId: n.toolId, path: ['nodes', i, 'toolId'] }] : []));
}

/** Audio file ids a graph's play nodes use, with the path of each. */
export function graphAudioFileRefs(g: WorkflowGraph): { audioFileId: string; path: (string | number)[] }[] {
  return g.nodes.flatMap((n, i) => (n.kind === 'play' ? [{ audioFileId: n.audioFileId, path: ['nodes', i, 'audioFileId'] }] : []));
}
