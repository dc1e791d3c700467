/**
 * SIP requests and responses (RFC 3261 §7). Headers stay text (see `headers.ts`); the getters
 * below parse the structured headers the layers above need, once per version of the headers
 * (a message's From, To, Via and CSeq are read a dozen times on its way through the stack): the
 * values they return are shared, so treat them as read-only and edit the headers instead. A
 * received message has passed `validate.ts`, so these getters do not throw on it.
 */
import { Headers } from './headers.js';
import { isToken } from './lexer.js';
import { parseNameAddr, tagOf, type NameAddr } from './name-addr.js';
import { parseCSeq, parseMaxForwards, type CSeq } from './scalar-headers.js';
import { reasonPhrase } from './status.js';
import { parseViaList, type Via } from './via.js';
import { SipParseError } from './errors.js';

export const SIP_VERSION = 'SIP/2.0';

abstract class SipMessageBase {
  constructor(
    public headers: Headers,
    public body: Buffer,
    public version: string,
  ) {}

  #parsedOf: Headers | null = null;
  #parsedAt = -1;
  /** Made on the first read (a message built only to be sent is never parsed back). */
  #parsed: Map<string, unknown> | null = null;

  /**
   * `parse(this)`'s value for the headers as they are now: parsed once until they change. The
   * parsers are module-level functions, so a read that finds the value allocates nothing.
   */
  protected parsed<T>(key: string, parse: (msg: this) => T): T {
    const h = this.headers;
    if (this.#parsed === null || this.#parsedOf !== h || this.#parsedAt !== h.version) {
      this.#parsedOf = h;
      this.#parsedAt = h.version;
      this.#parsed = new Map();
    }
    if (this.#parsed.has(key)) return this.#parsed.get(key) as T;
    const value = parse(this);
    this.#parsed.set(key, value);
    return value;
  }

  /** The first value of `name`, or throws a `missing-header` error. */
  header(name: string): string {
    const v = this.headers.get(name);
    if (v === undefined) throw new SipParseError('missing-header', `missing ${name} header`, name);
    return v;
  }

  get callId(): string {
    return this.parsed('Call-ID', readCallId);
  }

  get cseq(): CSeq {
    return this.parsed('CSeq', readCSeq);
  }

  get from(): NameAddr {
    return this.parsed('From', readFrom);
  }

  get to(): NameAddr {
    return this.parsed('To', readTo);
  }

  get fromTag(): string | null {
    return this.parsed('fromTag', readFromTag);
  }

  get toTag(): string | null {
    return this.parsed('toTag', readToTag);
  }

  /** Every Via value, top first (§20.42). */
  get vias(): Via[] {
    return this.parsed('Via', readVias);
  }

  get topVia(): Via {
    const v = this.vias[0];
    if (!v) throw new SipParseError('missing-header', 'missing Via header', 'Via');
    return v;
  }

  /** Max-Forwards, or null when absent. */
  get maxForwards(): number | null {
    const v = this.headers.get('Max-Forwards');
    return v === undefined ? null : parseMaxForwards(v);
  }

  /** Contact values (§20.10). A `*` Contact (REGISTER) is not a name-addr and is left out. */
  get contacts(): NameAddr[] {
    return this.headers
      .getList('Contact')
      .filter((c) => c !== '*')
      .map((c) => parseNameAddr(c, 'Contact'));
  }

  get routes(): NameAddr[] {
    return this.headers.getList('Route').map((r) => parseNameAddr(r, 'Route'));
  }

  get recordRoutes(): NameAddr[] {
    return this.headers.getList('Record-Route').map((r) => parseNameAddr(r, 'Record-Route'));
  }

  get contentType(): string | undefined {
    return this.headers.get('Content-Type');
  }
}

// The getters' parsers (see `parsed`).
const readCallId = (m: SipMessageBase) => m.header('Call-ID');
const readCSeq = (m: SipMessageBase) => parseCSeq(m.header('CSeq'));
const readFrom = (m: SipMessageBase) => parseNameAddr(m.header('From'), 'From');
const readTo = (m: SipMessageBase) => parseNameAddr(m.header('To'), 'To');
const readFromTag = (m: SipMessageBase) => tagOf(m.from);
const readToTag = (m: SipMessageBase) => tagOf(m.to);
const readVias = (m: SipMessageBase) => m.headers.getList('Via').flatMap(parseViaList);

export class SipRequest extends SipMessageBase {
  readonly kind = 'request';

  constructor(
    public method: string,
    /** The Request-URI as text (parse with `parseUri`). */
    public uri: string,
    headers: Headers = new Headers(),
    body: Buffer = Buffer.alloc(0),
    version = SIP_VERSION,
  ) {
    super(headers, body, version);
    if (!isToken(method)) throw new SipParseError('start-line', `bad method "${method}"`);
  }

  get startLine(): string {
    return `${this.method} ${this.uri} ${this.version}`;
  }

  clone(): SipRequest {
    return new SipRequest(this.method, this.uri, this.headers.clone(), this.body, this.version);
  }
}

export class SipResponse extends SipMessageBase {
  readonly kind = 'response';

  constructor(
    public status: number,
    public reason: string = reasonPhrase(status),
    headers: Headers = new Headers(),
    body: Buffer = Buffer.alloc(0),
    version = SIP_VERSION,
  ) {
    super(headers, body, version);
  }

  get startLine(): string {
    return `${this.version} ${this.status} ${this.reason}`;
  }

  clone(): SipResponse {
    return new SipResponse(this.status, this.reason, this.headers.clone(), this.body, this.version);
  }

  /**
   * A response to `req` as §8.2.6.2 builds it: "the From field of the response MUST equal the
   * From header field of the request. The Call-ID ... MUST equal ... The CSeq ... MUST equal ...
   * The Via header field values in the response MUST equal the Via header field values in the
   * request and MUST maintain the same ordering." To is copied; the caller adds the tag (a UAS
   * MUST add one, "with the exception of the 100 (Trying) response"). §8.2.6.1: a 100 copies
   * the Timestamp header.
   */
  static to(req: SipRequest, status: number, reason?: string): SipResponse {
    const h = new Headers();
    for (const f of req.headers.fields()) {
      if (f.key === 'via') h.append('Via', f.value);
    }
    h.append('From', req.header('From'));
    h.append('To', req.header('To'));
    h.append('Call-ID', req.callId);
    h.append('CSeq', req.header('CSeq'));
    const ts = req.headers.get('Timestamp');
    if (status === 100 && ts !== undefined) h.append('Timestamp', ts);
    return new SipResponse(status, reason ?? reasonPhrase(status), h);
  }
}

export type SipMessage = SipRequest | SipResponse;
