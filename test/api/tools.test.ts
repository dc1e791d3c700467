import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import { testConfig, testLogger } from '../helpers/config.js';
import { freePort } from '../helpers/engine-process.js';
import { waitFor } from '../helpers/http.js';
import { client, envelope, seedObjects, type Client, type Seeded } from '../helpers/resources.js';
import { seedTenant, userWithRole } from '../helpers/tenant.js';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  raw: string;
}

let app: App;
let admin: Client;
let member: Client;
let o: Seeded;
let hook: http.Server;
let hookUrl: string;
const received: Received[] = [];

test.before(async () => {
  const config = testConfig();
  app = await startApp(config, testLogger(config));
  const t1 = await seedTenant(app);
  admin = client(app, t1.headers);
  member = client(app, (await userWithRole(app, t1.tenantId, 'member')).headers);
  o = seedObjects(app, { tenantId: t1.tenantId, mode: 'live' });
  // A real webhook receiver: records each request, answers by path.
  hook = http.createServer((req, res) => {
    const got: Received = { method: req.method!, url: req.url!, headers: req.headers, raw: '' };
    received.push(got);
    req.on('data', (c: Buffer) => (got.raw += c.toString()));
    req.on('end', () => {
      if (req.url === '/slow') return; // never answers
      if (req.url === '/fail') {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('try later');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-weather': 'sunny' }).end(JSON.stringify({ forecast: 'sunny', got: JSON.parse(got.raw) }));
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}`;
});
test.after.always(async () => {
  hook?.closeAllConnections();
  hook?.close();
  await app?.close();
});

const weatherParams = {
  type: 'object',
  properties: {
    city: { type: 'string', minLength: 2, description: 'City name' },
    days: { type: 'integer', minimum: 1, maximum: 7 },
    units: { enum: ['metric', 'imperial'] },
  },
  required: ['city'],
  additionalProperties: false,
};
const SECRET = 'whsec_0123456789abcdef';

const createWebhookTool = (name: string, path: string, extra: Record<string, unknown> = {}) =>
  member.post('/api/v1/tools', {
    name,
    description: 'Weather for a city',
    parameters: weatherParams,
    action: { type: 'webhook', url: `${hookUrl}${path}`, headers: { 'X-Team': 'ops' }, secret: SECRET, ...extra },
  });

const receivedAt = (path: string) => received.filter((r) => r.url === path);

test('create answers the tool without its secret; reads and lists agree', async (t) => {
  const res = await createWebhookTool('get_weather', '/weather');
  t.is(res.status, 201);
  const { id, createdAt, updatedAt } = res.body;
  t.deepEqual(res.body, {
    id,
    mode: 'live',
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: weatherParams,
    action: { type: 'webhook', url: `${hookUrl}/weather`, method: 'POST', headers: { 'X-Team': 'ops' }, timeoutMs: 5000, hasSecret: true },
    createdAt,
    updatedAt,
  });
  t.false(JSON.stringify(res.body).includes(SECRET));
  t.deepEqual((await admin.get(`/api/v1/tools/${id}`)).body, res.body);
  const list = await admin.get('/api/v1/tools?type=webhook');
  t.deepEqual(list.body.items.find((x: { id: string }) => x.id === id), res.body);
  t.false(JSON.stringify(list.body).includes(SECRET));
  t.false((await admin.get('/api/v1/tools?type=builtin')).body.items.some((x: { id: string }) => x.id === id));
});

test('names are unique per tenant and mode: conflict', async (t) => {
  t.is((await createWebhookTool('dup_tool', '/weather')).status, 201);
  const again = await createWebhookTool('dup_tool', '/weather');
  t.is(again.status, 409);
  t.deepEqual(again.body, envelope('conflict', 'A tool named "dup_tool" already exists'));
  const other = await createWebhookTool('dup_tool_2', '/weather');
  const rename = await admin.patch(`/api/v1/tools/${other.body.id}`, { name: 'dup_tool' });
  t.deepEqual(rename.body, envelope('conflict', 'A tool named "dup_tool" already exists'));
});

test('parameters must be a plausible JSON Schema object; actions are validated', async (t) => {
  const res = await admin.post('/api/v1/tools', {
    name: '9lives',
    parameters: { type: 'object', properties: { a: { type: 'strng' }, b: { type: 'array', items: { minItems: -1 } } } },
    action: { type: 'webhook', url: 'mailto:x@example.com', method: 'DELETE', timeoutMs: 60000, headers: { 'X-AgentStudio-Signature': 'forged' }, secret: 'short' },
  });
  t.is(res.status, 422);
  t.deepEqual(res.body, envelope('validation_error', 'Invalid request body', [
    { field: 'name', message: 'Must start with a letter, then up to 63 letters, digits, _ or -' },
    { field: 'parameters.properties.a.type', message: 'Must be string, number, integer, boolean, object, array or null, or a list of them' },
    { field: 'parameters.properties.b.items.minItems', message: 'Too small: expected number to be >=0' },
    { field: 'action.url', message: 'Must be an http or https URL' },
    { field: 'action.method', message: 'Invalid option: expected one of "POST"|"PUT"|"PATCH"' },
    { field: 'action.headers.X-AgentStudio-Signature', message: 'Set by Agent Studio; cannot be overridden' },
    { field: 'action.timeoutMs', message: 'Too big: expected number to be <=30000' },
    { field: 'action.secret', message: 'Too small: expected string to have >=16 characters' },
  ]));
  const notObject = await admin.post('/api/v1/tools', { name: 'x', parameters: { type: 'string' }, action: { type: 'builtin', name: 'hangup' } });
  t.deepEqual(notObject.body.error.details, [{ field: 'parameters.type', message: 'Tool parameters must be a JSON Schema with "type": "object"' }]);
  const unknownBuiltin = await admin.post('/api/v1/tools', { name: 'x', action: { type: 'builtin', name: 'teleport' } });
  t.deepEqual(unknownBuiltin.body.error.details, [
    { field: 'action.name', message: 'Invalid option: expected one of "transfer"|"hangup"|"send_dtmf"|"end_call"' },
  ]);
  const bounds = await admin.post('/api/v1/tools', {
    name: 'x',
    parameters: { type: 'object', properties: { a: { type: 'string', minLength: 5, maxLength: 2 } }, required: ['a', 'b'] },
    action: { type: 'builtin', name: 'hangup' },
  });
  t.deepEqual(bounds.body.error.details, [
    { field: 'parameters.properties.a.minLength', message: 'Greater than maxLength' },
    { field: 'parameters.required[1]', message: '"b" is not declared in properties' },
  ]);
});

test('the test action POSTs the arguments, signed with HMAC-SHA256, and returns the answer', async (t) => {
  const tool = await createWebhookTool('weather_signed', '/weather');
  const before = Math.floor(Date.now() / 1000);
  const res = await member.post(`/api/v1/tools/${tool.body.id}/test`, { arguments: { city: 'Lyon', days: 3 } });
  t.is(res.status, 200);
  const [req] = receivedAt('/weather').filter((r) => r.raw.includes('weather_signed'));
  t.truthy(req, 'the webhook was called');
  t.is(req!.method, 'POST');
  t.is(req!.headers['content-type'], 'application/json');
  t.is(req!.headers['x-team'], 'ops');
  const timestamp = req!.headers['x-agentstudio-timestamp'] as string;
  t.true(Number(timestamp) >= before && Number(timestamp) <= before + 5);
  const expected = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${req!.raw}`).digest('hex')}`;
  t.is(req!.headers['x-agentstudio-signature'], expected, 'the receiver can verify the HMAC over "<timestamp>.<body>"');
  const sent = JSON.parse(req!.raw);
  t.deepEqual(sent, { tool: 'weather_signed', arguments: { city: 'Lyon', days: 3 }, callId: null, timestamp: Number(timestamp) });

  const { durationMs, headers, ...rest } = res.body;
  t.deepEqual(rest, { type: 'webhook', ok: true, status: 200, body: { forecast: 'sunny', got: sent }, truncated: false, error: null });
  t.is(headers['x-weather'], 'sunny');
  t.true(Number.isInteger(durationMs) && durationMs >= 0 && durationMs < 5000);
});

test('a webhook without a secret is not signed; a secret is kept on update unless removed', async (t) => {
  const tool = await createWebhookTool('weather_keep', '/weather');
  const id = tool.body.id;
  const moved = await admin.patch(`/api/v1/tools/${id}`, { action: { type: 'webhook', url: `${hookUrl}/weather?v=2` } });
  t.like(moved.body.action, { url: `${hookUrl}/weather?v=2`, hasSecret: true, headers: {} });
  await admin.post(`/api/v1/tools/${id}/test`, { arguments: { city: 'Oslo' } });
  const signed = receivedAt('/weather?v=2').at(-1)!;
  const ts = signed.headers['x-agentstudio-timestamp'] as string;
  t.is(signed.headers['x-agentstudio-signature'], `sha256=${createHmac('sha256', SECRET).update(`${ts}.${signed.raw}`).digest('hex')}`);

  const cleared = await admin.patch(`/api/v1/tools/${id}`, { action: { type: 'webhook', url: `${hookUrl}/weather?v=3`, secret: null } });
  t.is(cleared.body.action.hasSecret, false);
  await admin.post(`/api/v1/tools/${id}/test`, { arguments: { city: 'Oslo' } });
  const unsigned = receivedAt('/weather?v=3').at(-1)!;
  t.is(unsigned.headers['x-agentstudio-signature'], undefined);
  t.truthy(unsigned.headers['x-agentstudio-timestamp']);
});

test('arguments are checked against the JSON Schema before anything is sent', async (t) => {
  const tool = await createWebhookTool('weather_strict', '/strict');
  const res = await admin.post(`/api/v1/tools/${tool.body.id}/test`, { arguments: { days: 9.5, units: 'kelvin', extra: 1 } });
  t.is(res.status, 422);
  t.deepEqual(res.body, envelope('validation_error', 'Invalid request body', [
    { field: 'arguments.city', message: 'Field is required' },
    { field: 'arguments.days', message: 'Expected integer, received number' },
    { field: 'arguments.units', message: 'Must be one of ["metric","imperial"]' },
    { field: 'arguments.extra', message: 'Not a declared property' },
  ]));
  const short = await admin.post(`/api/v1/tools/${tool.body.id}/test`, { arguments: { city: 'X', days: 0 } });
  t.deepEqual(short.body.error.details, [
    { field: 'arguments.city', message: 'Must be at least 2 characters' },
    { field: 'arguments.days', message: 'Must be at least 1' },
  ]);
  t.is(receivedAt('/strict').length, 0);
});

test('the timeout is honoured: a webhook that never answers ends as a timeout', async (t) => {
  // 1 s: long enough for the request to reach the server on a loaded machine before it times out.
  const tool = await createWebhookTool('weather_slow', '/slow', { timeoutMs: 1000 });
  const started = Date.now();
  const res = await admin.post(`/api/v1/tools/${tool.body.id}/test`, { arguments: { city: 'Rome' } });
  const elapsed = Date.now() - started;
  t.is(res.status, 200);
  t.like(res.body, { type: 'webhook', ok: false, status: null, headers: null, body: null, error: { code: 'timeout', message: 'No response within 1000 ms' } });
  t.true(res.body.durationMs >= 990 && res.body.durationMs < 3000, String(res.body.durationMs));
  t.true(elapsed < 3500, `answered after ${elapsed} ms`);
  // The receiver runs in this process: on a busy loop its 'request' event can come after the
  // tool's timeout has answered the test.
  await waitFor(() => receivedAt('/slow').length > 0, 2000).catch(() => undefined);
  t.is(receivedAt('/slow').length, 1, 'the request did reach the server');
});

test('connection refused and non-2xx answers are reported, not thrown', async (t) => {
  const port = await freePort();
  const refused = await admin.post('/api/v1/tools', { name: 'nobody_home', action: { type: 'webhook', url: `http://127.0.0.1:${port}/x` } });
  const r1 = await admin.post(`/api/v1/tools/${refused.body.id}/test`, {});
  t.is(r1.status, 200);
  t.like(r1.body, { ok: false, status: null, error: { code: 'connection_refused', message: 'Connection refused' } });

  const failing = await createWebhookTool('weather_down', '/fail');
  const r2 = await admin.post(`/api/v1/tools/${failing.body.id}/test`, { arguments: { city: 'Bern' } });
  t.like(r2.body, { type: 'webhook', ok: false, status: 503, body: 'try later', error: null });
});

test('a built-in answers with what it would do', async (t) => {
  const tool = await member.post('/api/v1/tools', {
    name: 'press_keys',
    parameters: { type: 'object', properties: { digits: { type: 'string', pattern: '^[0-9*#]+$' } }, required: ['digits'] },
    action: { type: 'builtin', name: 'send_dtmf' },
  });
  t.is(tool.status, 201);
  t.deepEqual(tool.body.action, { type: 'builtin', name: 'send_dtmf' });
  const res = await member.post(`/api/v1/tools/${tool.body.id}/test`, { arguments: { digits: '12#' } });
  t.deepEqual(res.body, {
    type: 'builtin',
    ok: true,
    name: 'send_dtmf',
    description: 'Sends the digits in the "digits" argument as RFC 4733 telephone events',
  });
  const bad = await member.post(`/api/v1/tools/${tool.body.id}/test`, { arguments: { digits: 'abc' } });
  t.deepEqual(bad.body.error.details, [{ field: 'arguments.digits', message: 'Must match ^[0-9*#]+$' }]);
});

test('update and delete; a tool in use by an agent or a workflow cannot be deleted', async (t) => {
  const tool = await createWebhookTool('weather_tmp', '/weather');
  const upd = await member.patch(`/api/v1/tools/${tool.body.id}`, { description: 'Now with wind', parameters: { type: 'object', properties: {} } });
  t.is(upd.status, 200);
  t.like(upd.body, { description: 'Now with wind', parameters: { type: 'object', properties: {} }, name: 'weather_tmp' });
  t.is(upd.body.action.hasSecret, true);
  t.is((await member.del(`/api/v1/tools/${tool.body.id}`)).status, 204);
  t.is((await member.get(`/api/v1/tools/${tool.body.id}`)).status, 404);

  const used = await admin.del(`/api/v1/tools/${o.toolId}`);
  t.is(used.status, 409);
  t.deepEqual(used.body, envelope('conflict', `Tool is used by agent ${o.agentId}, workflow ${o.workflowId}`));
});
