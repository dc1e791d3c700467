/**
 * Refresh tokens, stored as a SHA-256 hash. Each belongs to a family (one sign-in session):
 * using a token revokes it and issues its successor in the same family; presenting a token that
 * was already replaced revokes the whole family (the token was stolen, or the client is broken).
 */
import type { Db } from '../database.js';
import { nowIso } from '../ids.js';

/** A stored refresh token (its hash stays in the repository). */
interface RefreshToken {
  id: string;
  userId: string;
  familyId: string;
  expiresAt: string;
  revokedAt: string | null;
  /** The token that replaced this one, when it was rotated (as opposed to revoked). */
  replacedBy: string | null;
  createdAt: string;
}

interface Row {
  id: string;
  user_id: string;
  family_id: string;
  token_hash: string;
  expires_at: string;
  revoked_at: string | null;
  replaced_by: string | null;
  created_at: string;
}

const toToken = (r: Row): RefreshToken => ({
  id: r.id,
  userId: r.user_id,
  familyId: r.family_id,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  replacedBy: r.replaced_by,
  createdAt: r.created_at,
});

interface NewRefreshToken {
  /** The token's own id (its `jti`), chosen by the caller so it can be signed into the token. */
  id: string;
  userId: string;
  familyId: string;
  tokenHash: string;
  expiresAt: string;
}

/** The refresh_tokens table. */
export class RefreshTokensRepo {
  readonly #insert;
  readonly #get;
  readonly #markReplaced;
  readonly #revokeFamily;
  readonly #revokeUser;
  readonly #familyLive;
  readonly #purge;
  readonly #rotate;

  constructor(db: Db) {
    this.#insert = db.prepare(
      `INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, created_at)
       VALUES (@id, @userId, @familyId, @tokenHash, @expiresAt, @createdAt)`,
    );
    this.#get = db.prepare<[string], Row>('SELECT * FROM refresh_tokens WHERE id = ?');
    this.#markReplaced = db.prepare<[string, string, string]>(
      'UPDATE refresh_tokens SET revoked_at = ?, replaced_by = ? WHERE id = ? AND revoked_at IS NULL',
    );
    this.#revokeFamily = db.prepare<[string, string]>(
      'UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL',
    );
    this.#revokeUser = db.prepare<[string, string]>(
      'UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL',
    );
    this.#familyLive = db.prepare<[string, string], { one: number }>(
      'SELECT 1 AS one FROM refresh_tokens WHERE family_id = ? AND revoked_at IS NULL AND expires_at > ? LIMIT 1',
    );
    this.#purge = db.prepare<[string]>('DELETE FROM refresh_tokens WHERE expires_at < ?');
    this.#rotate = db.transaction((oldId: string, next: NewRefreshToken, at: string): boolean => {
      if (this.#markReplaced.run(at, next.id, oldId).changes !== 1) return false;
      this.#insert.run({ ...next, createdAt: at });
      return true;
    });
  }

  create(input: NewRefreshToken): void {
    this.#insert.run({ ...input, createdAt: nowIso() });
  }

  /** The token with this id, with its stored hash for the caller to compare. */
  get(id: string): (RefreshToken & { tokenHash: string }) | undefined {
    const r = this.#get.get(id);
    return r && { ...toToken(r), tokenHash: r.token_hash };
  }

  /**
   * Replaces `oldId` by `next` atomically. False when `oldId` was already revoked or replaced:
   * of two concurrent uses of one token, exactly one wins.
   */
  rotate(oldId: string, next: NewRefreshToken): boolean {
    return this.#rotate.immediate(oldId, next, nowIso());
  }

  /** Revokes every live token of a session; returns how many. */
  revokeFamily(familyId: string): number {
    return this.#revokeFamily.run(nowIso(), familyId).changes;
  }

  /** Revokes every live token of a user (password change, disabled account). */
  revokeUser(userId: string): number {
    return this.#revokeUser.run(nowIso(), userId).changes;
  }

  /** Whether the session still has a live, unexpired token (i.e. it was not signed out). */
  familyLive(familyId: string): boolean {
    return this.#familyLive.get(familyId, nowIso()) !== undefined;
  }

  /** Deletes tokens that expired before `before`; returns how many. */
  purgeExpired(before: string): number {
    return this.#purge.run(before).changes;
  }
}
