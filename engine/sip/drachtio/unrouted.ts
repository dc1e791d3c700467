/**
 * The answer to a request outside any dialog that no app routes. drachtio-server answers 503 to
 * all of them; RFC 3261 tells the cases apart, and so do we:
 *
 * - no app connected at all: 503, the service is down for now (§21.5.4), as drachtio-server;
 * - a method we recognise but no app serves (REGISTER, MESSAGE, SUBSCRIBE...): §8.2.1 "If the UAS
 *   recognizes but does not support the method, it MUST generate a 405 (Method Not Allowed)
 *   response ... The UAS MUST also add an Allow header field to the 405". RFC 4475 §3.3.7: for an
 *   endpoint that is no registrar, "A 405 Method Not Allowed is appropriate" for REGISTER;
 * - a method we do not recognise: 501 Not Implemented (§21.5.2: "the appropriate response when a
 *   UAS does not recognize the request method"), with Allow too (RFC 4475 §3.1.1.2: "Endpoints
 *   will generate a 501 listing the methods they understand in an Allow header field").
 */

/** Methods of RFC 3261 and its extensions (RFC 3262, 3265/6665, 3311, 3428, 3515, 3903, 6086). */
const KNOWN_METHODS = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE']);

/** Order of the Allow list: RFC 3261's methods first, as UAs usually write it. */
const ORDER = ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS'];

/**
 * The methods served, from the verbs apps route (lowercase, as in `route|invite`): a routed
 * INVITE brings what its dialogs carry, which the stack and the dialog's owner handle: ACK,
 * CANCEL, BYE and UPDATE (RFC 3311). With the engine's call control this is the Allow of its
 * 200 to OPTIONS: `INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE`.
 */
export function allowedMethods(routes: Iterable<string>): string {
  const set = new Set([...routes].map((r) => r.toUpperCase()).filter((m) => m !== ''));
  if (set.has('INVITE')) for (const m of ['ACK', 'CANCEL', 'BYE', 'UPDATE']) set.add(m);
  const rank = (m: string) => (ORDER.includes(m) ? ORDER.indexOf(m) : ORDER.length);
  return [...set].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).join(', ');
}

interface UnroutedAnswer {
  status: 405 | 501 | 503;
  reason: string;
  headers: [string, string][];
}

/** What a request of `method` gets when no app routes it; `routes`: every connected app's verbs, null when no app is connected. */
export function unroutedAnswer(method: string, routes: Iterable<string> | null): UnroutedAnswer {
  if (routes === null) return { status: 503, reason: 'Service Unavailable', headers: [] };
  const allow: [string, string][] = [['Allow', allowedMethods(routes)]];
  if (KNOWN_METHODS.has(method)) return { status: 405, reason: 'Method Not Allowed', headers: allow };
  return { status: 501, reason: 'Not Implemented', headers: allow };
}
