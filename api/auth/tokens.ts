/**
 * Access and refresh tokens (JWT, through jose). The algorithm is pinned: HS256 with a secret, or
 * the algorithm of the configured key pair (RS256, ES256 or EdDSA). Verification checks the
 * signature, exp, nbf, iss, aud and the token type (`typ` claim), so a refresh token is never
 * accepted as an access token or the other way round.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createPrivateKey, randomBytes } from 'node:crypto';
import * as jose from 'jose';
import type { Config } from '../../config/schema.js';
import type { Role } from '../../engine/store/repositories/users.js';

export interface AccessClaims {
  /** User id. */
  sub: string;
  /** Tenant id. */
  tid: string;
  role: Role;
  /** Super-admin. */
  sa: boolean;
  /** Session: the refresh-token family the token was issued under (revoked on sign-out). */
  sid: string;
}

interface RefreshClaims {
  /** User id. */
  sub: string;
  /** The token's id: its row in refresh_tokens. */
  jti: string;
  /** Session (refresh-token family). */
  sid: string;
}

type Key = jose.CryptoKey | Uint8Array;

export class TokenService {
  private constructor(
    private readonly alg: string,
    private readonly signKey: Key,
    private readonly verifyKey: Key,
    private readonly auth: Config['auth'],
  ) {}

  /**
   * Keys from config: the key-file pair, the secret, or a secret generated on first start and
   * kept beside the database (mode 0600) so tokens survive restarts.
   */
  static async create(config: Pick<Config, 'auth' | 'database'>): Promise<TokenService> {
    const a = config.auth;
    if (a.jwtPrivateKeyFile && a.jwtPublicKeyFile) {
      const priv = fs.readFileSync(a.jwtPrivateKeyFile, 'utf8');
      const pub = fs.readFileSync(a.jwtPublicKeyFile, 'utf8');
      const alg = algorithmOf(priv);
      return new TokenService(alg, await jose.importPKCS8(priv, alg), await jose.importSPKI(pub, alg), a);
    }
    const secret = new TextEncoder().encode(a.jwtSecret ?? generatedSecret(config.database.path));
    return new TokenService('HS256', secret, secret, a);
  }

  get algorithm(): string {
    return this.alg;
  }

  async signAccess(claims: AccessClaims): Promise<{ token: string; expiresIn: number }> {
    const expiresIn = this.auth.accessTokenTtlSeconds;
    const token = await new jose.SignJWT({ tid: claims.tid, role: claims.role, sa: claims.sa, sid: claims.sid, typ: 'access' })
      .setProtectedHeader({ alg: this.alg, typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuer(this.auth.jwtIssuer)
      .setAudience(this.auth.jwtAudience)
      .setIssuedAt()
      .setNotBefore('0s')
      .setExpirationTime(`${expiresIn}s`)
      .setJti(randomBytes(12).toString('base64url'))
      .sign(this.signKey);
    return { token, expiresIn };
  }

  /** The claims of a valid access token; throws (any jose error) otherwise. */
  async verifyAccess(token: string): Promise<AccessClaims> {
    const payload = await this.verify(token);
    if (
      payload.typ !== 'access' ||
      typeof payload.tid !== 'string' ||
      typeof payload.role !== 'string' ||
      typeof payload.sid !== 'string'
    ) {
      throw new Error('not an access token');
    }
    return { sub: payload.sub!, tid: payload.tid, role: payload.role as Role, sa: payload.sa === true, sid: payload.sid };
  }

  /** A refresh token for the row `claims.jti`, valid `auth.refreshTokenTtlSeconds`. */
  async signRefresh(claims: RefreshClaims): Promise<{ token: string; expiresIn: number; expiresAt: Date }> {
    const expiresIn = this.auth.refreshTokenTtlSeconds;
    const iat = Math.floor(Date.now() / 1000);
    const token = await new jose.SignJWT({ sid: claims.sid, typ: 'refresh' })
      .setProtectedHeader({ alg: this.alg, typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuer(this.auth.jwtIssuer)
      .setAudience(this.auth.jwtAudience)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + expiresIn)
      .setJti(claims.jti)
      .sign(this.signKey);
    return { token, expiresIn, expiresAt: new Date((iat + expiresIn) * 1000) };
  }

  /** The claims of a valid refresh token (signature and expiry only: the store decides the rest). */
  async verifyRefresh(token: string): Promise<RefreshClaims> {
    const payload = await this.verify(token, ['jti']);
    if (payload.typ !== 'refresh' || typeof payload.sid !== 'string') throw new Error('not a refresh token');
    return { sub: payload.sub!, jti: payload.jti!, sid: payload.sid };
  }

  private async verify(token: string, extra: string[] = []): Promise<jose.JWTPayload> {
    const { payload } = await jose.jwtVerify(token, this.verifyKey, {
      algorithms: [this.alg],
      issuer: this.auth.jwtIssuer,
      audience: this.auth.jwtAudience,
      requiredClaims: ['sub', 'exp', 'iat', ...extra],
    });
    return payload;
  }
}

function algorithmOf(pem: string): string {
  const k = createPrivateKey(pem);
  switch (k.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'ec':
      return 'ES256';
    case 'ed25519':
      return 'EdDSA';
    default:
      throw new Error(`unsupported JWT key type ${k.asymmetricKeyType ?? 'unknown'}`);
  }
}

function generatedSecret(dbPath: string): string {
  const file = path.join(path.dirname(path.resolve(dbPath)), 'jwt-secret');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const secret = randomBytes(48).toString('base64url');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  try {
    fs.writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch (e) {
    // Another process wrote it first: use theirs.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return fs.readFileSync(file, 'utf8').trim();
    throw e;
  }
}
