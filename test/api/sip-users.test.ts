/**
 * /api/v1/sip-users: create, read, update, delete; the password is write-only and a username is
 * unique per tenant and mode; the AOR names the tenant and mode; deleting a user ends its
 * registrations. Errors are the one envelope.
 */
import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import { testConfig, testLogger } from '../helpers/config.js';
import { client, envelope, type Client } from '../helpers/resources.js';
import { mintKey, seedTenant, type SeededTenant } from '../helpers/tenant.js';

let app: App;
let t1: SeededTenant;
let admin: Client;
let testKey: Client;

test.before(async () => {
  const config = testConfig();
  app = await startApp(config, testLogger(config));
  t1 = await seedTenant(app);
  admin = client(app, t1.headers);
  testKey = client(app, { 'x-api-key': mintKey(app, t1.tenantId, { mode: 'test' }) });
});
test.after.always(() => app?.close());

test('create and read: the password never comes back, the AOR names the tenant and mode', async (t) => {
  const res = await admin.post('/api/v1/sip-users', { username: 'desk-1', password: 'desk-secret-1', displayName: 'Front desk' });
  t.is(res.status, 201);
  const { id, createdAt, updatedAt } = res.body as { id: string; createdAt: string; updatedAt: string };
  const expected = { id, mode: 'live', username: 'desk-1', displayName: 'Front desk', aor: `sip:desk-1@${t1.tenantId}.live`, createdAt, updatedAt };
  t.deepEqual(res.body, expected);
  t.deepEqual((await admin.get(`/api/v1/sip-users/${id}`)).body, expected);
  t.false(JSON.stringify((await admin.get('/api/v1/sip-users')).body).includes('desk-secret-1'));
  t.deepEqual((await admin.get(`/api/v1/sip-users/${id}/registrations`)).body, { aor: expected.aor, items: [] });
  // The same username in test mode is another user, in another domain.
  const other = await testKey.post('/api/v1/sip-users', { username: 'desk-1', password: 'desk-secret-2' });
  t.is(other.status, 201);
  t.is((other.body as { aor: string }).aor, `sip:desk-1@${t1.tenantId}.test`);
});

test('a taken username is a conflict; bad input is a validation_error', async (t) => {
  t.is((await admin.post('/api/v1/sip-users', { username: 'dup', password: 'dup-secret-1' })).status, 201);
  const dup = await admin.post('/api/v1/sip-users', { username: 'dup', password: 'dup-secret-2' });
  t.is(dup.status, 409);
  t.deepEqual(dup.body, envelope('conflict', 'A SIP user with this username already exists'));
  const bad = await admin.post('/api/v1/sip-users', { username: 'has space@x', password: 'short' });
  t.is(bad.status, 422);
  t.deepEqual(
    (bad.body as { error: { details: { field: string }[] } }).error.details.map((d) => d.field),
    ['username', 'password'],
  );
});

test('update keeps the password unless given; the store holds the new one', async (t) => {
  const { id } = (await admin.post('/api/v1/sip-users', { username: 'upd', password: 'first-secret' })).body as { id: string };
  const scope = { tenantId: t1.tenantId, mode: 'live' as const };
  t.is((await admin.patch(`/api/v1/sip-users/${id}`, { displayName: 'Phone' })).status, 200);
  t.is(app.engine.store.sipUsers.get(scope, id)!.password, 'first-secret');
  t.is((await admin.patch(`/api/v1/sip-users/${id}`, { password: 'second-secret' })).status, 200);
  t.is(app.engine.store.sipUsers.get(scope, id)!.password, 'second-secret');
  t.is((await admin.del(`/api/v1/sip-users/${id}`)).status, 204);
  t.is((await admin.get(`/api/v1/sip-users/${id}`)).status, 404);
});
