/**
 * Header field names: compact forms (RFC 3261 §7.3.3 and the registry of later RFCs), canonical
 * spelling for output, and which headers may carry comma-separated lists (§7.3.1).
 * Names compare case-insensitively (§7.3.1); a header's key is its lower-case long form.
 */

/** Compact form -> long form (lower case). §7.3.3, plus RFC 3265, 3515, 3892, 3841, 4028, 4474. */
const COMPACT: Readonly<Record<string, string>> = {
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
};

/** Output spelling of known headers, by key. Names not listed keep the spelling they came with. */
const CANONICAL: Readonly<Record<string, string>> = Object.fromEntries(
  [
    'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow',
    'Allow-Events', 'Authentication-Info', 'Authorization', 'Call-ID', 'Call-Info', 'Contact',
    'Content-Disposition', 'Content-Encoding', 'Content-Language', 'Content-Length',
    'Content-Type', 'CSeq', 'Date', 'Error-Info', 'Event', 'Expires', 'From', 'Identity',
    'Identity-Info', 'In-Reply-To', 'Max-Forwards', 'MIME-Version', 'Min-Expires', 'Min-SE',
    'Organization', 'P-Asserted-Identity', 'P-Preferred-Identity', 'Path', 'Priority', 'Privacy',
    'Proxy-Authenticate', 'Proxy-Authorization', 'Proxy-Require', 'RAck', 'Reason',
    'Record-Route', 'Refer-To', 'Referred-By', 'Reject-Contact', 'Replaces', 'Reply-To',
    'Request-Disposition', 'Require', 'Retry-After', 'Route', 'RSeq', 'Server', 'Service-Route',
    'Session-Expires', 'SIP-ETag', 'SIP-If-Match', 'Subject', 'Subscription-State', 'Supported',
    'Timestamp', 'To', 'Unsupported', 'User-Agent', 'Via', 'Warning', 'WWW-Authenticate',
  ].map((n) => [n.toLowerCase(), n]),
);

/**
 * Headers whose grammar is `#(value)` and may therefore be split at top-level commas (§7.3.1).
 * WWW-Authenticate, Authorization and the Proxy- pair are excluded on purpose: "their values
 * contain commas ... and MUST NOT be combined" (§7.3.1). Date contains a comma too.
 */
const LIST = new Set([
  'accept', 'accept-contact', 'accept-encoding', 'accept-language', 'alert-info', 'allow',
  'allow-events', 'call-info', 'contact', 'content-encoding', 'content-language', 'error-info',
  'in-reply-to', 'p-asserted-identity', 'p-preferred-identity', 'path', 'privacy', 'proxy-require',
  'reason', 'record-route', 'reject-contact', 'require', 'route', 'service-route', 'supported',
  'unsupported', 'via', 'warning',
]);

/** Headers a message may carry only once (RFC 4475 §3.3.8, §3.3.9). */
export const SINGLE_VALUED = ['call-id', 'cseq', 'from', 'to', 'max-forwards', 'content-length'] as const;

/**
 * The keys of the spellings met on every message (canonical, lower case, compact in either case),
 * looked up before lowering a name: a header is looked up many times on a message's way through
 * the stack. A fixed table, so no input can grow it.
 */
const KNOWN_KEYS: ReadonlyMap<string, string> = new Map([
  ...Object.entries(CANONICAL).flatMap(([key, spelling]) => [
    [spelling, key],
    [key, key],
  ]),
  ...Object.entries(COMPACT).flatMap(([compact, key]) => [
    [compact, key],
    [compact.toUpperCase(), key],
  ]),
] as [string, string][]);

/** The lower-case long form of a header name: `i` -> `call-id`, `Via` -> `via`. */
export function headerKey(name: string): string {
  const known = KNOWN_KEYS.get(name);
  if (known !== undefined) return known;
  const lower = name.toLowerCase();
  return COMPACT[lower] ?? lower;
}

/** The spelling used when we write `name`: canonical for known headers, unchanged otherwise. */
export function canonicalName(name: string): string {
  return CANONICAL[headerKey(name)] ?? name;
}

/** True when the header may hold a comma-separated list (§7.3.1). */
export function isListHeader(name: string): boolean {
  return LIST.has(headerKey(name));
}
