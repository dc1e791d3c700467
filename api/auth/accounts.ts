/**
 * Creating tenants and people: shared by the first-start bootstrap, the admin command and the
 * tenant and user endpoints, so each applies the same rules (unique e-mail, hashed password).
 */
import type { Logger } from '../../config/logger.js';
import type { Config } from '../../config/schema.js';
import type { Tenant } from '../../engine/store/repositories/tenants.js';
import type { Role, UserWithSecret } from '../../engine/store/repositories/users.js';
import type { Store } from '../../engine/store/store.js';
import { AppError } from '../http/errors.js';
import { hashPassword } from './passwords.js';

/** Shortest password accepted anywhere (the same rule as config.bootstrap.ownerPassword). */
export const MIN_PASSWORD_LENGTH = 12;
/** Longest accepted: scrypt's cost grows with the input, and no person types more. */
export const MAX_PASSWORD_LENGTH = 1024;

/** A tenant's first owner. */
interface NewOwner {
  email: string;
  name?: string | null;
  password: string;
  superAdmin?: boolean;
}

/**
 * A tenant and its owner, in one transaction. With `onlyIfNoTenants`, nothing is created (and
 * null returned) when any tenant exists: the check and the inserts are one immediate
 * transaction, so two processes starting at once cannot both create the first tenant.
 */
export async function createTenantWithOwner(
  store: Store,
  input: { name: string; owner: NewOwner; onlyIfNoTenants?: boolean },
): Promise<{ tenant: Tenant; owner: UserWithSecret } | null> {
  const passwordHash = await hashPassword(input.owner.password);
  const create = store.db.transaction(() => {
    if (input.onlyIfNoTenants && store.tenants.count() > 0) return null;
    assertEmailFree(store, input.owner.email);
    const tenant = store.tenants.create({ name: input.name });
    const owner = store.users.create({
      tenantId: tenant.id,
      email: input.owner.email,
      name: input.owner.name ?? null,
      passwordHash,
      role: 'owner',
      superAdmin: input.owner.superAdmin ?? false,
    });
    return { tenant, owner };
  });
  return create.immediate();
}

/** A user in an existing tenant. */
export async function createUser(
  store: Store,
  input: { tenantId: string; email: string; name?: string | null; password: string; role: Role },
): Promise<UserWithSecret> {
  const passwordHash = await hashPassword(input.password);
  return store.db.transaction(() => {
    assertEmailFree(store, input.email);
    return store.users.create({ ...input, passwordHash });
  }).immediate();
}

/** E-mail addresses sign people in, so they are unique across all tenants. */
function assertEmailFree(store: Store, email: string): void {
  if (store.users.byEmail(email)) throw new AppError('conflict', 'A user with this email already exists');
}

/**
 * The first tenant and its owner (a super-admin) from `config.bootstrap`, when all three settings
 * are given and the database has no tenant yet. Later starts change nothing.
 */
export async function bootstrapFirstTenant(store: Store, bootstrap: Config['bootstrap'], log: Logger): Promise<Tenant | null> {
  const { tenantName, ownerEmail, ownerPassword } = bootstrap;
  if (!tenantName || !ownerEmail || !ownerPassword) return null;
  if (store.tenants.count() > 0) {
    log.debug('bootstrap skipped: tenants exist');
    return null;
  }
  const created = await createTenantWithOwner(store, {
    name: tenantName,
    owner: { email: ownerEmail, password: ownerPassword, superAdmin: true },
    onlyIfNoTenants: true,
  });
  if (created) log.info({ tenantId: created.tenant.id, ownerId: created.owner.id }, 'bootstrap tenant created');
  return created?.tenant ?? null;
}
