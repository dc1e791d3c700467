/**
 * API keys: stored as a SHA-256 hash (the key is random, 190 bits: a slow hash buys nothing),
 * shown in full once at creation, listed by a display prefix.
 */
import type { Mode } from '../mode.js';
import type { Db } from '../database.js';
import { json, newId, nowIso } from '../ids.js';
import type { Role } from './users.js';

export interface ApiKey {
  id: string;
  tenantId: string;
  name: string;
  mode: Mode;
  role: Role;
  prefix: string;
  scopes: string[] | null;
  rateLimit: number | null;
  createdBy: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  createdAt: string;
}

interface Row {
  id: string;
  tenant_id: string;
  name: string;
  mode: Mode;
  role: Role;
  prefix: string;
  key_hash: string;
  scopes: string | null;
  rate_limit: number | null;
  created_by: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  created_at: string;
}

const toKey = (r: Row): ApiKey => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  mode: r.mode,
  role: r.role,
  prefix: r.prefix,
  scopes: json<string[] | null>(r.scopes),
  rateLimit: r.rate_limit,
  createdBy: r.created_by,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
  createdAt: r.created_at,
});

export class ApiKeysRepo {
  readonly #insert;
  readonly #byHash;
  readonly #get;
  readonly #list;
  readonly #count;
  readonly #revoke;
  readonly #touch;

  constructor(db: Db) {
    this.#insert = db.prepare(
      `INSERT INTO api_keys (id, tenant_id, name, mode, role, prefix, key_hash, scopes, rate_limit, created_by, created_at)
       VALUES (@id, @tenantId, @name, @mode, @role, @prefix, @keyHash, @scopes, @rateLimit, @createdBy, @createdAt)`,
    );
    this.#byHash = db.prepare<[string], Row>('SELECT * FROM api_keys WHERE key_hash = ?');
    this.#get = db.prepare<[string, string], Row>('SELECT * FROM api_keys WHERE id = ? AND tenant_id = ?');
    // mode NULL = both modes.
    this.#list = db.prepare<[string, Mode | null, Mode | null, number, number], Row>(
      `SELECT * FROM api_keys WHERE tenant_id = ? AND (? IS NULL OR mode = ?)
       ORDER BY created_at, id LIMIT ? OFFSET ?`,
    );
    this.#count = db.prepare<[string, Mode | null, Mode | null], { n: number }>(
      'SELECT COUNT(*) AS n FROM api_keys WHERE tenant_id = ? AND (? IS NULL OR mode = ?)',
    );
    this.#revoke = db.prepare<[string, string, string]>(
      'UPDATE api_keys SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL',
    );
    this.#touch = db.prepare<[string, string]>('UPDATE api_keys SET last_used_at = ? WHERE id = ?');
  }

  create(input: {
    tenantId: string;
    name: string;
    mode: Mode;
    role?: Role;
    prefix: string;
    keyHash: string;
    scopes?: string[] | null;
    rateLimit?: number | null;
    createdBy?: string | null;
  }): ApiKey {
    const k: ApiKey = {
      id: newId(),
      tenantId: input.tenantId,
      name: input.name,
      mode: input.mode,
      role: input.role ?? 'admin',
      prefix: input.prefix,
      scopes: input.scopes ?? null,
      rateLimit: input.rateLimit ?? null,
      createdBy: input.createdBy ?? null,
      lastUsedAt: null,
      revokedAt: null,
      createdAt: nowIso(),
    };
    this.#insert.run({ ...k, keyHash: input.keyHash, scopes: k.scopes ? JSON.stringify(k.scopes) : null });
    return k;
  }

  /** The key with this hash, revoked or not (the caller decides what revoked means). */
  byHash(hash: string): ApiKey | undefined {
    const r = this.#byHash.get(hash);
    return r && toKey(r);
  }

  get(tenantId: string, id: string): ApiKey | undefined {
    const r = this.#get.get(id, tenantId);
    return r && toKey(r);
  }

  /** The tenant's keys, oldest first; only those of `mode` when given. */
  list(tenantId: string, limit: number, offset: number, mode?: Mode): { items: ApiKey[]; total: number } {
    const m = mode ?? null;
    return {
      items: this.#list.all(tenantId, m, m, limit, offset).map(toKey),
      total: this.#count.get(tenantId, m, m)!.n,
    };
  }

  revoke(tenantId: string, id: string): boolean {
    return this.#revoke.run(nowIso(), id, tenantId).changes > 0;
  }

  touch(id: string, at: string): void {
    this.#touch.run(at, id);
  }
}
