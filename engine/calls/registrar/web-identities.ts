/**
 * Short-lived SIP identities for browsers (`POST /api/v1/calls/web`): a random username and
 * password in a tenant's SIP domain, good until `expiresAt`. They live in memory only (a restart
 * ends them, as it ends every binding), count toward a per-tenant cap, and the registrar finds
 * them beside the stored SIP users (`lookup`). When one expires, REGISTER and INVITE digest with
 * it fail (403) and its bindings go; a call it placed goes on.
 */
import { randomBytes } from 'node:crypto';
import type { Scope } from '../../store/repositories/scoped.js';
import { aorOf, scopeOfSipDomain } from './sip-domain.js';
import type { SipUserCredentials, SipUserLookup } from './registrar.js';

/** Usernames of web identities: this prefix, then 20 hex digits (80 random bits). */
export const WEB_IDENTITY_PREFIX = 'web-';

export interface WebIdentity {
  id: string;
  scope: Scope;
  username: string;
  /** Shown once in the API answer; never logged. */
  password: string;
  aor: string;
  /** Epoch ms. */
  expiresAt: number;
  /** The Request-URI user it may call (`agent-<id>` or a number): its INVITEs elsewhere get 403. */
  callee: string;
}

/** Why an identity was not issued. */
export type IssueRefusal = { refused: 'cap'; retryAfterSeconds: number } | { refused: 'closed' };

interface Entry {
  identity: WebIdentity;
  timer: NodeJS.Timeout;
}

export class WebIdentities {
  /** By address-of-record (`sip:<username>@<tenant id>.<mode>`). */
  readonly #byAor = new Map<string, Entry>();
  #closed = false;

  constructor(
    /** Unexpired identities one tenant may hold (both modes). */
    private readonly tenantMax: number,
    /** Called when an identity expires (its bindings are removed there). */
    private readonly onExpired: (identity: WebIdentity) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * A new identity in `scope` for calls to `callee` (a Request-URI user), good for `ttlSeconds`;
   * a refusal when the tenant is at its cap.
   */
  issue(scope: Scope, ttlSeconds: number, callee: string): WebIdentity | IssueRefusal {
    if (this.#closed) return { refused: 'closed' };
    const mine = [...this.#byAor.values()].filter((e) => e.identity.scope.tenantId === scope.tenantId);
    if (mine.length >= this.tenantMax) {
      const soonest = Math.min(...mine.map((e) => e.identity.expiresAt));
      return { refused: 'cap', retryAfterSeconds: Math.max(1, Math.ceil((soonest - this.now()) / 1000)) };
    }
    const username = `${WEB_IDENTITY_PREFIX}${randomBytes(10).toString('hex')}`;
    const identity: WebIdentity = {
      id: randomBytes(8).toString('hex'),
      scope: { tenantId: scope.tenantId, mode: scope.mode },
      username,
      // 144 random bits, URL-safe: the digest secret for the identity's short life.
      password: randomBytes(18).toString('base64url'),
      aor: aorOf(scope, username),
      expiresAt: this.now() + ttlSeconds * 1000,
      callee,
    };
    const timer = setTimeout(() => this.#expire(identity.aor), ttlSeconds * 1000);
    timer.unref();
    this.#byAor.set(identity.aor, { identity, timer });
    return identity;
  }

  /** The unexpired identity of `sip:<user>@<host>`, as the registrar checks credentials. */
  lookup: SipUserLookup = ({ user, host }): SipUserCredentials | undefined => {
    if (!user.startsWith(WEB_IDENTITY_PREFIX) || !scopeOfSipDomain(host)) return undefined;
    const e = this.#byAor.get(`sip:${user}@${host.toLowerCase()}`);
    // The timer removes it on time; the clock check covers a timer that is late under load.
    if (!e || e.identity.expiresAt <= this.now()) return undefined;
    return { id: e.identity.id, username: e.identity.username, password: e.identity.password, onlyCalls: e.identity.callee };
  };

  /** Unexpired identities of a tenant (both modes). */
  countOf(tenantId: string): number {
    let n = 0;
    for (const e of this.#byAor.values()) if (e.identity.scope.tenantId === tenantId) n++;
    return n;
  }

  get size(): number {
    return this.#byAor.size;
  }

  /** Clears every identity and timer. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const e of this.#byAor.values()) clearTimeout(e.timer);
    this.#byAor.clear();
  }

  #expire(aor: string): void {
    const e = this.#byAor.get(aor);
    if (!e) return;
    this.#byAor.delete(aor);
    this.onExpired(e.identity);
  }
}

/** The registrar's lookup over several sources, the first that knows the user winning. */
export function firstLookup(...sources: SipUserLookup[]): SipUserLookup {
  return (aor) => {
    for (const source of sources) {
      const found = source(aor);
      if (found) return found;
    }
    return undefined;
  };
}
