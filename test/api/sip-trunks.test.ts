import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import { applyPrefixRule } from '../../engine/calls/prefix-rules.js';
import { testConfig, testLogger } from '../helpers/config.js';
import { client, envelope, freshNumber, type Client } from '../helpers/resources.js';
import { seedTenant, userWithRole, type SeededTenant } from '../helpers/tenant.js';

let app: App;
let t1: SeededTenant;
let admin: Client;
let owner: Client;

test.before(async () => {
  const config = testConfig();
  app = await startApp(config, testLogger(config));
  t1 = await seedTenant(app);
  admin = client(app, t1.headers);
  owner = client(app, (await userWithRole(app, t1.tenantId, 'owner')).headers);
});
test.after.always(() => app?.close());

const carrier = () => ({
  name: 'Carrier A',
  inbound: { allowlist: ['203.0.113.0/24', '198.51.100.7', '2001:db8:a::/48'], username: 'carrier-a', password: 'in-secret-123' },
  outbound: { host: 'sip.carrier-a.example', port: 5061, transport: 'tls', username: 'acct-42', password: 'out-secret-456' },
  callerId: '+442079460000',
  prefixRules: { outbound: { strip: '+', add: '00' }, inbound: { strip: '0', add: '+44' } },
  cpsLimit: 10,
});

test('create and read a trunk: passwords never come back, hasPassword says they are set', async (t) => {
  const res = await owner.post('/api/v1/sip-trunks', carrier());
  t.is(res.status, 201);
  const { id, createdAt, updatedAt } = res.body;
  t.deepEqual(res.body, {
    id,
    mode: 'live',
    name: 'Carrier A',
    inbound: { allowlist: ['203.0.113.0/24', '198.51.100.7', '2001:db8:a::/48'], username: 'carrier-a', hasPassword: true },
    outbound: { host: 'sip.carrier-a.example', port: 5061, transport: 'tls', username: 'acct-42', hasPassword: true },
    callerId: '+442079460000',
    prefixRules: { outbound: { strip: '+', add: '00' }, inbound: { strip: '0', add: '+44' } },
    cpsLimit: 10,
    maxConcurrentCalls: null,
    createdAt,
    updatedAt,
  });
  const read = await admin.get(`/api/v1/sip-trunks/${id}`);
  t.deepEqual(read.body, res.body);
  const list = await admin.get('/api/v1/sip-trunks?limit=100');
  for (const body of [res.body, read.body, list.body]) {
    t.false(JSON.stringify(body).includes('secret'), 'no password anywhere in responses');
  }
  // Call control gets them from the engine side.
  t.deepEqual(app.engine.store.sipTrunks.inboundCredentials(id), { username: 'carrier-a', password: 'in-secret-123' });
  t.deepEqual(app.engine.store.sipTrunks.outboundCredentials(id), { username: 'acct-42', password: 'out-secret-456' });
  const byUser = app.engine.store.sipTrunks.findByInboundUsername('carrier-a');
  t.true(byUser.some((x) => x.id === id) && byUser.every((x) => x.inbound.username === 'carrier-a'));
  t.deepEqual(app.engine.store.sipTrunks.findByInboundUsername('nobody'), []);
});

test('a minimal trunk has empty inbound, no outbound, and outbound defaults when added', async (t) => {
  const res = await admin.post('/api/v1/sip-trunks', { name: 'Bare' });
  t.like(res.body, { inbound: { allowlist: [], username: null, hasPassword: false }, outbound: null, callerId: null, prefixRules: {}, cpsLimit: null });
  const out = await admin.patch(`/api/v1/sip-trunks/${res.body.id}`, { outbound: { host: '192.0.2.10' } });
  t.deepEqual(out.body.outbound, { host: '192.0.2.10', port: 5060, transport: 'udp', username: null, hasPassword: false });
  t.is(app.engine.store.sipTrunks.outboundCredentials(res.body.id), undefined);
});

