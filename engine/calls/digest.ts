/**
 * SIP digest authentication on the UAS side (RFC 3261 §22.4, RFC 2617 with qop=auth, MD5), for
 * trunks that authenticate with credentials. Nonces are stateless: a timestamp and an HMAC of it,
 * so a challenge needs no storage and a stale one is recognised.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A nonce older than this is stale (the peer retries with a fresh challenge). */
const NONCE_TTL_MS = 5 * 60_000;

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

interface DigestCredentials {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  algorithm?: string;
  qop?: string;
  nc?: string;
  cnonce?: string;
  opaque?: string;
}

/** Parses `Digest k="v", k2=v2` (RFC 2617 §3.2.2); undefined when it is not a digest header. */
export function parseDigest(header: string | undefined): DigestCredentials | undefined {
  if (!header) return undefined;
  const m = /^\s*Digest\s+(.*)$/is.exec(header);
  if (!m) return undefined;
  const out: Record<string, string> = {};
  const re = /([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (let p = re.exec(m[1]!); p; p = re.exec(m[1]!)) out[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? '';
  if (!out.username || !out.nonce || !out.uri || !out.response || out.realm === undefined) return undefined;
  return out as unknown as DigestCredentials;
}

export class DigestVerifier {
  readonly #key = randomBytes(32);

  constructor(readonly realm: string) {}

  /** The challenge header value for a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate). */
  challenge(stale = false): string {
    const nonce = this.#nonce(Date.now());
    return `Digest realm="${this.realm}", nonce="${nonce}", algorithm=MD5, qop="auth"${stale ? ', stale=true' : ''}`;
  }

  /**
   * Checks credentials against a password. `stale` means the answer was right for an expired
   * nonce: challenge again with stale=true rather than refuse.
   */
  verify(method: string, creds: DigestCredentials, password: string): 'ok' | 'stale' | 'bad' {
    if (creds.realm !== this.realm) return 'bad';
    if (creds.algorithm && creds.algorithm.toUpperCase() !== 'MD5') return 'bad';
    const issued = this.#checkNonce(creds.nonce);
    if (issued === undefined) return 'bad';
    const ha1 = md5(`${creds.username}:${creds.realm}:${password}`);
    const ha2 = md5(`${method}:${creds.uri}`);
    const expected =
      creds.qop === 'auth'
        ? md5(`${ha1}:${creds.nonce}:${creds.nc ?? ''}:${creds.cnonce ?? ''}:auth:${ha2}`)
        : md5(`${ha1}:${creds.nonce}:${ha2}`);
    const a = Buffer.from(expected);
    const b = Buffer.from(creds.response.toLowerCase());
    if (a.length !== b.length || !timingSafeEqual(a, b)) return 'bad';
    return Date.now() - issued > NONCE_TTL_MS ? 'stale' : 'ok';
  }

  #nonce(t: number): string {
    const ts = t.toString(16);
    return `${ts}.${createHmac('sha256', this.#key).update(ts).digest('base64url').slice(0, 22)}`;
  }

  /** The nonce's issue time if we issued it. */
  #checkNonce(nonce: string): number | undefined {
    const [ts] = nonce.split('.');
    if (!ts || !/^[0-9a-f]+$/.test(ts)) return undefined;
    const t = parseInt(ts, 16);
    const expected = Buffer.from(this.#nonce(t));
    const given = Buffer.from(nonce);
    return expected.length === given.length && timingSafeEqual(expected, given) ? t : undefined;
  }
}
