/**
 * Seeds a tenant with an owner (password known), and mints credentials for tests: API keys of
 * any role/mode/scopes and access tokens for any user. Goes through the real repositories,
 * password hashing and token service the API uses.
 */
import type { App } from '../../api/app.js';
import { generateApiKey } from '../../api/auth/api-key-secret.js';
import { hashPassword } from '../../api/auth/passwords.js';
import type { Role } from '../../engine/store/repositories/users.js';
import type { Mode } from '../../engine/store/mode.js';

export interface SeededTenant {
  tenantId: string;
  ownerId: string;
  ownerEmail: string;
  ownerPassword: string;
  /** A live admin key. */
  apiKey: string;
  /** Headers for the live admin key. */
  headers: Record<string, string>;
}

let counter = 0;

export async function seedTenant(app: App, opts: { name?: string; superAdmin?: boolean } = {}): Promise<SeededTenant> {
  const store = app.engine.store;
  const n = ++counter;
  const tenant = store.tenants.create({ name: opts.name ?? `Tenant ${n}` });
  const ownerEmail = `owner${n}-${tenant.id.slice(0, 8)}@example.test`;
  const ownerPassword = `correct horse battery ${n}`;
  const owner = store.users.create({
    tenantId: tenant.id,
    email: ownerEmail,
    name: `Owner ${n}`,
    passwordHash: await hashPassword(ownerPassword),
    role: 'owner',
    superAdmin: opts.superAdmin ?? false,
  });
  const apiKey = mintKey(app, tenant.id, {});
  return { tenantId: tenant.id, ownerId: owner.id, ownerEmail, ownerPassword, apiKey, headers: { 'x-api-key': apiKey } };
}

/** A new API key in the tenant. */
export function mintKey(
  app: App,
  tenantId: string,
  opts: { role?: Role; mode?: Mode; scopes?: string[] | null; rateLimit?: number | null; name?: string },
): string {
  const mode = opts.mode ?? 'live';
  const { key, prefix, hash } = generateApiKey(mode);
  app.engine.store.apiKeys.create({
    tenantId,
    name: opts.name ?? `${opts.role ?? 'admin'} ${mode} key`,
    mode,
    role: opts.role ?? 'admin',
    prefix,
    keyHash: hash,
    scopes: opts.scopes ?? null,
    rateLimit: opts.rateLimit ?? null,
  });
  return key;
}

/** A user with `role` in the tenant, and a Bearer header for them. */
export async function userWithRole(
  app: App,
  tenantId: string,
  role: Role,
): Promise<{ userId: string; headers: Record<string, string> }> {
  const u = app.engine.store.users.create({
    tenantId,
    email: `${role}-${++counter}-${tenantId.slice(0, 8)}@example.test`,
    passwordHash: await hashPassword('irrelevant password 123'),
    role,
  });
  const { accessToken } = await app.sessions.start(u);
  return { userId: u.id, headers: { authorization: `Bearer ${accessToken}` } };
}