test('updates merge inbound/outbound key by key: passwords kept unless replaced or cleared', async (t) => {
  const { body } = await admin.post('/api/v1/sip-trunks', carrier());
  const id = body.id;
  const narrowed = await admin.patch(`/api/v1/sip-trunks/${id}`, { inbound: { allowlist: ['192.0.2.1'] }, outbound: { port: 5080 } });
  t.deepEqual(narrowed.body.inbound, { allowlist: ['192.0.2.1'], username: 'carrier-a', hasPassword: true });
  t.like(narrowed.body.outbound, { host: 'sip.carrier-a.example', port: 5080, transport: 'tls', hasPassword: true });
  t.deepEqual(app.engine.store.sipTrunks.inboundCredentials(id), { username: 'carrier-a', password: 'in-secret-123' });

  await admin.patch(`/api/v1/sip-trunks/${id}`, { inbound: { password: 'rotated-pass-789' } });
  t.deepEqual(app.engine.store.sipTrunks.inboundCredentials(id), { username: 'carrier-a', password: 'rotated-pass-789' });

  const cleared = await admin.patch(`/api/v1/sip-trunks/${id}`, { inbound: { username: null, password: null }, outbound: null, cpsLimit: null });
  t.deepEqual(cleared.body.inbound, { allowlist: ['192.0.2.1'], username: null, hasPassword: false });
  t.is(cleared.body.outbound, null);
  t.is(cleared.body.cpsLimit, null);
  t.is(app.engine.store.sipTrunks.inboundCredentials(id), undefined);
});

test('allowlists, hosts, credentials and limits are validated', async (t) => {
  const res = await admin.post('/api/v1/sip-trunks', {
    name: 'Bad',
    inbound: { allowlist: ['10.0.0.0/8', '300.1.1.1', '10.0.0.0/33', '2001:db8::/129', 'fe80::1', 'example.com'], username: 'user' },
    outbound: { host: 'bad host!', transport: 'ws', port: 70000 },
    cpsLimit: 0,
  });
  t.is(res.status, 422);
  t.deepEqual(res.body, envelope('validation_error', 'Invalid request body', [
    { field: 'inbound.allowlist[1]', message: 'Must be an IPv4 or IPv6 address or CIDR block, e.g. 203.0.113.0/24' },
    { field: 'inbound.allowlist[2]', message: 'Must be an IPv4 or IPv6 address or CIDR block, e.g. 203.0.113.0/24' },
    { field: 'inbound.allowlist[3]', message: 'Must be an IPv4 or IPv6 address or CIDR block, e.g. 203.0.113.0/24' },
    { field: 'inbound.allowlist[5]', message: 'Must be an IPv4 or IPv6 address or CIDR block, e.g. 203.0.113.0/24' },
    { field: 'outbound.host', message: 'Must be a hostname or an IP address' },
    { field: 'outbound.port', message: 'Too big: expected number to be <=65535' },
    { field: 'outbound.transport', message: 'Invalid option: expected one of "udp"|"tcp"|"tls"' },
    { field: 'cpsLimit', message: 'Too small: expected number to be >=1' },
  ]));
  const unpaired = await admin.post('/api/v1/sip-trunks', { name: 'Half', inbound: { username: 'user' }, outbound: { host: 'sip.example', password: 'lonely-password' } });
  t.deepEqual(unpaired.body, envelope('validation_error', 'Invalid request body', [
    { field: 'inbound.password', message: 'Required with a username' },
    { field: 'outbound.username', message: 'Required with a password' },
  ]));
  const noHost = await admin.post('/api/v1/sip-trunks', { name: 'No host', outbound: { port: 5060 } });
  t.deepEqual(noHost.body.error.details, [{ field: 'outbound.host', message: 'Field is required' }]);
});

