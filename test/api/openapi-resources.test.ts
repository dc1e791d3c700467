import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import { testConfig, testLogger } from '../helpers/config.js';
import { request } from '../helpers/http.js';

let app: App;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let doc: any;

test.before(async () => {
  const config = testConfig();
  app = await startApp(config, testLogger(config));
  doc = (await request(`http://127.0.0.1:${app.http.port}`, 'GET', '/openapi.json')).body;
});
test.after.always(() => app?.close());

const resources = [
  ['agents', 'Agent'],
  ['workflows', 'Workflow'],
  ['tools', 'Tool'],
  ['phone-numbers', 'PhoneNumber'],
  ['sip-trunks', 'SipTrunk'],
] as const;

test('each resource documents list, get, create (201, Idempotency-Key), update and delete (204)', (t) => {
  for (const [path, name] of resources) {
    const many = doc.paths[`/api/v1/${path}`];
    const one = doc.paths[`/api/v1/${path}/{id}`];
    t.is(many.get.responses['200'].content['application/json'].schema.$ref, `#/components/schemas/${name}Page`, path);
    t.deepEqual(many.get.parameters.slice(0, 4).map((p: { name: string }) => p.name), ['limit', 'offset', 'from', 'to']);
    t.is(many.post.responses['201'].content['application/json'].schema.$ref, `#/components/schemas/${name}`);
    t.true(many.post.parameters.some((p: { name: string }) => p.name === 'Idempotency-Key'), path);
    t.is(many.post.requestBody.content['application/json'].schema.$ref, `#/components/schemas/${name}Create`);
    t.is(one.get.responses['200'].content['application/json'].schema.$ref, `#/components/schemas/${name}`);
    t.is(one.patch.requestBody.content['application/json'].schema.$ref, `#/components/schemas/${name}Update`);
    t.is(one.delete.responses['204'].description, 'No content');
    t.is(one.delete.responses['204'].content, undefined, 'a 204 has no body');
    for (const op of [many.get, one.get, many.post, one.patch, one.delete]) {
      t.truthy(op.responses['401'] && op.responses['403'] && op.responses['500'], `${path} documents auth errors`);
    }
    t.truthy(one.get.responses['404']);
  }
  t.truthy(doc.paths['/api/v1/tools'].post.responses['409'], 'tool names conflict');
  t.truthy(doc.paths['/api/v1/phone-numbers'].post.responses['409'], 'numbers conflict');
  t.truthy(doc.paths['/api/v1/workflows/{id}'].delete.responses['409'], 'a workflow in use');
});

test('calls, workflow versions, the tool test and analytics are documented with named schemas', (t) => {
  const ref = (path: string, method = 'get') => doc.paths[path][method].responses['200'].content['application/json'].schema.$ref;
  t.is(ref('/api/v1/calls'), '#/components/schemas/CallPage');
  t.is(ref('/api/v1/calls/{id}'), '#/components/schemas/Call');
  t.is(ref('/api/v1/calls/{id}/events'), '#/components/schemas/CallEventPage');
  t.is(ref('/api/v1/workflows/{id}/versions'), '#/components/schemas/WorkflowVersionPage');
  t.is(ref('/api/v1/workflows/{id}/versions/{version}'), '#/components/schemas/WorkflowVersion');
  t.is(ref('/api/v1/tools/{id}/test', 'post'), '#/components/schemas/ToolTestResult');
  // Not CallMetrics: that is a call's own metrics (per-turn arrays); the two once shared the id.
  t.is(ref('/api/v1/analytics/metrics'), '#/components/schemas/CallAnalytics');
  t.truthy(doc.components.schemas.CallAnalytics.properties.turnStagesMs);
  t.is(doc.components.schemas.CallMetrics.properties.turns.type, 'array');
  t.is(ref('/api/v1/analytics/statistics'), '#/components/schemas/CallStatisticsPage');
  t.is(ref('/api/v1/analytics/errors'), '#/components/schemas/ErrorLogPage');
  for (const name of ['AgentConfig', 'WorkflowGraph', 'WorkflowNode', 'GatherNode', 'BranchNode', 'WorkflowEdge', 'JsonSchema', 'WebhookAction', 'BuiltinAction', 'PrefixRules', 'TranscriptEntry', 'RtpStats']) {
    t.truthy(doc.components.schemas[name], name);
  }
});

/**
 * Secrets answered once, by the request that creates them (as `ApiKeyCreated.key` is), and never
 * read back: a webhook's signing secret; a browser's short-lived SIP password (`POST /calls/web`,
 * kept in memory only, never listed).
 */
const shownOnce = new Set(['WebhookCreated.secret', 'WebCall.password']);

test('no response schema can carry a secret or a password (but a create answer showing its new secret once)', (t) => {
  const seen = new Set<string>();
  const walk = (schema: unknown, where: string): void => {
    if (!schema || typeof schema !== 'object') return;
    const s = schema as Record<string, unknown>;
    if (typeof s.$ref === 'string') {
      const name = s.$ref.split('/').pop()!;
      if (seen.has(name)) return;
      seen.add(name);
      return walk(doc.components.schemas[name], name);
    }
    const props = (s.properties ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(props)) t.false(/^(secret|password)$/i.test(key) && !shownOnce.has(`${where}.${key}`), `${where}.${key}`);
    for (const v of Object.values(s)) if (v && typeof v === 'object') walk(v, where);
  };
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>)) {
    for (const op of Object.values(item)) {
      const ok = op.responses['200'] ?? op.responses['201'];
      walk(ok, path);
    }
  }
  t.true(seen.has('SipTrunk') && seen.has('Tool'));
});
