import { createHash, randomUUID } from 'node:crypto';
import test from 'ava';
import { assertError } from '../helpers/envelope.js';
import { useApp } from '../helpers/app.js';
import { mintKey, seedTenant, userWithRole, type SeededTenant } from '../helpers/tenant.js';

const r = useApp(test);
let t1: SeededTenant;

test.before(async () => {
  await r.ready;
  t1 = await seedTenant(r.app);
});

const db = () => r.app.engine.store.db;
const keysNamed = (name: string) => (db().prepare('SELECT COUNT(*) AS n FROM api_keys WHERE name = ?').get(name) as { n: number }).n;
const caller = (opts: Parameters<typeof mintKey>[2] = {}) => ({ 'x-api-key': mintKey(r.app, t1.tenantId, opts) });
const create = (headers: Record<string, string>, idem: string | undefined, body: unknown, raw?: string) =>
  r.req<{ id: string; key: string; name: string }>('POST', '/api/v1/api-keys', {
    headers: { ...headers, ...(idem === undefined ? {} : { 'idempotency-key': idem }), ...(raw ? { 'content-type': 'application/json' } : {}) },
    ...(raw ? { raw } : { body }),
  });

test('control: without the header, two identical creates make two keys', async (t) => {
  const h = caller();
  await create(h, undefined, { name: 'twice' });
  await create(h, undefined, { name: 'twice' });
  t.is(keysNamed('twice'), 2);
});

test('the same key returns the first result, status and body, without running the handler again', async (t) => {
  const h = caller();
  const idem = randomUUID();
  const first = await create(h, idem, { name: 'once', mode: 'test' });
  t.is(first.status, 201);
  t.is(first.headers.get('idempotent-replayed'), null);
  const again = await create(h, idem, { name: 'once', mode: 'test' });
  t.is(again.status, 201);
  t.deepEqual(again.body, first.body, 'the same key, secret included, as first shown');
  t.is(again.headers.get('idempotent-replayed'), 'true');
  t.is(keysNamed('once'), 1, 'only one API key created');
  // Key order and whitespace do not make another request.
  const reordered = await create(h, idem, undefined, '{ "mode": "test",\n  "name": "once" }');
  t.is(reordered.status, 201);
  t.is(reordered.body.id, first.body.id);
  t.is(keysNamed('once'), 1);
});

test('the same key with a different request is 422 on the Idempotency-Key field, and creates nothing', async (t) => {
  const h = caller();
  const idem = randomUUID();
  t.is((await create(h, idem, { name: 'first body' })).status, 201);
  assertError(t, await create(h, idem, { name: 'second body' }), 'validation_error', 'Idempotency-Key was already used with a different request', [
    { field: 'Idempotency-Key', message: 'reuse the key only to retry the identical request' },
  ]);
  t.is(keysNamed('second body'), 0);
  // The same key on another create route is another request too.
  const users = await r.req('POST', '/api/v1/users', {
    headers: { authorization: (await userWithRole(r.app, t1.tenantId, 'owner')).headers.authorization!, 'idempotency-key': idem },
    body: { email: `${idem}@example.test`, role: 'viewer', password: 'a long enough password' },
  });
  t.is(users.status, 201, 'keys belong to their caller: a user is not the API key');
});

test('keys are per caller: another key with the same Idempotency-Key creates its own', async (t) => {
  const idem = randomUUID();
  const a = await create(caller(), idem, { name: 'per caller' });
  const b = await create(caller(), idem, { name: 'per caller' });
  t.is(a.status, 201);
  t.is(b.status, 201);
  t.not(a.body.id, b.body.id);
  t.is(keysNamed('per caller'), 2);
});

test('errors are not stored: after a refused request the same key runs the corrected one', async (t) => {
  const h = caller();
  const idem = randomUUID();
  t.is((await create(h, idem, { name: '' })).status, 422);
  const ok = await create(h, idem, { name: 'corrected' });
  t.is(ok.status, 201);
  t.is(keysNamed('corrected'), 1);
});

