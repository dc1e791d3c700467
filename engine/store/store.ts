/**
 * The repositories over the one database, built once: each prepares its statements at
 * construction, so a request pays only for binding and stepping.
 */
import type { Db } from './database.js';
import { ApiKeysRepo } from './repositories/api-keys.js';
import { IdempotencyKeysRepo } from './repositories/idempotency-keys.js';
import { RefreshTokensRepo } from './repositories/refresh-tokens.js';
import { TenantsRepo } from './repositories/tenants.js';
import { UsersRepo } from './repositories/users.js';

export class Store {
  readonly tenants: TenantsRepo;
  readonly users: UsersRepo;
  readonly apiKeys: ApiKeysRepo;
  readonly refreshTokens: RefreshTokensRepo;
  readonly idempotencyKeys: IdempotencyKeysRepo;

  constructor(readonly db: Db) {
    this.tenants = new TenantsRepo(db);
    this.users = new UsersRepo(db);
    this.apiKeys = new ApiKeysRepo(db);
    this.refreshTokens = new RefreshTokensRepo(db);
    this.idempotencyKeys = new IdempotencyKeysRepo(db);
  }
}
