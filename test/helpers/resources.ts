/**
 * Test fixtures for the resource API: a JSON client bound to a server and credentials, one
 * object of each kind created through the real repositories, calls written through the same
 * call-control functions the engine uses, and events inserted into the real event log.
 */
import { randomUUID } from 'node:crypto';
import type { App } from '../../api/app.js';
import type { WorkflowGraph } from '../../engine/agents/workflow-graph.js';
import type { CallEnd, NewCall } from '../../engine/calls/call-record.js';
import type { Scope } from '../../engine/store/repositories/scoped.js';
import { request, type JsonResponse } from './http.js';

/** The error envelope, for whole-body assertions. */
export const envelope = (code: string, message: string, details: { field: string; message: string }[] = []) => ({
  error: { code, message, details },
});

/** Response bodies in tests: whatever the server sent, asserted field by field. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = any;

/** A JSON client for one base URL and one set of credentials. */
export function client(app: App, headers: Record<string, string>) {
  const base = `http://127.0.0.1:${app.http.port}`;
  const call = (method: string, path: string, body?: unknown): Promise<JsonResponse<Body>> =>
    request<Body>(base, method, path, { headers, body });
  return {
    get: (path: string) => call('GET', path),
    post: (path: string, body: unknown) => call('POST', path, body),
    patch: (path: string, body: unknown) => call('PATCH', path, body),
    del: (path: string) => call('DELETE', path),
    call,
  };
}
export type Client = ReturnType<typeof client>;

/** start → say → hangup, optionally with a tool node in the middle. */
export function simpleGraph(toolId?: string): WorkflowGraph {
  const nodes: WorkflowGraph['nodes'] = [
    { id: 'start', kind: 'start' },
    { id: 'hello', kind: 'say', text: 'Hello {{name}}' },
    ...(toolId ? [{ id: 'lookup', kind: 'tool' as const, toolId }] : []),
    { id: 'bye', kind: 'hangup' },
  ];
  const edges = nodes.slice(1).map((n, i) => ({ from: nodes[i]!.id, to: n.id }));
  return { nodes, edges };
}

let numbers = 0;
/** A number no other test uses (numbers are unique across the installation). */
export const freshNumber = () => `+1555${String(Date.now() % 1_000_000).padStart(6, '0')}${String(++numbers).padStart(3, '0')}`;

export interface Seeded {
  agentId: string;
  workflowId: string;
  toolId: string;
  numberId: string;
  trunkId: string;
  callId: string;
  providerId: string;
  /** A row only: its file is not written (enough for access checks). */
  audioFileId: string;
  sipUserId: string;
}

/** One object of each kind in `scope`, through the repositories. */
export function seedObjects(app: App, scope: Scope): Seeded {
  const s = app.engine.store;
  const tool = s.tools.create(scope, {
    name: `lookup_${++numbers}`,
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    action: { type: 'builtin', name: 'hangup' },
  });
  const workflow = s.workflows.create(scope, { name: 'Menu', graph: simpleGraph(tool.id) });
  const agent = s.agents.create(scope, { name: 'Receptionist', config: { prompt: { system: 'Be brief.' }, toolIds: [tool.id] } });
  const trunk = s.sipTrunks.create(scope, { name: 'Carrier', inbound: { allowlist: ['192.0.2.0/24'], username: null, password: null } });
  const number = s.phoneNumbers.create(scope, { number: freshNumber(), agentId: agent.id, trunkId: trunk.id });
  const call = s.calls.create({ tenantId: scope.tenantId, mode: scope.mode, direction: 'inbound', agentId: agent.id, fromNumber: '+15550001111' });
  const provider = s.providers.create(scope, { name: `llm_${numbers}`, kind: 'openai', apiKey: 'sk-seeded' });
  const sound = s.audioFiles.create(scope, { name: `sound_${numbers}`, durationMs: 1000, bytes: 16044, source: { encoding: 'pcm16', sampleRate: 8000, channels: 1 } }, randomUUID());
  const sipUser = s.sipUsers.create(scope, { username: `user${numbers}`, password: 'seeded-secret', displayName: null });
  return { agentId: agent.id, workflowId: workflow.id, toolId: tool.id, numberId: number.id, trunkId: trunk.id, callId: call.id, providerId: provider.id, audioFileId: sound.id, sipUserId: sipUser.id };
}

/**
 * A call with the given history, written the way call control writes it: create, then
 * markAnswered and end when those times are given.
 */
export function recordCall(
  app: App,
  call: NewCall & { startedAt: string },
  life: { answeredAt?: string; end?: CallEnd } = {},
): string {
  const calls = app.engine.store.calls;
  const { id } = calls.create(call);
  if (life.answeredAt) calls.markAnswered(id, life.answeredAt);
  if (life.end) calls.end(id, life.end);
  return id;
}

/** An event in the real event log. */
export function insertEvent(app: App, scope: Scope, callId: string, type: string, data: unknown): number {
  const r = app.engine.db
    .prepare('INSERT INTO events (tenant_id, mode, type, call_id, data) VALUES (?, ?, ?, ?, ?)')
    .run(scope.tenantId, scope.mode, type, callId, JSON.stringify(data));
  return Number(r.lastInsertRowid);
}

/** `base` + `seconds` as ISO text. */
export const at = (base: string, seconds: number) => new Date(Date.parse(base) + seconds * 1000).toISOString();
