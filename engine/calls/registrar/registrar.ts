/**
 * The registrar (RFC 3261 §10.3) on drachtio-srf: REGISTER requests to the engine are
 * authenticated by digest (§22.4, the `DigestVerifier` trunks use) against the SIP user the
 * address-of-record names, then applied to the in-memory `Bindings`. Who a user is comes from the
 * injected `lookup` (the tenant rule lives there); this module knows only the protocol.
 *
 * §10.3 in order: step 1-2 (Require, the domain) are left to the stack and lookup; step 3-4:
 * 401 with a challenge until credentials for the AOR's own user verify (stale nonce: a fresh
 * challenge with `stale=true`; wrong ones: 403); steps 5-7 in `Bindings.register`; step 8: 200
 * with every current binding and its remaining seconds, and a Date header.
 */
import type Srf from 'drachtio-srf';
import type { Logger } from '../../../config/logger.js';
import { parseNameAddr } from '../../sip/message/name-addr.js';
import { parseDigest, DigestVerifier } from '../digest.js';
import { Bindings, contactsOf, type Binding, type ExpiryRules, type Flow } from './bindings.js';

/** The SIP user an address-of-record names, with the password its digest is checked against. */
export interface SipUserCredentials {
  /** The user's own id (for the API's view of its registrations). */
  id: string;
  username: string;
  password: string;
  /**
   * The only Request-URI user this user may INVITE (a web identity is for one agent or number);
   * absent: any in its domain.
   */
  onlyCalls?: string;
}

/** Finds the SIP user of `sip:<user>@<host>`, or undefined (see the tenant rule of the caller). */
export type SipUserLookup = (aor: { user: string; host: string }) => SipUserCredentials | undefined;

export interface RegistrarOptions {
  realm: string;
  expiry: ExpiryRules;
  lookup: SipUserLookup;
  log: Logger;
}

/** What drachtio-srf hands a REGISTER handler, as used here. */
type RegisterReq = Srf.SrfRequest & { source_address: string; source_port: number; protocol: string };
/** drachtio-srf's send with a reason phrase, missing from its typings. */
type RegisterRes = Srf.SrfResponse & { send(status: number, reason: string): void };
/** drachtio-srf's REGISTER route, missing from its typings. */
type SrfWithRegister = Srf & { register(fn: (req: Srf.SrfRequest, res: Srf.SrfResponse) => void): void };

export class Registrar {
  readonly bindings: Bindings;
  readonly #verifier: DigestVerifier;

  constructor(private readonly opts: RegistrarOptions) {
    this.#verifier = new DigestVerifier(opts.realm);
    this.bindings = new Bindings(opts.expiry, (b, why) => opts.log.info({ aor: b.aor, contact: b.contact, why }, 'sip binding removed'));
  }

  /** Routes REGISTER on `srf` to this registrar. */
  listen(srf: Srf): void {
    (srf as SrfWithRegister).register((req, res) => {
      try {
        this.#onRegister(req as RegisterReq, res as RegisterRes);
      } catch (err) {
        this.opts.log.error({ err }, 'register failed');
        if (!res.finalResponseSent) res.send(500);
      }
    });
  }

  /**
   * §22.4 for a request on behalf of `aor`: its digest credentials (`header`, from Authorization
   * or Proxy-Authorization) must be those of the SIP user the AOR names. `challenge` (none given)
   * and `stale` (a good answer to an old nonce) come with the challenge to send.
   */
  authenticate(method: string, header: string | undefined, aor: { user: string; host: string }): { verdict: 'ok'; user: SipUserCredentials } | { verdict: 'challenge' | 'stale'; challenge: string } | { verdict: 'bad' } {
    const creds = parseDigest(header);
    if (!creds) return { verdict: 'challenge', challenge: this.#verifier.challenge() };
    const user = this.opts.lookup(aor);
    // §10.3 step 4: the authenticated user must be the one the AOR names.
    const verdict = user && creds.username === user.username ? this.#verifier.verify(method, creds, user.password) : 'bad';
    if (verdict === 'stale') return { verdict, challenge: this.#verifier.challenge(true) };
    return verdict === 'ok' && user ? { verdict, user } : { verdict: 'bad' };
  }

  /** The current bindings of an address-of-record (`sip:<user>@<host>`, host in lower case). */
  registrationsOf(aor: string): Binding[] {
    return this.bindings.list(aor);
  }

  /** Removes every binding of `aor` (its SIP user was deleted). */
  unbind(aor: string): void {
    this.bindings.removeAor(aor);
  }

  /** The flow (a closed WebSocket) is gone: so are its bindings. */
  flowClosed(flow: Flow): void {
    const n = this.bindings.removeFlow(flow);
    if (n) this.opts.log.info({ flow, removed: n }, 'sip bindings of a closed flow removed');
  }

  close(): void {
    this.bindings.close();
  }

  #onRegister(req: RegisterReq, res: RegisterRes): void {
    let to;
    try {
      to = parseNameAddr(req.get('To'), 'To').uri;
    } catch (e) {
      res.send(400, `Bad To: ${(e as Error).message}`.slice(0, 100));
      return;
    }
    // §10.3 step 3: "If the address-of-record in the To header field is not valid for the domain
    // in the Request-URI, the registrar MUST send a 404 (Not Found)". One that is no sip URI with
    // a user is valid for no domain; other unknown users are told apart only after the challenge.
    if (to.kind !== 'sip' || !to.user) {
      res.send(404);
      return;
    }
    const aor = { user: to.user, host: to.host.toLowerCase() };
    const auth = this.authenticate('REGISTER', req.has('Authorization') ? req.get('Authorization') : undefined, aor);
    if (auth.verdict === 'challenge' || auth.verdict === 'stale') {
      res.send(401, { headers: { 'WWW-Authenticate': auth.challenge } });
      return;
    }
    if (auth.verdict === 'bad') {
      this.opts.log.info({ aor: `${aor.user}@${aor.host}`, remote: req.source_address }, 'register refused: bad credentials');
      res.send(403);
      return;
    }
    const key = `sip:${aor.user}@${aor.host}`;
    const cseq = Number(/^\s*(\d+)/.exec(req.get('CSeq'))?.[1] ?? 0);
    const result = this.bindings.register({
      aor: key,
      contacts: contactValues(req),
      expiresHeader: req.has('Expires') ? req.get('Expires') : undefined,
      callId: req.get('Call-ID'),
      cseq,
      flow: { protocol: req.protocol, address: req.source_address, port: req.source_port },
      userAgent: req.has('User-Agent') ? req.get('User-Agent') : null,
    });
    if (result.status === 423) {
      res.send(423, { headers: { 'Min-Expires': String(result.minExpires) } });
    } else if (result.status !== 200) {
      res.send(result.status, result.reason);
    } else {
      const contacts = contactsOf(result.bindings);
      this.opts.log.info({ aor: key, bindings: contacts.length }, 'sip registration');
      res.send(200, { headers: { ...(contacts.length ? { Contact: contacts.join(', ') } : {}), Date: new Date().toUTCString() } });
    }
  }
}

/** Every Contact header value of the request (drachtio-srf joins repeated headers with commas). */
function contactValues(req: Srf.SrfRequest): string[] {
  return req.has('Contact') ? [req.get('Contact')] : [];
}