test('a repeat while the first is still running gets 409, and one user is created', async (t) => {
  const owner = await userWithRole(r.app, t1.tenantId, 'owner');
  const idem = randomUUID();
  const body = { email: `racer-${idem}@example.test`, role: 'member', password: 'a long enough password' };
  // Two open connections first, so both requests leave at once.
  await Promise.all([0, 1].map(() => r.req('GET', '/api/v1/health/live')));
  // Creating a user hashes a password (tens of ms): the second request arrives while the first runs.
  const [a, b] = await Promise.all(
    [0, 1].map(() => r.req('POST', '/api/v1/users', { headers: { ...owner.headers, 'idempotency-key': idem }, body })),
  );
  const [won, lost] = a!.status === 201 ? [a!, b!] : [b!, a!];
  t.is(won.status, 201);
  assertError(t, lost, 'conflict', 'A request with this Idempotency-Key is still in progress');
  t.is((db().prepare('SELECT COUNT(*) AS n FROM users WHERE email = ?').get(body.email) as { n: number }).n, 1);
  // Once done, the repeat is a replay.
  const later = await r.req('POST', '/api/v1/users', { headers: { ...owner.headers, 'idempotency-key': idem }, body });
  t.is(later.status, 201);
  t.deepEqual(later.body, won.body);
});

test('after 24 hours a key is forgotten: the request runs again', async (t) => {
  const h = caller();
  const idem = randomUUID();
  const first = await create(h, idem, { name: 'expiring' });
  const hash = createHash('sha256').update(idem).digest('hex');
  const aged = db()
    .prepare('UPDATE idempotency_keys SET created_at = ? WHERE key = ?')
    .run(new Date(Date.now() - 24 * 3600_000 - 1000).toISOString(), hash);
  t.is(aged.changes, 1);
  const second = await create(h, idem, { name: 'expiring' });
  t.is(second.status, 201);
  t.not(second.body.id, first.body.id);
  t.is(second.headers.get('idempotent-replayed'), null);
  t.is(keysNamed('expiring'), 2);
});

test('the stored result keeps no secret in the clear, nor the Idempotency-Key', async (t) => {
  const idem = `visible-${randomUUID()}`;
  const res = await create(caller(), idem, { name: 'sealed' });
  const rows = db().prepare('SELECT * FROM idempotency_keys').all();
  const dump = JSON.stringify(rows);
  t.false(dump.includes(res.body.key), 'the API key is not readable in the table');
  t.false(dump.includes(idem), 'the Idempotency-Key is stored hashed');
  t.false(dump.includes('sealed'), 'the body is encrypted');
});

test('a replay is refused to a caller who may no longer make the request', async (t) => {
  const admin = await userWithRole(r.app, t1.tenantId, 'admin');
  const idem = randomUUID();
  t.is((await create(admin.headers, idem, { name: 'before demotion' })).status, 201);
  r.app.engine.store.users.update(t1.tenantId, admin.userId, { role: 'viewer' });
  assertError(t, await create(admin.headers, idem, { name: 'before demotion' }), 'authorization_error', 'Role viewer may not do this (needs owner or admin)');
});

test('a malformed Idempotency-Key is a validation error', async (t) => {
  for (const bad of ['x'.repeat(256), 'has space']) {
    assertError(t, await create(caller(), bad, { name: 'bad key' }), 'validation_error', 'Invalid Idempotency-Key', [
      { field: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' },
    ]);
  }
  t.is(keysNamed('bad key'), 0);
});

test('routes that are not creates ignore the header', async (t) => {
  const h = caller();
  const idem = randomUUID();
  const a = await r.req('GET', '/api/v1/auth/me', { headers: { ...h, 'idempotency-key': idem } });
  const b = await r.req('GET', '/api/v1/auth/me', { headers: { ...h, 'idempotency-key': idem } });
  t.is(a.status, 200);
  t.is(b.headers.get('idempotent-replayed'), null);
});
