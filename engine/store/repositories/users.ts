/** People who sign in: one tenant each, a role inside it, optionally super-admin. */
import type { Db } from '../database.js';
import { newId, nowIso } from '../ids.js';

export type Role = 'owner' | 'admin' | 'member' | 'viewer';

export interface User {
  id: string;
  tenantId: string;
  email: string;
  name: string | null;
  role: Role;
  superAdmin: boolean;
  status: 'active' | 'disabled';
  lastLoginAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A user with the stored password hash; never leaves the auth code. */
export interface UserWithSecret extends User {
  passwordHash: string;
}

interface Row {
  id: string;
  tenant_id: string;
  email: string;
  name: string | null;
  password_hash: string;
  role: Role;
  super_admin: number;
  status: User['status'];
  last_login_at: string | null;
  created_at: string;
  updated_at: string;
}

const toUser = (r: Row): UserWithSecret => ({
  id: r.id,
  tenantId: r.tenant_id,
  email: r.email,
  name: r.name,
  role: r.role,
  superAdmin: r.super_admin === 1,
  status: r.status,
  lastLoginAt: r.last_login_at,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  passwordHash: r.password_hash,
});

/** Drops the password hash. */
export const publicUser = ({ passwordHash: _, ...u }: UserWithSecret): User => u;

export class UsersRepo {
  readonly #insert;
  readonly #get;
  readonly #byEmail;
  readonly #list;
  readonly #count;
  readonly #update;
  readonly #touchLogin;
  readonly #delete;
  readonly #countOwners;
  readonly #countSuperAdmins;

  constructor(db: Db) {
    this.#insert = db.prepare(
      `INSERT INTO users (id, tenant_id, email, name, password_hash, role, super_admin, status, created_at, updated_at)
       VALUES (@id, @tenantId, @email, @name, @passwordHash, @role, @superAdmin, @status, @createdAt, @updatedAt)`,
    );
    this.#get = db.prepare<[string], Row>('SELECT * FROM users WHERE id = ?');
    this.#byEmail = db.prepare<[string], Row>('SELECT * FROM users WHERE email = ?');
    this.#list = db.prepare<[string, number, number], Row>(
      'SELECT * FROM users WHERE tenant_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?',
    );
    this.#count = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM users WHERE tenant_id = ?');
    this.#update = db.prepare(
      `UPDATE users SET name = @name, role = @role, status = @status, password_hash = @passwordHash,
       updated_at = @updatedAt WHERE id = @id`,
    );
    this.#touchLogin = db.prepare<[string, string]>('UPDATE users SET last_login_at = ? WHERE id = ?');
    this.#delete = db.prepare<[string, string]>('DELETE FROM users WHERE id = ? AND tenant_id = ?');
    this.#countOwners = db.prepare<[string], { n: number }>(
      "SELECT COUNT(*) AS n FROM users WHERE tenant_id = ? AND role = 'owner' AND status = 'active'",
    );
    this.#countSuperAdmins = db.prepare<[], { n: number }>(
      "SELECT COUNT(*) AS n FROM users WHERE super_admin = 1 AND status = 'active'",
    );
  }

  create(input: {
    tenantId: string;
    email: string;
    name?: string | null;
    passwordHash: string;
    role: Role;
    superAdmin?: boolean;
  }): UserWithSecret {
    const now = nowIso();
    const u: UserWithSecret = {
      id: newId(),
      tenantId: input.tenantId,
      email: input.email,
      name: input.name ?? null,
      role: input.role,
      superAdmin: input.superAdmin ?? false,
      status: 'active',
      lastLoginAt: null,
      createdAt: now,
      updatedAt: now,
      passwordHash: input.passwordHash,
    };
    this.#insert.run({ ...u, superAdmin: u.superAdmin ? 1 : 0 });
    return u;
  }

  get(id: string): UserWithSecret | undefined {
    const r = this.#get.get(id);
    return r && toUser(r);
  }

  /** Scoped lookup: another tenant's user is `undefined`. */
  getInTenant(tenantId: string, id: string): UserWithSecret | undefined {
    const u = this.get(id);
    return u && u.tenantId === tenantId ? u : undefined;
  }

  byEmail(email: string): UserWithSecret | undefined {
    const r = this.#byEmail.get(email);
    return r && toUser(r);
  }

  list(tenantId: string, limit: number, offset: number): { items: UserWithSecret[]; total: number } {
    return { items: this.#list.all(tenantId, limit, offset).map(toUser), total: this.#count.get(tenantId)!.n };
  }

  update(
    tenantId: string,
    id: string,
    patch: Partial<Pick<UserWithSecret, 'name' | 'role' | 'status' | 'passwordHash'>>,
  ): UserWithSecret | undefined {
    const cur = this.getInTenant(tenantId, id);
    if (!cur) return undefined;
    const next = { ...cur, ...patch, updatedAt: nowIso() };
    this.#update.run(next);
    return next;
  }

  touchLogin(id: string): void {
    this.#touchLogin.run(nowIso(), id);
  }

  delete(tenantId: string, id: string): boolean {
    return this.#delete.run(id, tenantId).changes > 0;
  }

  /** Active owners of the tenant (a tenant must keep at least one). */
  countActiveOwners(tenantId: string): number {
    return this.#countOwners.get(tenantId)!.n;
  }

  /** Active super-admins across all tenants (the installation must keep at least one). */
  countActiveSuperAdmins(): number {
    return this.#countSuperAdmins.get()!.n;
  }
}
