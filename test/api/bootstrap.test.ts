/**
 * The first tenant: from bootstrap settings on first start (once), and from the admin command
 * against a real database file, used by a running engine.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import { tempDir, testConfig, testLogger } from '../helpers/config.js';
import { request } from '../helpers/http.js';

const adminJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../api/cli/admin.js');

async function start(dbPath: string, bootstrap: Record<string, string> = {}): Promise<{ app: App; base: string }> {
  const config = testConfig({ database: { path: dbPath }, bootstrap });
  const app = await startApp(config, testLogger(config));
  return { app, base: `http://127.0.0.1:${app.http.port}` };
}

const tokenFor = async (base: string, email: string, password: string) =>
  request<{ accessToken: string }>(base, 'POST', '/api/v1/auth/login', { body: { email, password } });

test('first start with bootstrap settings creates the tenant and a super-admin owner, once', async (t) => {
  const db = path.join(tempDir(), 'boot.db');
  const bootstrap = { tenantName: 'Acme', ownerEmail: 'founder@acme.test', ownerPassword: 'first password 123' };
  const first = await start(db, bootstrap);
  try {
    t.is(first.app.engine.store.tenants.count(), 1);
    const login = await tokenFor(first.base, bootstrap.ownerEmail, bootstrap.ownerPassword);
    t.is(login.status, 200);
    const me = await request<{ role: string; superAdmin: boolean; tenantId: string }>(first.base, 'GET', '/api/v1/auth/me', {
      headers: { authorization: `Bearer ${login.body.accessToken}` },
    });
    t.like(me.body, { role: 'owner', superAdmin: true });
    const tenants = await request<{ items: { name: string; id: string }[] }>(first.base, 'GET', '/api/v1/tenants', {
      headers: { authorization: `Bearer ${login.body.accessToken}` },
    });
    t.deepEqual(tenants.body.items.map((x) => [x.name, x.id]), [['Acme', me.body.tenantId]]);
  } finally {
    await first.app.close();
  }

  // Second start, same file, other bootstrap values: nothing changes.
  const second = await start(db, { tenantName: 'Other', ownerEmail: 'other@acme.test', ownerPassword: 'second password 123' });
  try {
    t.is(second.app.engine.store.tenants.count(), 1);
    t.is((await tokenFor(second.base, bootstrap.ownerEmail, bootstrap.ownerPassword)).status, 200);
    t.is((await tokenFor(second.base, 'other@acme.test', 'second password 123')).status, 401);
  } finally {
    await second.app.close();
  }
});

test('without bootstrap settings, nothing is created', async (t) => {
  const { app } = await start(path.join(tempDir(), 'empty.db'));
  t.teardown(() => app.close());
  t.is(app.engine.store.tenants.count(), 0);
});

function admin(dbPath: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [adminJs, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AS_DATABASE_PATH: dbPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('the admin command creates a tenant (printing its password) and an API key, on the file a running engine uses', async (t) => {
  const db = path.join(tempDir(), 'cli.db');
  const { app, base } = await start(db);
  t.teardown(() => app.close());

  const created = await admin(db, ['create-tenant', '--name', 'Acme', '--owner-email', 'ops@acme.test', '--owner-name', 'Ops']);
  t.is(created.code, 0, created.stderr);
  t.is(created.stderr, '');
  const password = /^password: +(\S+)$/m.exec(created.stdout)?.[1];
  const tenantId = /^tenant: +(\S+) \(Acme\)$/m.exec(created.stdout)?.[1];
  t.regex(password ?? '', /^[A-Za-z0-9]{24}$/);
  t.regex(created.stdout, /^super-admin: yes$/m, 'the first tenant’s owner is super-admin');

  // The engine, already running on the same file, signs the owner in.
  const login = await tokenFor(base, 'ops@acme.test', password!);
  t.is(login.status, 200, JSON.stringify(login.body));
  const me = await request<{ tenantId: string; superAdmin: boolean; user: { name: string } }>(base, 'GET', '/api/v1/auth/me', {
    headers: { authorization: `Bearer ${login.body.accessToken}` },
  });
  t.like(me.body, { tenantId, superAdmin: true, user: { name: 'Ops' } });

  const second = await admin(db, ['create-tenant', '--name', 'Beta', '--owner-email', 'ops@beta.test', '--json']);
  t.is(second.code, 0, second.stderr);
  const beta = JSON.parse(second.stdout) as { tenantId: string; superAdmin: boolean; password: string };
  t.false(beta.superAdmin, 'later tenants’ owners are not super-admins unless asked');

  const key = await admin(db, ['create-api-key', '--tenant', beta.tenantId, '--name', 'ci', '--mode', 'test', '--role', 'member', '--scopes', 'agents:*,calls:read', '--rate-limit', '5', '--json']);
  t.is(key.code, 0, key.stderr);
  const k = JSON.parse(key.stdout) as { key: string; mode: string; role: string; scopes: string[]; rateLimit: number };
  t.like(k, { mode: 'test', role: 'member', scopes: ['agents:*', 'calls:read'], rateLimit: 5 });
  const keyMe = await request<{ tenantId: string; kind: string; mode: string }>(base, 'GET', '/api/v1/auth/me', { headers: { 'x-api-key': k.key } });
  t.is(keyMe.status, 200);
  t.like(keyMe.body, { tenantId: beta.tenantId, kind: 'api_key', mode: 'test' });
  t.is(keyMe.headers.get('x-ratelimit-limit'), '5');

  const list = await admin(db, ['list-tenants', '--json']);
  t.deepEqual((JSON.parse(list.stdout) as { name: string }[]).map((x) => x.name), ['Acme', 'Beta']);
});

test('the admin command refuses bad usage (64), a taken e-mail (1) and an unknown tenant (1), creating nothing', async (t) => {
  const db = path.join(tempDir(), 'cli-bad.db');
  t.is((await admin(db, ['create-tenant', '--name', 'A', '--owner-email', 'a@a.test'])).code, 0);
  const cases: [string[], number, RegExp][] = [
    [[], 64, /Usage: npm run admin/],
    [['frobnicate'], 64, /unknown command "frobnicate"/],
    [['create-tenant', '--name', 'B'], 64, /--owner-email: /],
    [['create-tenant', '--name', 'B', '--owner-email', 'not-an-email'], 64, /--owner-email: Invalid email address/],
    [['create-tenant', '--nope'], 64, /Unknown option '--nope'/],
    [['create-tenant', '--name', 'B', '--owner-email', 'A@A.test'], 1, /A user with this email already exists/],
    [['create-api-key', '--tenant', '00000000-0000-4000-8000-000000000000', '--name', 'x'], 1, /No tenant 00000000-0000-4000-8000-000000000000/],
    [['create-api-key', '--tenant', 'x', '--name', 'x', '--mode', 'prod'], 64, /--tenant: Invalid UUID[\s\S]*--mode: /],
  ];
  for (const [args, code, message] of cases) {
    const res = await admin(db, args);
    t.is(res.code, code, args.join(' '));
    t.regex(res.stderr, message, args.join(' '));
    t.is(res.stdout, '', `${args.join(' ')} prints no result`);
  }
  const list = await admin(db, ['list-tenants']);
  t.is(list.stdout.trim().split('\n').length, 1);
});
