import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import { testConfig, testLogger } from '../helpers/config.js';
import { client, envelope, seedObjects, simpleGraph, type Client, type Seeded } from '../helpers/resources.js';
import { seedTenant, userWithRole } from '../helpers/tenant.js';

let app: App;
let admin: Client;
let member: Client;
let o: Seeded;

test.before(async () => {
  const config = testConfig();
  app = await startApp(config, testLogger(config));
  const t1 = await seedTenant(app);
  admin = client(app, t1.headers);
  member = client(app, (await userWithRole(app, t1.tenantId, 'member')).headers);
  o = seedObjects(app, { tenantId: t1.tenantId, mode: 'live' });
});
test.after.always(() => app?.close());

/** A phone menu using every node kind. */
const menu = (toolId: string) => ({
  nodes: [
    { id: 'start', kind: 'start' },
    { id: 'greet', kind: 'say', text: 'Welcome to {{clinic}}.', interruptible: true },
    { id: 'ask', kind: 'gather', prompt: 'Press 1 for bookings, or say what you need.', dtmf: { maxDigits: 1, finishOnKey: '#' }, speech: { language: 'en-US' }, timeoutMs: 5000, variable: 'choice' },
    { id: 'route', kind: 'branch', condition: 'choice == 1 || choice == "bookings"' },
    { id: 'mark', kind: 'set_variable', variable: 'intent', value: 'booking' },
    { id: 'book', kind: 'tool', toolId, arguments: { city: '{{city}}' }, resultVariable: 'slot' },
    { id: 'chat', kind: 'llm', prompt: 'Help the caller.', maxTurns: 10, exitWhen: 'the caller is done' },
    { id: 'human', kind: 'transfer', target: '+15557654321' },
    { id: 'bye', kind: 'hangup', reason: 'done' },
  ],
  edges: [
    { from: 'start', to: 'greet' },
    { from: 'greet', to: 'ask' },
    { from: 'ask', to: 'route' },
    { from: 'route', to: 'mark', when: true },
    { from: 'route', to: 'chat', when: false },
    { from: 'mark', to: 'book' },
    { from: 'book', to: 'bye' },
    { from: 'chat', to: 'human' },
  ],
});

test('create, read, update (new version), list versions, read an old version, delete', async (t) => {
  const created = await member.post('/api/v1/workflows', { name: 'Main menu', description: 'Front line', graph: menu(o.toolId) });
  t.is(created.status, 201);
  const { id, createdAt, updatedAt } = created.body;
  t.deepEqual(created.body, { id, mode: 'live', name: 'Main menu', description: 'Front line', version: 1, graph: menu(o.toolId), createdAt, updatedAt });
  t.deepEqual((await admin.get(`/api/v1/workflows/${id}`)).body, created.body);

  const renamed = await admin.patch(`/api/v1/workflows/${id}`, { name: 'Menu' });
  t.is(renamed.body.version, 1, 'a rename is not a new version');
  const same = await admin.patch(`/api/v1/workflows/${id}`, { graph: menu(o.toolId) });
  t.is(same.body.version, 1, 'the same graph again is not a new version');

  const g2 = menu(o.toolId);
  g2.nodes[1] = { id: 'greet', kind: 'say', text: 'Hi!', interruptible: false };
  const v2 = await member.patch(`/api/v1/workflows/${id}`, { graph: g2 });
  t.is(v2.status, 200);
  t.like(v2.body, { version: 2, name: 'Menu' });
  t.deepEqual(v2.body.graph, g2);
  const v3 = await member.patch(`/api/v1/workflows/${id}`, { graph: simpleGraph() });
  t.is(v3.body.version, 3);

  const versions = await admin.get(`/api/v1/workflows/${id}/versions?limit=2`);
  t.is(versions.status, 200);
  t.like(versions.body, { total: 3, limit: 2, offset: 0 });
  t.deepEqual(versions.body.items.map((v: { version: number; workflowId: string }) => [v.workflowId, v.version]), [[id, 3], [id, 2]]);
  const v1 = await admin.get(`/api/v1/workflows/${id}/versions/1`);
  t.deepEqual(v1.body, { workflowId: id, version: 1, graph: menu(o.toolId), createdAt });
  t.is((await admin.get(`/api/v1/workflows/${id}/versions/4`)).status, 404);

  const list = await admin.get('/api/v1/workflows?limit=100');
  const row = list.body.items.find((w: { id: string }) => w.id === id);
  t.like(row, { name: 'Menu', version: 3 });
  t.false('graph' in row, 'lists leave the graph out');

  t.is((await member.del(`/api/v1/workflows/${id}`)).status, 204);
  t.is((await admin.get(`/api/v1/workflows/${id}`)).status, 404);
  t.is((await admin.get(`/api/v1/workflows/${id}/versions/1`)).status, 404);
});

const invalid = (details: { field: string; message: string }[]) => envelope('validation_error', 'Invalid request body', details);
const post = (graph: unknown) => admin.post('/api/v1/workflows', { name: 'Bad', graph });

test('a graph without a start node is refused', async (t) => {
  const res = await post({ nodes: [{ id: 'a', kind: 'say', text: 'hi' }], edges: [] });
  t.is(res.status, 422);
  t.deepEqual(res.body, {
    error: {
      code: 'validation_error',
      message: 'Invalid request body',
      details: [
        { field: 'graph.nodes', message: 'Exactly one start node is required; found none' },
      ],
    },
  });
});

