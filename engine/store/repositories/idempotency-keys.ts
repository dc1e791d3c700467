/**
 * Results of create requests made with an `Idempotency-Key`, so a retry gets the first result
 * instead of creating twice. The repository stores what it is given; the middleware
 * (`api/middleware/idempotency.ts`) decides what the key and the stored response are.
 */
import type { Db } from '../database.js';
import { nowIso } from '../ids.js';

/** A stored result under (tenant, principal, key). */
interface IdempotencyRecord {
  tenantId: string;
  principal: string;
  key: string;
  method: string;
  path: string;
  requestHash: string;
  status: number;
  response: string;
  createdAt: string;
}

interface Row {
  tenant_id: string;
  principal: string;
  key: string;
  method: string;
  path: string;
  request_hash: string;
  status: number;
  response: string;
  created_at: string;
}

/** The idempotency_keys table. */
export class IdempotencyKeysRepo {
  readonly #get;
  readonly #insert;
  readonly #delete;
  readonly #purge;

  constructor(db: Db) {
    this.#get = db.prepare<[string, string, string], Row>(
      'SELECT * FROM idempotency_keys WHERE tenant_id = ? AND principal = ? AND key = ?',
    );
    // OR REPLACE: an expired record under the same key is overwritten by the new result.
    this.#insert = db.prepare(
      `INSERT OR REPLACE INTO idempotency_keys
         (tenant_id, principal, key, method, path, request_hash, status, response, created_at)
       VALUES (@tenantId, @principal, @key, @method, @path, @requestHash, @status, @response, @createdAt)`,
    );
    this.#delete = db.prepare<[string, string, string]>(
      'DELETE FROM idempotency_keys WHERE tenant_id = ? AND principal = ? AND key = ?',
    );
    this.#purge = db.prepare<[string]>('DELETE FROM idempotency_keys WHERE created_at < ?');
  }

  get(tenantId: string, principal: string, key: string): IdempotencyRecord | undefined {
    const r = this.#get.get(tenantId, principal, key);
    return (
      r && {
        tenantId: r.tenant_id,
        principal: r.principal,
        key: r.key,
        method: r.method,
        path: r.path,
        requestHash: r.request_hash,
        status: r.status,
        response: r.response,
        createdAt: r.created_at,
      }
    );
  }

  save(record: Omit<IdempotencyRecord, 'createdAt'>): void {
    this.#insert.run({ ...record, createdAt: nowIso() });
  }

  delete(tenantId: string, principal: string, key: string): void {
    this.#delete.run(tenantId, principal, key);
  }

  /** Deletes records created before `before`; returns how many. */
  purgeOlderThan(before: string): number {
    return this.#purge.run(before).changes;
  }
}
