/**
 * Which codec a browser's call to an agent asks for (codec-choice.ts), on a real SQLite store:
 * Opus for an agent that keeps the call; G.711 for one that can transfer (a transfer tool, a
 * workflow with a transfer node or with a transfer tool), for a `websocket` agent, for a workflow
 * that is gone, and without an agent.
 */
import path from 'node:path';
import test from 'ava';
import { createLogger } from '../../../config/logger.js';
import { agentCodecPreference } from '../../../engine/calls/codec-choice.js';
import type { WorkflowGraph } from '../../../engine/agents/workflow-graph.js';
import { closeDatabase, openDatabase } from '../../../engine/store/database.js';
import { Store } from '../../../engine/store/store.js';
import { tempDir } from '../../helpers/config.js';

const log = createLogger({ level: 'silent', pretty: false });

test('Opus for an agent that keeps the call, G.711 for every agent that may be bridged to a phone', (t) => {
  const db = openDatabase(path.join(tempDir(), 'codec-choice.db'), log);
  t.teardown(() => closeDatabase(db));
  const store = new Store(db);
  const tenant = store.tenants.create({ name: 'acme' });
  const scope = { tenantId: tenant.id, mode: 'live' as const };
  const params = { type: 'object' as const, properties: {} };
  const transferTool = store.tools.create(scope, { name: 'transfer', parameters: params, action: { type: 'builtin', name: 'transfer' } });
  const hangupTool = store.tools.create(scope, { name: 'hangup', parameters: params, action: { type: 'builtin', name: 'hangup' } });
  const graph = (middle: WorkflowGraph['nodes'][number]): WorkflowGraph =>
    middle.kind === 'transfer'
      ? { nodes: [{ id: 'start', kind: 'start' }, middle], edges: [{ from: 'start', to: 'middle' }] }
      : { nodes: [{ id: 'start', kind: 'start' }, middle, { id: 'end', kind: 'hangup' }], edges: [{ from: 'start', to: 'middle' }, { from: 'middle', to: 'end' }] };
  const flow = (middle: WorkflowGraph['nodes'][number]) => {
    const w = store.workflows.create(scope, { name: `wf-${middle.kind}-${Math.random()}`, graph: graph(middle) });
    // A graph that does not read back would give G.711 for the wrong reason.
    t.notThrows(() => store.workflows.versionById(w.id, w.version), `${middle.kind}: the graph reads back`);
    return { id: w.id, version: w.version };
  };
  const agent = (config: object) => store.agents.create(scope, { name: `a-${Math.random()}`, config: config as never });
  const pick = (config: object, workflow: { id: string; version: number } | null = null) => agentCodecPreference(store, scope, agent(config), workflow);

  const cases: [string, string, string][] = [
    ['a greeting', pick({ firstMessage: 'Hello' }), 'opus'],
    ['an echo agent (nothing to run)', pick({}), 'opus'],
    ['tools that cannot transfer', pick({ firstMessage: 'Hi', toolIds: [hangupTool.id] }), 'opus'],
    ['a workflow without a transfer', pick({}, flow({ id: 'middle', kind: 'say', text: 'Hi' })), 'opus'],
    ['a transfer tool', pick({ firstMessage: 'Hi', toolIds: [hangupTool.id, transferTool.id] }), 'g711'],
    ['a workflow with a transfer node', pick({}, flow({ id: 'middle', kind: 'transfer', target: '+4930123456' })), 'g711'],
    ['a workflow calling a transfer tool', pick({}, flow({ id: 'middle', kind: 'tool', toolId: transferTool.id } as never)), 'g711'],
    ['a websocket agent', pick({ kind: 'websocket', websocket: { url: 'ws://127.0.0.1:1/agent' } }), 'g711'],
    ['a workflow that is gone', pick({}, { id: '00000000-0000-4000-8000-000000000000', version: 1 }), 'g711'],
    ['no agent', agentCodecPreference(store, scope, null, null), 'g711'],
  ];
  for (const [what, got, want] of cases) t.is(got, want, what);
});
