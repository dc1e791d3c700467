/**
 * The outbound guard (lib/outbound-guard.ts): a tenant cannot make the engine reach loopback,
 * private networks or the metadata service through an event webhook or a tool webhook, by an IP
 * literal or by a host name that resolves there; the receiver gets nothing and the refusal is in
 * the delivery log / the tool's answer. Link-local and friends stay refused even when private
 * networks are allowed. Address classes, IPv4-mapped IPv6 included, checked by a property.
 */
import test from 'ava';
import fc from 'fast-check';
import { addressKind, OutboundGuard, OutboundRefusedError } from '../../lib/outbound-guard.js';
import { useApp } from '../helpers/app.js';
import { waitFor } from '../helpers/http.js';
import { client } from '../helpers/resources.js';
import { mintKey, seedTenant } from '../helpers/tenant.js';
import { eventReceiver, type EventReceiver } from '../helpers/webhook-server.js';

// This file's engine runs with the default: private networks refused.
const r = useApp(test, { outbound: { allowPrivateNetworks: false }, webhooks: { timeoutMs: 400, maxAttempts: 2, retryBaseMs: 50, retryMaxMs: 100 } });
const receivers: EventReceiver[] = [];
test.after.always(() => Promise.all(receivers.map((x) => x.close())));

test('address classes: public, private (loopback, RFC 1918, CGNAT, ULA) and forbidden (link-local, unspecified, multicast, reserved)', (t) => {
  const table: Record<string, ReturnType<typeof addressKind>> = {
    '8.8.8.8': 'public',
    '2001:4860:4860::8888': 'public',
    '127.0.0.1': 'private',
    '127.255.0.9': 'private',
    '::1': 'private',
    '10.1.2.3': 'private',
    '172.16.0.1': 'private',
    '172.31.255.255': 'private',
    '172.32.0.1': 'public',
    '192.168.1.1': 'private',
    '100.64.0.1': 'private',
    'fd00::1': 'private',
    '169.254.169.254': 'forbidden',
    'fe80::1': 'forbidden',
    '0.0.0.0': 'forbidden',
    '::': 'forbidden',
    '224.0.0.1': 'forbidden',
    '255.255.255.255': 'forbidden',
    'ff02::1': 'forbidden',
    '::ffff:127.0.0.1': 'private',
    '::ffff:7f00:1': 'private',
    '::ffff:a9fe:a9fe': 'forbidden',
    '[::1]': 'private',
    'localhost': 'forbidden',
    '': 'forbidden',
  };
  for (const [ip, kind] of Object.entries(table)) t.is(addressKind(ip), kind, ip);
});

test('property: an IPv4 address and its IPv4-mapped IPv6 forms are judged alike; any string is judged without throwing (2,000 cases each)', (t) => {
  fc.assert(
    fc.property(fc.ipV4(), (ip) => {
      const [a, b, c, d] = ip.split('.').map(Number) as [number, number, number, number];
      const hex = `::ffff:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
      return addressKind(`::ffff:${ip}`) === addressKind(ip) && addressKind(hex) === addressKind(ip);
    }),
    { numRuns: 2000 },
  );
  fc.assert(fc.property(fc.string({ maxLength: 80 }), (s) => ['public', 'private', 'forbidden'].includes(addressKind(s) as string)), { numRuns: 2000 });
  t.pass();
});

test('the metadata service and other forbidden addresses stay refused when private networks are allowed; other schemes are refused', (t) => {
  const open = new OutboundGuard(true);
  t.notThrows(() => open.check('http://127.0.0.1:9/'));
  t.notThrows(() => open.check('https://api.openai.com/v1'));
  for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://[fe80::1]/', 'http://0.0.0.0:80/', 'ws://[::ffff:a9fe:a9fe]/', 'file:///etc/passwd', 'gopher://127.0.0.1/']) {
    t.throws(() => open.check(url), { instanceOf: OutboundRefusedError }, url);
  }
  const closed = new OutboundGuard(false);
  t.throws(() => closed.check('http://127.0.0.1:9/'), { message: /AS_OUTBOUND_ALLOW_PRIVATE_NETWORKS=true/ });
  t.throws(() => closed.check('http://[::ffff:10.0.0.1]/'), { instanceOf: OutboundRefusedError });
});

test('a host name that resolves to loopback is refused at connect time (the lookup is the connection’s)', async (t) => {
  const guard = new OutboundGuard(false);
  const rx = await eventReceiver('x'.repeat(24));
  receivers.push(rx);
  const port = new URL(rx.url).port;
  const err = await t.throwsAsync(guard.fetch(`http://localhost:${port}/hooks`, { method: 'POST', body: '{}' }));
  t.regex(String((err as { cause?: Error }).cause?.message ?? err?.message), /refused: localhost resolves to 127\.0\.0\.1 is a loopback or private address/);
  t.is(rx.seen.length, 0, 'not one request reached the receiver');
  await guard.close();
});

test('event webhooks to loopback, by IP or by name, fail with outbound_refused and the receiver hears nothing', async (t) => {
  await r.ready;
  const tn = await seedTenant(r.app);
  const c = client(r.app, { 'x-api-key': mintKey(r.app, tn.tenantId, { rateLimit: 1_000_000 }) });
  const secret = 'guard-secret-0123456789abcdef';
  const rx = await eventReceiver(secret);
  receivers.push(rx);
  const byName = rx.url.replace('127.0.0.1', 'localhost');
  const ids: string[] = [];
  for (const url of [rx.url, byName, 'http://169.254.169.254/latest/meta-data/']) {
    const h = await c.post('/api/v1/webhooks', { url, secret, eventTypes: ['call.dtmf'] });
    t.is(h.status, 201);
    ids.push(h.body.id as string);
  }
  r.app.engine.events.append('call.dtmf', { tenantId: tn.tenantId, mode: 'live', callId: 'c-guard' }, { callId: 'c-guard', agentId: null, digit: '5' });
  for (const id of ids) {
    const done = await waitFor(async () => {
      const d = await c.get(`/api/v1/webhooks/${id}/deliveries`);
      const row = (d.body.items as { status: string; lastError: string | null }[])[0];
      return row && row.status === 'failed' ? row : undefined;
    }, 10_000);
    t.regex(done.lastError ?? '', /^outbound_refused: refused: /, id);
  }
  t.is(rx.seen.length, 0, 'not one request reached the receiver');
});

test('a tool webhook to loopback answers outbound_refused from its test action, with how to allow it', async (t) => {
  await r.ready;
  const tn = await seedTenant(r.app);
  const c = client(r.app, { 'x-api-key': mintKey(r.app, tn.tenantId, { rateLimit: 1_000_000 }) });
  const rx = await eventReceiver('y'.repeat(24));
  receivers.push(rx);
  const tool = await c.post('/api/v1/tools', { name: 'internal_probe', action: { type: 'webhook', url: rx.url, method: 'PUT' } });
  t.is(tool.status, 201, JSON.stringify(tool.body));
  const res = await c.post(`/api/v1/tools/${tool.body.id}/test`, { arguments: {} });
  t.is(res.status, 200);
  t.like(res.body, { ok: false, status: null, error: { code: 'outbound_refused' } });
  t.regex(res.body.error.message, /AS_OUTBOUND_ALLOW_PRIVATE_NETWORKS=true/);
  t.is(rx.seen.length, 0);
});
