/**
 * SSE tickets. A browser's EventSource cannot send headers, and an API key or access token in a
 * URL ends up in proxy logs, browser history and Referer headers. So the dashboard asks
 * `POST /api/v1/events/tickets` (authenticated as usual) for a ticket and opens
 * `GET /api/v1/events?ticket=…`. A ticket:
 * - is signed (HMAC-SHA256 with a key made at start, never stored: a restart voids all tickets);
 * - lives `realtime.ticketTtlSeconds` (60 s by default);
 * - is good once, and only for the event stream;
 * - names its caller (key or user, with the user's session), not its rights: the store is asked
 *   again when it is redeemed, so a key revoked or a session ended in between gets nothing.
 * EventSource reconnects with the same URL after a drop; the used ticket then answers 401 and the
 * dashboard gets a new one, resuming with `?lastEventId=`.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from '../../engine/store/store.js';
import type { Authenticator } from '../http/adapter.js';
import { AppError } from '../http/errors.js';
import type { AuthContext, RequestInfo } from '../http/route.js';
import { callerRef, currentCaller, type CallerRef } from './caller.js';

/** Above this many remembered ticket ids, expired ones are swept. */
const SWEEP_ABOVE = 1000;

/** Query parameters that would carry a credential in a URL: refused with a pointer to tickets. */
const credentialParams = ['apiKey', 'api_key', 'key', 'x-api-key', 'token', 'access_token', 'accessToken'];

interface TicketClaims extends CallerRef {
  /** Audience: what the ticket opens. */
  aud: 'events';
  /** Expiry, ms since the epoch. */
  exp: number;
  /** Nonce: makes each ticket unique and is remembered once redeemed. */
  n: string;
}

interface IssuedTicket {
  ticket: string;
  expiresAt: string;
  expiresIn: number;
}

export class EventTickets {
  readonly #key = randomBytes(32);
  readonly #used = new Map<string, number>();
  /** The caller each redeemed ticket stood for, so its stream is checked as that caller. */
  readonly #redeemed = new WeakMap<AuthContext, CallerRef>();

  constructor(
    private readonly store: Store,
    private readonly ttlSeconds: number,
    private readonly defaultRateLimit: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A ticket for `auth`; `authorization` is the request's header (a user's session goes along). */
  issue(auth: AuthContext, authorization?: string): IssuedTicket {
    const exp = this.now() + this.ttlSeconds * 1000;
    const claims: TicketClaims = { ...callerRef(auth, authorization), aud: 'events', exp, n: randomBytes(12).toString('base64url') };
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return { ticket: `${payload}.${this.#mac(payload)}`, expiresAt: new Date(exp).toISOString(), expiresIn: this.ttlSeconds };
  }

  /** The caller a ticket stands for, as the store knows it now; the ticket is then spent. */
  redeem(ticket: string): AuthContext {
    const [payload, mac, extra] = ticket.split('.');
    if (!payload || !mac || extra !== undefined) throw new AppError('authentication_error', 'Malformed ticket');
    const expected = Buffer.from(this.#mac(payload));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AppError('authentication_error', 'Invalid ticket');
    }
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as TicketClaims;
    const now = this.now();
    if (claims.aud !== 'events') throw new AppError('authentication_error', 'Invalid ticket');
    if (claims.exp <= now) throw new AppError('authentication_error', 'Ticket expired');
    if (this.#used.has(claims.n)) throw new AppError('authentication_error', 'Ticket already used');
    const auth = currentCaller(this.store, claims, this.defaultRateLimit);
    this.#remember(claims.n, claims.exp, now);
    this.#redeemed.set(auth, { kind: claims.kind, tenantId: claims.tenantId, id: claims.id, mode: claims.mode, session: claims.session });
    return auth;
  }

  /** The caller behind an AuthContext that came from a ticket (with the session it carried). */
  callerOf(auth: AuthContext): CallerRef | undefined {
    return this.#redeemed.get(auth);
  }

  /**
   * `inner`, plus `?ticket=` on `paths` when the request has no credential header. A credential
   * in those paths' query strings is refused, so nobody gets used to putting one there.
   */
  authenticator(inner: Authenticator, paths: ReadonlySet<string>): Authenticator {
    return (req: RequestInfo) => {
      if (!paths.has(req.url) || req.headers['x-api-key'] !== undefined || req.headers['authorization'] !== undefined) {
        return inner(req);
      }
      const query = new URLSearchParams(req.query);
      if (credentialParams.some((p) => query.has(p))) {
        throw new AppError('authentication_error', 'Credentials are not accepted in a URL: get a ticket from POST /api/v1/events/tickets');
      }
      const ticket = query.get('ticket');
      return ticket === null ? inner(req) : this.redeem(ticket);
    };
  }

  #mac(payload: string): string {
    return createHmac('sha256', this.#key).update(payload).digest('base64url');
  }

  #remember(nonce: string, exp: number, now: number): void {
    if (this.#used.size >= SWEEP_ABOVE) {
      for (const [n, e] of this.#used) if (e <= now) this.#used.delete(n);
    }
    this.#used.set(nonce, exp);
  }
}