test('two start nodes: the second is pointed at', async (t) => {
  const res = await post({
    nodes: [{ id: 's1', kind: 'start' }, { id: 's2', kind: 'start' }, { id: 'h', kind: 'hangup' }],
    edges: [{ from: 's1', to: 'h' }, { from: 's2', to: 'h' }],
  });
  t.deepEqual(res.body, invalid([
    { field: 'graph.nodes[1].kind', message: 'Only one start node is allowed; nodes[0] is already one' },
  ]));
});

test('a dangling edge, a duplicate id and an unreachable node each point at their place', async (t) => {
  const res = await post({
    nodes: [
      { id: 'start', kind: 'start' },
      { id: 'a', kind: 'say', text: 'one' },
      { id: 'island', kind: 'say', text: 'never said' },
      { id: 'a', kind: 'hangup' },
    ],
    edges: [{ from: 'start', to: 'a' }, { from: 'a', to: 'nowhere' }, { from: 'ghost', to: 'a' }],
  });
  t.deepEqual(res.body, invalid([
    { field: 'graph.nodes[3].id', message: 'Duplicate node id "a" (first used by nodes[1])' },
    { field: 'graph.edges[1].to', message: 'Unknown node "nowhere"' },
    { field: 'graph.edges[2].from', message: 'Unknown node "ghost"' },
    { field: 'graph.nodes[2]', message: 'Node "island" is not reachable from the start node' },
  ]));
});

test('an unknown node kind is named with the kinds that exist', async (t) => {
  const res = await post({ nodes: [{ id: 'start', kind: 'start' }, { id: 'x', kind: 'dance' }], edges: [{ from: 'start', to: 'x' }] });
  t.deepEqual(res.body, invalid([
    {
      field: 'graph.nodes[1].kind',
      message: "Invalid discriminator value. Expected 'start' | 'say' | 'play' | 'gather' | 'llm' | 'tool' | 'branch' | 'set_variable' | 'transfer' | 'hangup'",
    },
  ]));
});

test("a tool node with a tool the tenant does not have is refused", async (t) => {
  const other = await seedTenant(app);
  const foreign = seedObjects(app, { tenantId: other.tenantId, mode: 'live' });
  const graph = simpleGraph(foreign.toolId);
  const res = await post(graph);
  t.deepEqual(res.body, invalid([{ field: 'graph.nodes[2].toolId', message: `Tool ${foreign.toolId} not found` }]));
  const upd = await admin.patch(`/api/v1/workflows/${o.workflowId}`, { graph });
  t.deepEqual(upd.body, res.body);
});

test('each node kind has its own schema, and branches need a valid condition and two edges', async (t) => {
  const res = await post({
    nodes: [
      { id: 'start', kind: 'start' },
      { id: 'g', kind: 'gather', timeoutMs: 5000, variable: 'digits' },
      { id: 'b', kind: 'branch', condition: 'digits == == 1' },
      { id: 't', kind: 'transfer', target: 'the manager' },
      { id: 'v', kind: 'set_variable', variable: '1bad', value: 'x' },
      { id: 'h', kind: 'hangup', volume: 11 },
    ],
    edges: [],
  });
  t.deepEqual(res.body.error.details, [
    { field: 'graph.nodes[1].dtmf', message: 'Needs dtmf, speech or both' },
    { field: 'graph.nodes[3].target', message: 'Must be an E.164 number (+ and 8–15 digits) or a sip: URI' },
    { field: 'graph.nodes[4].variable', message: 'Must be a letter or _ followed by up to 63 letters, digits or _' },
    { field: 'graph.nodes[5].volume', message: 'Unknown field' },
  ], 'structure is checked only once every node is well-formed');
  const branch = await post({
    nodes: [{ id: 'start', kind: 'start' }, { id: 'b', kind: 'branch', condition: 'digits == == 1' }, { id: 'h', kind: 'hangup' }],
    edges: [{ from: 'start', to: 'b' }, { from: 'b', to: 'h', when: true }, { from: 'start', to: 'h', when: false }],
  });
  t.deepEqual(branch.body.error.details, [
    { field: 'graph.edges[2].when', message: 'Only edges leaving a branch or gather node carry "when"' },
    { field: 'graph.nodes[0]', message: 'The start node needs exactly one outgoing edge' },
    { field: 'graph.nodes[1].condition', message: 'Expected a value, a variable or "(", found "==" at position 10' },
    { field: 'graph.nodes[1]', message: 'A branch needs exactly two outgoing edges: one with "when": true, one with "when": false' },
  ]);
  const terminal = await post({ nodes: [{ id: 'start', kind: 'start' }, { id: 'h', kind: 'hangup' }, { id: 's', kind: 'say', text: 'x' }], edges: [{ from: 'start', to: 'h' }, { from: 'h', to: 's' }] });
  t.deepEqual(terminal.body.error.details, [{ field: 'graph.edges[1]', message: 'A hangup node ends the workflow; it cannot have outgoing edges' }]);
});

test('a workflow an agent runs cannot be deleted', async (t) => {
  app.engine.store.agents.update({ tenantId: (await admin.get('/api/v1/auth/me')).body.tenantId, mode: 'live' }, o.agentId, {
    config: { prompt: { system: 'x' }, workflowId: o.workflowId },
  });
  const res = await admin.del(`/api/v1/workflows/${o.workflowId}`);
  t.is(res.status, 409);
  t.deepEqual(res.body, envelope('conflict', `Workflow is used by agent(s) ${o.agentId}`));
  t.is((await admin.get(`/api/v1/workflows/${o.workflowId}`)).status, 200);
});