test('the engine finds the trunk of an inbound source address, most specific first, IPv4 and IPv6', async (t) => {
  const tenant = await seedTenant(app);
  const c = client(app, tenant.headers);
  const wide = (await c.post('/api/v1/sip-trunks', { name: 'Wide', inbound: { allowlist: ['100.64.0.0/10', '2001:db8:100::/40'] } })).body;
  const narrow = (await c.post('/api/v1/sip-trunks', { name: 'Narrow', inbound: { allowlist: ['100.64.5.0/24'] } })).body;
  const single = (await c.post('/api/v1/sip-trunks', { name: 'Single', inbound: { allowlist: ['100.64.5.9', '2001:db8:100:1::5'] } })).body;
  const trunks = app.engine.store.sipTrunks;
  t.is(trunks.findByInboundIp('100.64.5.9')?.id, single.id);
  t.deepEqual(trunks.matchInboundIp('100.64.5.9').map((x) => x.id), [single.id, narrow.id, wide.id]);
  t.is(trunks.findByInboundIp('100.64.5.10')?.id, narrow.id);
  t.is(trunks.findByInboundIp('100.127.255.255')?.id, wide.id);
  t.is(trunks.findByInboundIp('100.128.0.1'), undefined);
  t.is(trunks.findByInboundIp('::ffff:100.64.5.9')?.id, single.id, 'IPv4-mapped IPv6 matches IPv4 entries');
  t.is(trunks.findByInboundIp('2001:db8:100:1:0:0:0:5')?.id, single.id);
  t.is(trunks.findByInboundIp('2001:db8:1ff:ffff::1')?.id, wide.id);
  t.is(trunks.findByInboundIp('2001:db8:200::1'), undefined);
  t.is(trunks.findByInboundIp('not an ip'), undefined);
  t.like(trunks.findByInboundIp('100.64.5.9'), { tenantId: tenant.tenantId, mode: 'live', name: 'Single' });

  await c.del(`/api/v1/sip-trunks/${single.id}`);
  t.is(trunks.findByInboundIp('100.64.5.9')?.id, narrow.id);
  // The parsed allowlists are kept per version of the table: a change is seen by the next match,
  // a write outside the repository (the admin CLI, another process) too.
  t.is((await c.patch(`/api/v1/sip-trunks/${narrow.id}`, { inbound: { allowlist: ['100.64.6.0/24'] } })).status, 200);
  t.is(trunks.findByInboundIp('100.64.5.10')?.id, wide.id);
  t.is(trunks.findByInboundIp('100.64.6.1')?.id, narrow.id);
  app.engine.store.db.prepare('UPDATE sip_trunks SET inbound_allowlist = ? WHERE id = ?').run(JSON.stringify(['100.64.7.0/24']), narrow.id);
  t.is(trunks.findByInboundIp('100.64.7.1')?.id, narrow.id);
  t.is(trunks.findByInboundIp('100.64.6.1')?.id, wide.id);
});

test('deleting a trunk detaches its numbers', async (t) => {
  const trunk = (await admin.post('/api/v1/sip-trunks', { name: 'Temp' })).body;
  const number = (await admin.post('/api/v1/phone-numbers', { number: freshNumber(), trunkId: trunk.id })).body;
  t.is((await owner.del(`/api/v1/sip-trunks/${trunk.id}`)).status, 204);
  t.is((await admin.get(`/api/v1/sip-trunks/${trunk.id}`)).status, 404);
  t.is((await admin.get(`/api/v1/phone-numbers/${number.id}`)).body.trunkId, null);
});

test('prefix rules rewrite numbers: strip, then add', (t) => {
  t.is(applyPrefixRule('+442079460000', { strip: '+', add: '00' }), '00442079460000');
  t.is(applyPrefixRule('02079460000', { strip: '0', add: '+44' }), '+442079460000');
  t.is(applyPrefixRule('+15551234567', { strip: '0', add: '' }), '+15551234567');
  t.is(applyPrefixRule('5551234', { add: '9' }), '95551234');
  t.is(applyPrefixRule('5551234', undefined), '5551234');
});
