/**
 * The one error type of the message layer. A malformed message never throws anything else: the
 * transport turns a `SipParseError` into a 400 (RFC 3261 §21.4.1) or drops the message.
 */

/** What is wrong, as a stable code the layers above (and tests) can switch on. */
export type SipParseErrorCode =
  /** No start line at all (empty datagram, only CRLFs). */
  | 'empty'
  /** The header section is not valid UTF-8, or holds bytes no SIP text may hold. */
  | 'encoding'
  /** The start line is neither a Request-Line nor a Status-Line (§7.1, §7.2). */
  | 'start-line'
  /** A header line has no name, a bad name or no colon (§7.3). */
  | 'header-syntax'
  /** No empty line ends the header section (§7). */
  | 'headers-unterminated'
  /** More header lines than the configured maximum. */
  | 'too-many-headers'
  /** The header section is bigger than the configured maximum. */
  | 'headers-too-large'
  /** Content-Length is missing on a stream, not a number, negative or beyond the bytes (§18.3). */
  | 'content-length'
  /** The body is bigger than the configured maximum. */
  | 'body-too-large'
  /** A header the message must carry is absent (§8.1.1). */
  | 'missing-header'
  /** A header that must appear once appears more often (RFC 4475 §3.3.8). */
  | 'duplicate-header'
  /** A header value does not follow its grammar (§25). */
  | 'bad-header-value'
  /** A URI does not follow its grammar (§19.1, §25). */
  | 'bad-uri'
  /** The CSeq method differs from the request method (§8.1.1.5, RFC 4475 §3.1.2.17). */
  | 'cseq-method-mismatch'
  /** The SIP-Version is not SIP/2.0 (§8.2.2.? answered 505, RFC 4475 §3.1.2.16). */
  | 'version';

/**
 * What could be read of a message that failed later checks: enough, sometimes, to answer a
 * request with 400 (§21.4.1). Typed loosely here to keep this file free of imports.
 */
export interface PartialMessage {
  /** True when the start line looks like a request (it does not start with "SIP/"). */
  readonly isRequest: boolean;
  readonly startLine: string;
  readonly headers: import('./headers.js').Headers;
}

/** A message or a header value that breaks the grammar. `header` names the field at fault. */
export class SipParseError extends Error {
  /** Set by the message parser when the header section itself could be read. */
  partial?: PartialMessage;

  constructor(
    readonly code: SipParseErrorCode,
    message: string,
    readonly header?: string,
  ) {
    super(message);
    this.name = 'SipParseError';
  }
}

/** Shorthand used by the value parsers: a bad value of `header`. */
export function badValue(header: string, what: string): SipParseError {
  return new SipParseError('bad-header-value', `${header}: ${what}`, header);
}
