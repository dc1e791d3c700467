/**
 * Which trunk an inbound INVITE came through: its source address in a trunk's allowlist, or
 * digest credentials of a trunk that has them (RFC 3261 §22.2: challenge with 401). Anything
 * else is refused with 403.
 */
import type { SipTrunk, SipTrunksRepo } from '../store/repositories/sip-trunks.js';
import { DigestVerifier, parseDigest } from './digest.js';

type TrunkVerdict =
  | { kind: 'trunks'; trunks: SipTrunk[] }
  | { kind: 'challenge'; header: string }
  | { kind: 'forbidden'; why: string };

interface InviteFacts {
  method: string;
  sourceAddress: string;
  /** Authorization header (a UAS challenges with 401/WWW-Authenticate, RFC 3261 §22.2). */
  authorization: string | undefined;
}

export class InboundAuth {
  readonly #digest: DigestVerifier;

  constructor(
    private readonly trunks: SipTrunksRepo,
    realm: string,
  ) {
    this.#digest = new DigestVerifier(realm);
  }

  check(facts: InviteFacts): TrunkVerdict {
    const byAddress = this.trunks.matchInboundIp(facts.sourceAddress);
    if (byAddress.length) return { kind: 'trunks', trunks: byAddress };
    if (!this.trunks.hasInboundCredentials()) return { kind: 'forbidden', why: 'source not in any trunk allowlist' };
    const creds = parseDigest(facts.authorization);
    if (!creds) return { kind: 'challenge', header: this.#digest.challenge() };
    // Several tenants may use one username: the password decides.
    let stale = false;
    const matching = this.trunks.findByInboundUsername(creds.username).filter((t) => {
      const verdict = t.inbound.password ? this.#digest.verify(facts.method, creds, t.inbound.password) : 'bad';
      stale ||= verdict === 'stale';
      return verdict === 'ok';
    });
    if (matching.length) return { kind: 'trunks', trunks: matching };
    if (stale) return { kind: 'challenge', header: this.#digest.challenge(true) };
    return { kind: 'forbidden', why: `digest credentials of ${creds.username} do not match` };
  }
}

/**
 * The dialled number from the Request-URI user (or the To user when the Request-URI has none),
 * with the forms carriers send: `+15550001111`, `15550001111`, `tel:` URIs, `;user=phone`.
 */
export function dialledCandidates(requestUri: string, to: string): string[] {
  const user = uriUser(requestUri) ?? uriUser(to);
  if (!user) return [];
  const clean = safeDecode(user.split(';')[0]!).replace(/[\s().-]/g, '');
  const out = [clean];
  if (/^\d{8,15}$/.test(clean)) out.push(`+${clean}`);
  if (/^\+\d{8,15}$/.test(clean)) out.push(clean.slice(1));
  return out;
}

/** A malformed escape (`%ZZ`) in a dialled user is kept as sent: it then matches no number (404). */
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function uriUser(s: string): string | undefined {
  const uri = /<([^>]*)>/.exec(s)?.[1] ?? s;
  const tel = /^\s*tel:([^;>]+)/i.exec(uri);
  if (tel) return tel[1];
  const sip = /^\s*sips?:([^@;>]+)@/i.exec(uri);
  return sip?.[1];
}
