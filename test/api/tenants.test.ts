import test from 'ava';
import { assertError } from '../helpers/envelope.js';
import { login, useApp } from '../helpers/app.js';
import { mintKey, seedTenant, userWithRole, type SeededTenant } from '../helpers/tenant.js';

const r = useApp(test);
/** The super-admin's tenant. */
let home: SeededTenant;
let sa: Record<string, string>;

test.before(async () => {
  await r.ready;
  home = await seedTenant(r.app, { name: 'Operator', superAdmin: true });
  sa = (await login(r, home.ownerEmail, home.ownerPassword)).headers;
});

interface Tenant {
  id: string;
  name: string;
  status: 'active' | 'suspended';
  createdAt: string;
  updatedAt: string;
  owner?: { id: string; email: string; role: string; superAdmin: boolean; tenantId: string };
}

const missing = '00000000-0000-4000-8000-000000000000';
let n = 0;
const newTenant = () => {
  const i = ++n;
  return { name: `Customer ${i}`, owner: { email: `boss${i}@customer.test`, name: 'Boss', password: 'a long enough password' } };
};

test('a super-admin creates a tenant with its owner, who can sign in', async (t) => {
  const body = newTenant();
  const res = await r.req<Tenant>('POST', '/api/v1/tenants', { headers: sa, body });
  t.is(res.status, 201);
  t.like(res.body, { name: body.name, status: 'active' });
  t.like(res.body.owner, { email: body.owner.email, role: 'owner', superAdmin: false, tenantId: res.body.id });
  t.false(JSON.stringify(res.body).includes(body.owner.password));
  const s = await login(r, body.owner.email, body.owner.password);
  const me = await r.req<{ tenantId: string; role: string }>('GET', '/api/v1/auth/me', { headers: s.headers });
  t.like(me.body, { tenantId: res.body.id, role: 'owner' });

  const got = await r.req<Tenant>('GET', `/api/v1/tenants/${res.body.id}`, { headers: sa });
  t.is(got.status, 200);
  const { owner: _o, ...tenant } = res.body;
  t.deepEqual(got.body, tenant);
});

// Serial: the other tests create tenants, which would move the total between the two requests.
test.serial('list pages through every tenant', async (t) => {
  await r.req('POST', '/api/v1/tenants', { headers: sa, body: newTenant() });
  const all = await r.req<{ items: Tenant[]; total: number; limit: number; offset: number }>('GET', '/api/v1/tenants?limit=100', { headers: sa });
  t.is(all.status, 200);
  t.is(all.body.total, r.app.engine.store.tenants.count());
  t.true(all.body.items.some((x) => x.id === home.tenantId));
  const page = await r.req<{ items: Tenant[]; total: number; limit: number; offset: number }>('GET', '/api/v1/tenants?limit=1&offset=1', { headers: sa });
  t.deepEqual(page.body.items, [all.body.items[1]]);
  t.like(page.body, { limit: 1, offset: 1, total: all.body.total });
});

test('validation failures answer the whole envelope', async (t) => {
  assertError(t, await r.req('POST', '/api/v1/tenants', { headers: sa, body: { name: '', owner: { email: 'x', password: 'short' } } }), 'validation_error', 'Invalid request body', [
    { field: 'name', message: 'Too small: expected string to have >=1 characters' },
    { field: 'owner.email', message: 'Invalid email address' },
    { field: 'owner.password', message: 'Too small: expected string to have >=12 characters' },
  ]);
  assertError(t, await r.req('PATCH', `/api/v1/tenants/${home.tenantId}`, { headers: sa, body: { status: 'deleted' } }), 'validation_error', 'Invalid request body', [
    { field: 'status', message: 'Invalid option: expected one of "active"|"suspended"' },
  ]);
});

test('every route answers 401 without credentials', async (t) => {
  for (const [m, p] of [
    ['POST', '/api/v1/tenants'],
    ['GET', '/api/v1/tenants'],
    ['GET', `/api/v1/tenants/${home.tenantId}`],
    ['PATCH', `/api/v1/tenants/${home.tenantId}`],
  ] as const) {
    const res = await r.req(m, p, m === 'POST' || m === 'PATCH' ? { body: {} } : {});
    assertError(t, res, 'authentication_error', 'Missing credentials: send X-API-Key or Authorization: Bearer');
  }
});

test('owners who are not super-admin, and API keys of any role, get authorization_error', async (t) => {
  const other = await seedTenant(r.app);
  const callers = [
    (await login(r, other.ownerEmail, other.ownerPassword)).headers,
    { 'x-api-key': mintKey(r.app, home.tenantId, { role: 'owner' }) },
  ];
  for (const headers of callers) {
    for (const [m, p] of [
      ['POST', '/api/v1/tenants'],
      ['GET', '/api/v1/tenants'],
      ['GET', `/api/v1/tenants/${other.tenantId}`],
      ['PATCH', `/api/v1/tenants/${other.tenantId}`],
    ] as const) {
      const res = await r.req(m, p, { headers, ...(m === 'POST' ? { body: newTenant() } : m === 'PATCH' ? { body: { status: 'suspended' } } : {}) });
      assertError(t, res, 'authorization_error', 'Super-admin only');
    }
  }
  t.is(r.app.engine.store.tenants.get(other.tenantId)!.status, 'active');
});

