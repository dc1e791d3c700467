/**
 * The checks a received message must pass before a transaction may see it. A request that fails
 * is answered by the transport (400, or 505 for the version, §21.4.1 / §21.5.6); a response that
 * fails is dropped (§18.1.2 leaves no one to tell). The checks are the ones RFC 4475 expects a
 * parser to enforce: mandatory and single-valued headers (§8.1.1, RFC 4475 §3.3.1, §3.3.8),
 * Via / From / To / CSeq grammar, CSeq method = request method (§3.1.2.17), the Request-URI
 * grammar (§3.1.2.7, §3.1.2.11).
 */
import { SipParseError } from './errors.js';
import { SINGLE_VALUED, canonicalName } from './header-names.js';
import { SIP_VERSION, type SipMessage } from './message.js';
import { parseMaxForwards, type CSeq } from './scalar-headers.js';
import { parseUri } from './uri.js';

/** Why a message is refused, and the response status a request gets for it. */
interface Rejection {
  status: 400 | 505;
  error: SipParseError;
}

const MANDATORY = ['via', 'from', 'to', 'call-id', 'cseq'] as const;

/**
 * Checks the headers every request and response needs (§8.1.1). Via, From, To and CSeq are parsed
 * through the message's own getters, which keep what they parse: the layers above read them again
 * without parsing them twice.
 */
function checkCoreHeaders(msg: SipMessage): CSeq {
  const headers = msg.headers;
  for (const name of MANDATORY) {
    if (!headers.has(name)) throw new SipParseError('missing-header', `missing ${canonicalName(name)} header`, canonicalName(name));
  }
  for (const name of SINGLE_VALUED) {
    if (headers.count(name) > 1) throw new SipParseError('duplicate-header', `more than one ${canonicalName(name)} header`, canonicalName(name));
  }
  if (msg.vias.length === 0) throw new SipParseError('missing-header', 'missing Via header', 'Via');
  void msg.from;
  void msg.to;
  if (headers.get('Call-ID') === '') throw new SipParseError('bad-header-value', 'Call-ID: empty value', 'Call-ID');
  // CSeq first: RFC 4475 §3.1.2.4 expects the 400 to name the CSeq error.
  const cseq = msg.cseq;
  const mf = headers.get('Max-Forwards');
  if (mf !== undefined) parseMaxForwards(mf);
  return cseq;
}

/** Null when `msg` may go on to the transaction layer; otherwise why not. */
export function validateMessage(msg: SipMessage): Rejection | null {
  try {
    if (msg.version !== SIP_VERSION) {
      // §8.2.2... a request of another version gets 505 (RFC 4475 §3.1.2.16).
      return { status: 505, error: new SipParseError('version', `SIP version ${msg.version} not supported`) };
    }
    const cseq = checkCoreHeaders(msg);
    if (msg.kind === 'request') {
      const uri = parseUri(msg.uri);
      // §19.1.1 table: URI headers are "not allowed" in a Request-URI (RFC 4475 §3.1.2.11).
      if (uri.kind === 'sip' && uri.headers !== null) throw new SipParseError('bad-uri', 'headers not allowed in the Request-URI');
      if (cseq.method !== msg.method) {
        throw new SipParseError('cseq-method-mismatch', `CSeq method ${cseq.method} does not match ${msg.method}`, 'CSeq');
      }
    }
    return null;
  } catch (e) {
    if (e instanceof SipParseError) return { status: 400, error: e };
    throw e;
  }
}
