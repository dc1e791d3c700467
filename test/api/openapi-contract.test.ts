/**
 * The OpenAPI document is the contract: it must match the mounted routes (both ways), list every
 * error each operation really returns, use only codes of the error table, and equal the committed
 * docs/openapi.json (run `npm run openapi` after changing a route).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { errorCodes, errorTable, type ErrorCode } from '../../api/http/errors.js';
import { routeErrors } from '../../api/openapi.js';
import { useApp, login } from '../helpers/app.js';
import { mintKey, seedTenant, type SeededTenant } from '../helpers/tenant.js';

const r = useApp(test);

interface Operation {
  operationId: string;
  responses: Record<string, { description: string; content?: Record<string, unknown> }>;
  security: Record<string, string[]>[];
  requestBody?: unknown;
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { properties?: { error?: { properties?: { code?: { enum?: string[] } } } } }> };
}

let doc: Doc;
let t1: SeededTenant;
let superAdmin: Record<string, string>;

test.before(async () => {
  await r.ready;
  doc = (await r.req<Doc>('GET', '/openapi.json')).body;
  t1 = await seedTenant(r.app, { superAdmin: true });
  superAdmin = (await login(r, t1.ownerEmail, t1.ownerPassword)).headers;
});

const operations = () =>
  Object.entries(doc.paths).flatMap(([p, ops]) => Object.entries(ops).map(([method, op]) => ({ method, path: p, op })));

const toDocPath = (p: string) => p.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
const concrete = (p: string) => p.replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000');

test('the committed docs/openapi.json is the served document (run `npm run openapi` to update it)', (t) => {
  const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/openapi.json');
  const committed = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  t.deepEqual(doc, committed, 'docs/openapi.json is stale: run `npm run openapi`');
});

test('every visible route is documented, and the document has nothing else', (t) => {
  const routes = r.app.routes.filter((x) => !x.hidden);
  const fromRoutes = routes.map((x) => `${x.method} ${toDocPath(x.path)} ${x.operationId}`).sort();
  const fromDoc = operations().map((o) => `${o.method} ${o.path} ${o.op.operationId}`).sort();
  t.deepEqual(fromDoc, fromRoutes);
  t.true(fromDoc.length >= 20);
  const ids = fromDoc.map((x) => x.split(' ')[2]);
  t.is(new Set(ids).size, ids.length, 'operationIds are unique');
});

test('every documented operation is mounted (the router does not answer "no route" or 405)', async (t) => {
  for (const { method, path: p } of operations()) {
    const res = await r.req<{ error?: { code: string; message: string } }>(method.toUpperCase(), concrete(p), {
      ...(method === 'get' || method === 'delete' ? {} : { body: {} }),
    });
    t.not(res.status, 405, `${method} ${p}`);
    t.false(res.status === 404 && /^No route for/.test(res.body.error?.message ?? ''), `${method} ${p} is mounted`);
  }
});

test('every error code in the document is in the error table, with its status', (t) => {
  const schemaCodes = doc.components.schemas.Error!.properties!.error!.properties!.code!.enum!;
  t.deepEqual([...schemaCodes].sort(), [...errorCodes].sort());
  for (const { method, path: p, op } of operations()) {
    for (const [status, response] of Object.entries(op.responses)) {
      if (Number(status) < 400) continue;
      for (const code of response.description.split('; ')) {
        t.true(code in errorTable, `${method} ${p} ${status}: ${code} is in the table`);
        t.is(String(errorTable[code as ErrorCode]?.status), status, `${method} ${p}: ${code} is ${status}`);
      }
      t.deepEqual(response.content, { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } });
    }
  }
});

test('each route documents what routeErrors derives for it, and its security', (t) => {
  for (const route of r.app.routes.filter((x) => !x.hidden)) {
    const op = doc.paths[toDocPath(route.path)]![route.method]!;
    for (const code of routeErrors(route)) {
      const response = op.responses[String(errorTable[code].status)];
      t.truthy(response && response.description.split('; ').includes(code), `${route.operationId} lists ${code}`);
    }
    t.deepEqual(op.security, route.auth === false ? [] : [{ bearerAuth: [] }, { apiKeyAuth: [] }], route.operationId);
  }
});

/**
 * Probes each operation the ways a client can get it wrong, and checks that every answer is
 * documented for that operation, code included. A route that returns an undocumented error fails.
 */
test('every error an operation really returns is documented for it', async (t) => {
  const seen = new Map<string, Set<string>>();
  const check = (label: string, op: Operation, status: number, body: unknown) => {
    const documented = op.responses[String(status)];
    t.truthy(documented, `${label}: status ${status} is documented (${JSON.stringify(body)})`);
    if (status >= 400 && documented) {
      const code = (body as { error?: { code?: string } }).error?.code ?? '';
      t.true(documented.description.split('; ').includes(code), `${label}: ${code} is documented for ${status}`);
    }
    (seen.get(op.operationId) ?? seen.set(op.operationId, new Set()).get(op.operationId)!).add(String(status));
  };
  for (const { method, path: p, op } of operations()) {
    const m = method.toUpperCase();
    const hasBody = Boolean(op.requestBody);
    const url = concrete(p);
    const probes: { name: string; headers?: Record<string, string>; body?: unknown; raw?: string; url?: string }[] = [
      { name: 'no credentials', ...(hasBody ? { body: {} } : {}) },
      { name: 'a test viewer key', headers: { 'x-api-key': mintKey(r.app, t1.tenantId, { role: 'viewer', mode: 'test' }) }, ...(hasBody ? { body: {} } : {}) },
      { name: 'a super-admin, an empty body', headers: superAdmin, ...(hasBody ? { body: {} } : {}) },
      { name: 'an owner key, a bad query', headers: { 'x-api-key': mintKey(r.app, t1.tenantId, { role: 'owner' }) }, url: `${url}?limit=0`, ...(hasBody ? { body: {} } : {}) },
    ];
    if (hasBody) {
      const headers = { 'x-api-key': mintKey(r.app, t1.tenantId, { role: 'owner' }), 'content-type': 'application/json' };
      probes.push({ name: 'malformed JSON', headers, raw: '{' });
      probes.push({ name: 'a text body', headers: { ...headers, 'content-type': 'text/plain' }, raw: 'hello' });
      probes.push({ name: 'an oversized body', headers, raw: JSON.stringify({ x: 'y'.repeat(r.config.http.maxBodyBytes) }) });
    }
    for (const probe of probes) {
      const res = await r.req(m, probe.url ?? url, { headers: probe.headers, body: probe.body, raw: probe.raw });
      check(`${m} ${p} with ${probe.name}`, op, res.status, res.body);
    }
    if (op.security.length) {
      const limited = { 'x-api-key': mintKey(r.app, t1.tenantId, { role: 'owner', rateLimit: 1 }) };
      await r.req(m, url, { headers: limited, ...(hasBody ? { body: {} } : {}) });
      const res = await r.req(m, url, { headers: limited, ...(hasBody ? { body: {} } : {}) });
      t.is(res.status, 429);
      check(`${m} ${p} over its rate limit`, op, res.status, res.body);
    }
  }
  // The probes did reach the errors they aim at (else this test proves little).
  t.true(seen.get('createApiKey')!.has('422') && seen.get('createApiKey')!.has('413') && seen.get('createApiKey')!.has('415'));
  t.true(seen.get('listTenants')!.has('403') && seen.get('getTenant')!.has('404'));
  t.true(seen.get('getMe')!.has('401') && seen.get('getMe')!.has('429'));
});