test('a missing tenant answers not_found', async (t) => {
  assertError(t, await r.req('GET', `/api/v1/tenants/${missing}`, { headers: sa }), 'not_found', 'Tenant not found');
  assertError(t, await r.req('PATCH', `/api/v1/tenants/${missing}`, { headers: sa, body: { name: 'x' } }), 'not_found', 'Tenant not found');
});

test('an owner e-mail already in use answers conflict, and creates nothing', async (t) => {
  const body = { ...newTenant(), owner: { email: home.ownerEmail.toUpperCase(), password: 'a long enough password' } };
  assertError(t, await r.req('POST', '/api/v1/tenants', { headers: sa, body }), 'conflict', 'A user with this email already exists');
  const named = r.app.engine.store.db.prepare('SELECT COUNT(*) AS n FROM tenants WHERE name = ?').get(body.name) as { n: number };
  t.is(named.n, 0);
});

test('suspending a tenant locks out its users and keys at once; reactivating lets them back', async (t) => {
  const tn = await seedTenant(r.app);
  const user = await userWithRole(r.app, tn.tenantId, 'admin');
  const s = await login(r, tn.ownerEmail, tn.ownerPassword);
  t.is((await r.req('GET', '/api/v1/auth/me', { headers: user.headers })).status, 200);

  const res = await r.req<Tenant>('PATCH', `/api/v1/tenants/${tn.tenantId}`, { headers: sa, body: { status: 'suspended', name: 'Renamed' } });
  t.is(res.status, 200);
  t.like(res.body, { id: tn.tenantId, status: 'suspended', name: 'Renamed' });
  t.true(res.body.updatedAt >= res.body.createdAt);

  for (const headers of [tn.headers, user.headers, s.headers]) {
    assertError(t, await r.req('GET', '/api/v1/auth/me', { headers }), 'authentication_error', 'Tenant suspended');
  }
  assertError(t, await r.req('POST', '/api/v1/auth/login', { body: { email: tn.ownerEmail, password: tn.ownerPassword } }), 'authentication_error', 'Tenant suspended');

  t.is((await r.req('PATCH', `/api/v1/tenants/${tn.tenantId}`, { headers: sa, body: { status: 'active' } })).status, 200);
  t.is((await r.req('GET', '/api/v1/auth/me', { headers: tn.headers })).status, 200);
  t.is((await r.req('GET', '/api/v1/auth/me', { headers: s.headers })).status, 200);
});

test('a super-admin cannot suspend their own tenant', async (t) => {
  assertError(t, await r.req('PATCH', `/api/v1/tenants/${home.tenantId}`, { headers: sa, body: { status: 'suspended' } }), 'conflict', 'A super-admin cannot suspend their own tenant');
  t.is(r.app.engine.store.tenants.get(home.tenantId)!.status, 'active');
});

test('a super-admin deletes a tenant with everything it owns; never its own, nor one with a call in progress', async (t) => {
  const created = await r.req<Tenant>('POST', '/api/v1/tenants', { headers: sa, body: newTenant() });
  const id = created.body.id;
  const key = { 'x-api-key': mintKey(r.app, id, {}) };
  const agent = await r.req<{ id: string }>('POST', '/api/v1/agents', { headers: key, body: { name: 'A', config: { prompt: { system: 'x' } } } });
  t.is(agent.status, 201);
  const calls = r.app.engine.store.calls;
  const call = calls.create({ tenantId: id, mode: 'live', direction: 'inbound' });

  const owner = await seedTenant(r.app);
  assertError(t, await r.req('DELETE', `/api/v1/tenants/${id}`, { headers: owner.headers }), 'authorization_error', 'Super-admin only');
  assertError(t, await r.req('DELETE', `/api/v1/tenants/${home.tenantId}`, { headers: sa }), 'conflict', 'A super-admin cannot delete their own tenant');
  assertError(t, await r.req('DELETE', `/api/v1/tenants/${id}`, { headers: sa }), 'conflict', 'The tenant has 1 call(s) in progress: suspend it and retry when they have ended');

  calls.end(call.id, { reason: 'caller_hangup' });
  const del = await r.req('DELETE', `/api/v1/tenants/${id}`, { headers: sa });
  t.is(del.status, 204);
  assertError(t, await r.req('GET', `/api/v1/tenants/${id}`, { headers: sa }), 'not_found', 'Tenant not found');
  t.is(calls.getById(call.id), undefined, 'its calls went with it');
  t.is((await r.req('GET', '/api/v1/agents', { headers: key })).status, 401, 'its keys no longer authenticate');
  assertError(t, await r.req('DELETE', `/api/v1/tenants/${id}`, { headers: sa }), 'not_found', 'Tenant not found');
});
