/**
 * Sign-in sessions. Logging in starts a session: a refresh-token family plus short-lived access
 * tokens that carry the session id (`sid`). Refreshing rotates: the refresh token is single-use,
 * and its successor joins the same family. Presenting a token that was already rotated means it
 * leaked (or the client is broken): the whole session ends. Signing out ends the session too, and
 * its access tokens stop working at once (the authenticator checks the session when it first
 * verifies a token, and its cached verdicts for the session are dropped).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../../config/logger.js';
import { newId, nowIso } from '../../engine/store/ids.js';
import type { User } from '../../engine/store/repositories/users.js';
import type { Store } from '../../engine/store/store.js';
import { AppError } from '../http/errors.js';
import type { TokenAuthenticator } from './authenticator.js';
import { dummyHash, verifyPassword } from './passwords.js';
import type { TokenService } from './tokens.js';

/** What login and refresh answer. */
interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  /** Seconds the access token is valid. */
  expiresIn: number;
  /** Seconds the refresh token is valid. */
  refreshExpiresIn: number;
}

/** Expired refresh tokens are deleted at most this often (on a login), not on every request. */
const PURGE_EVERY_MS = 3600_000;

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** Login, refresh, logout and ending a user's sessions, over the refresh_tokens table. */
export class Sessions {
  #lastPurge = 0;

  constructor(
    private readonly store: Store,
    private readonly tokens: TokenService,
    private readonly authenticator: Pick<TokenAuthenticator, 'forget' | 'forgetSession'>,
    private readonly log: Logger,
  ) {}

  /**
   * E-mail and password to a new session. A wrong e-mail and a wrong password get the same
   * answer after the same work (a hash is checked either way), so neither reveals which accounts exist.
   */
  async login(email: string, password: string): Promise<TokenPair> {
    const user = this.store.users.byEmail(email);
    const ok = await verifyPassword(password, user?.passwordHash ?? (await dummyHash));
    if (!user || !ok || user.status !== 'active') {
      throw new AppError('authentication_error', 'Invalid email or password');
    }
    this.assertTenantActive(user.tenantId);
    this.store.users.touchLogin(user.id);
    this.purgeExpired();
    return this.start(user);
  }

  /** A new session for `user` (also used by tooling that signs people in without a password). */
  async start(user: Pick<User, 'id' | 'tenantId' | 'role' | 'superAdmin'>): Promise<TokenPair> {
    const familyId = newId();
    const refresh = await this.issueRefresh(user.id, familyId);
    this.store.refreshTokens.create(refresh.row);
    return this.pair(user, familyId, refresh.token, refresh.expiresIn);
  }

  /** A refresh token to a new pair; the presented token is spent. */
  async refresh(token: string): Promise<TokenPair> {
    const row = await this.find(token);
    if (row.revokedAt) {
      if (row.replacedBy) this.endOnReuse(row.familyId, row.userId);
      throw new AppError('authentication_error', 'Refresh token revoked');
    }
    if (row.expiresAt <= nowIso()) throw new AppError('authentication_error', 'Invalid or expired refresh token');
    const user = this.store.users.get(row.userId);
    if (!user || user.status !== 'active') throw new AppError('authentication_error', 'Invalid or expired refresh token');
    this.assertTenantActive(user.tenantId);
    const next = await this.issueRefresh(user.id, row.familyId);
    // Lost a race with another use of the same token: that is reuse too.
    if (!this.store.refreshTokens.rotate(row.id, next.row)) this.endOnReuse(row.familyId, row.userId);
    return this.pair(user, row.familyId, next.token, next.expiresIn);
  }

  /** Ends the session the refresh token belongs to (whether or not the token was already used). */
  async logout(token: string): Promise<void> {
    const row = await this.find(token);
    this.store.refreshTokens.revokeFamily(row.familyId);
    this.authenticator.forgetSession(row.familyId);
  }

  /** Ends every session of a user (password changed, account disabled or deleted). */
  endAllFor(userId: string): void {
    if (this.store.refreshTokens.revokeUser(userId) > 0) this.authenticator.forget();
  }

  /** The stored row of a validly signed refresh token, or `authentication_error`. */
  private async find(token: string) {
    const invalid = () => new AppError('authentication_error', 'Invalid or expired refresh token');
    const claims = await this.tokens.verifyRefresh(token).catch(() => {
      throw invalid();
    });
    const row = this.store.refreshTokens.get(claims.jti);
    if (!row || row.familyId !== claims.sid || row.userId !== claims.sub) throw invalid();
    if (!timingSafeEqual(Buffer.from(row.tokenHash, 'hex'), sha256(token))) throw invalid();
    return row;
  }

  private endOnReuse(familyId: string, userId: string): never {
    this.store.refreshTokens.revokeFamily(familyId);
    this.authenticator.forgetSession(familyId);
    this.log.warn({ userId, sessionId: familyId }, 'refresh token reused; session ended');
    throw new AppError('authentication_error', 'Refresh token already used; the session has been ended');
  }

  private assertTenantActive(tenantId: string): void {
    if (this.store.tenants.get(tenantId)?.status !== 'active') {
      throw new AppError('authentication_error', 'Tenant suspended');
    }
  }

  private async issueRefresh(userId: string, familyId: string) {
    const id = newId();
    const { token, expiresIn, expiresAt } = await this.tokens.signRefresh({ sub: userId, jti: id, sid: familyId });
    const row = { id, userId, familyId, tokenHash: sha256(token).toString('hex'), expiresAt: expiresAt.toISOString() };
    return { token, expiresIn, row };
  }

  private async pair(
    user: Pick<User, 'id' | 'tenantId' | 'role' | 'superAdmin'>,
    sid: string,
    refreshToken: string,
    refreshExpiresIn: number,
  ): Promise<TokenPair> {
    const access = await this.tokens.signAccess({ sub: user.id, tid: user.tenantId, role: user.role, sa: user.superAdmin, sid });
    return { accessToken: access.token, refreshToken, tokenType: 'Bearer', expiresIn: access.expiresIn, refreshExpiresIn };
  }

  private purgeExpired(): void {
    const now = Date.now();
    if (now - this.#lastPurge < PURGE_EVERY_MS) return;
    this.#lastPurge = now;
    this.store.refreshTokens.purgeExpired(new Date(now).toISOString());
  }
}
