/**
 * The transport layer (RFC 3261 §18) over the listening transports: turns bytes into validated
 * messages and messages into bytes, stamps `received`/`rport` on requests (§18.2.1, RFC 3581),
 * drops responses not meant for us (§18.1.2), answers broken requests with 400 when they can be
 * answered (§21.4.1), and routes responses (§18.2.2) and requests (to a `Target`).
 */
import dns from 'node:dns/promises';
import net from 'node:net';
import type { Logger } from '../../../config/logger.js';
import { TypedEmitter } from '../../../lib/typed-emitter.js';
import { SipParseError } from '../message/errors.js';
import type { Headers } from '../message/headers.js';
import { SipResponse, type SipRequest } from '../message/message.js';
import { getParam, withParam } from '../message/params.js';
import { parseMessage, type ParseLimits } from '../message/parser.js';
import { serialize } from '../message/serializer.js';
import { validateMessage } from '../message/validate.js';
import { hostAddress } from '../message/uri.js';
import { defaultPort, formatVia, parseViaList, type Via } from '../message/via.js';
import { newTag } from '../ids.js';
import { tagOf } from '../message/name-addr.js';
import { MessageCounts } from './message-counts.js';
import type { FinalResponseFacts, SourceGuard } from '../abuse/source-guard.js';
import { responseTarget } from './routing.js';
import { WsTransport } from './ws-transport.js';
import { TransportError, isMessageFramed, type Destination, type MessageSource, type ReceivedInfo, type SentInfo, type SipProtocol, type Target, type Transport } from './types.js';

interface TransportLayerOptions {
  /** Host written in our Via sent-by and compared with responses' top Via (§18.1.2). */
  publicHost: string;
  /**
   * `requested`: fill rport only when the request asks (RFC 3581 §4). `always`: add
   * `rport=<source port>` to every request's top Via, as drachtio-server (sofia-sip) does.
   */
  rport: 'requested' | 'always';
  limits: ParseLimits;
  /** Per-source rate limits, failed-auth tarpit and ban list; none: every source is let in. */
  guard?: SourceGuard;
}

interface TransportLayerEvents extends Record<string, unknown[]> {
  request: [req: SipRequest, info: ReceivedInfo];
  response: [res: SipResponse, info: ReceivedInfo];
  /** A message that did not reach the layers above, and why (also logged). */
  dropped: [reason: string, source: MessageSource];
}

/** One listening point, as reported to health and to the drachtio layer. */
export interface ListeningPoint {
  protocol: SipProtocol;
  address: string;
  port: number;
}

export class TransportLayer extends TypedEmitter<TransportLayerEvents> {
  readonly #transports = new Map<SipProtocol, Transport>();
  /** Failure responses held by the tarpit, with the function that abandons each. */
  readonly #held = new Map<NodeJS.Timeout, () => void>();
  /** Messages in and out by method and response class (metrics). */
  readonly counts = new MessageCounts();
  #closed: Promise<void> | undefined;

  constructor(
    transports: readonly Transport[],
    private readonly opts: TransportLayerOptions,
    private readonly log: Logger,
  ) {
    super((event, error) => log.error({ err: error, event }, 'sip transport layer listener failed'));
    for (const t of transports) {
      this.#transports.set(t.protocol, t);
      t.on('message', (raw, source) => this.#onMessage(raw, source));
      t.on('malformed', (error, head, source) => this.#onMalformedStream(error, head, source));
    }
    opts.guard?.on('banned', (address, until, failures) => {
      let closed = 0;
      for (const t of this.#transports.values()) closed += t.closeFrom(address, 'source banned');
      log.warn({ remote: address, failures, banSeconds: Math.round((until - performance.now()) / 1000), connectionsClosed: closed }, 'sip source banned');
    });
    opts.guard?.on('limited', (address, inDialog) => log.info({ remote: address, inDialog }, 'sip source over its request rate: requests dropped'));
  }

  transport(protocol: SipProtocol): Transport | undefined {
    return this.#transports.get(protocol);
  }

  listening(): ListeningPoint[] {
    return [...this.#transports.values()].map((t) => ({ protocol: t.protocol, address: t.local.address, port: t.local.port }));
  }

  /** What we write as Via sent-by for requests sent over `protocol`. */
  sentBy(protocol: SipProtocol): { host: string; port: number } {
    const t = this.#transports.get(protocol);
    if (!t) throw new TransportError('no-transport', `no ${protocol} transport`);
    return { host: this.opts.publicHost, port: t.local.port };
  }

  isReliable(protocol: SipProtocol): boolean {
    return this.#transports.get(protocol)?.reliable ?? protocol !== 'udp';
  }

  connectionCount(): number {
    return [...this.#transports.values()].reduce((n, t) => n + t.connectionCount(), 0);
  }

  #onMessage(raw: Buffer, source: MessageSource): void {
    const guard = this.opts.guard;
    // A banned source costs one map lookup: nothing is parsed, logged or answered.
    if (guard && !guard.admitMessage(source.remote.address)) return;
    let msg;
    try {
      msg = parseMessage(raw, { stream: !isMessageFramed(source.protocol), limits: this.opts.limits });
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
      this.counts.malformed();
      if (e.partial?.isRequest && !/^ACK /.test(e.partial.startLine)) this.#reject(400, e, e.partial.headers, source);
      else this.#dropGarbage(`unparsable message: ${e.message}`, source);
      return;
    }
    const rejection = validateMessage(msg);
    if (rejection) {
      this.counts.malformed();
      // §17: ACK has no response; a broken response has no one to tell (§18.1.2).
      if (msg.kind === 'request' && msg.method !== 'ACK') this.#reject(rejection.status, rejection.error, msg.headers, source);
      else if (msg.kind === 'response') this.#dropGarbage(`invalid response: ${rejection.error.message}`, source);
      else this.#drop(`invalid ACK: ${rejection.error.message}`, source);
      return;
    }
    const info: ReceivedInfo = { source, raw, bytes: raw.length, receivedAt: new Date() };
    if (this.log.isLevelEnabled('debug')) this.log.debug({ dir: 'in', protocol: source.protocol, remote: source.remote, bytes: raw.length, line: msg.startLine, callId: msg.callId }, 'sip message');
    if (msg.kind === 'request') this.counts.request(msg.method, false);
    else this.counts.response(msg.status, false);
    // A socket's Contact hosts are remembered only from messages let in: not from a request over
    // its source's budget, nor from a response that is not ours.
    const alias = () => source.protocol === 'ws' && source.connectionId != null && this.#aliasContacts(msg, source.connectionId);
    if (msg.kind === 'request') {
      if (guard && !this.#admitRequest(guard, msg, source)) return;
      alias();
      stampVia(msg.headers, msg.topVia, source, this.opts.rport);
      this.emit('request', msg, info);
    } else if (this.#isOurs(msg.topVia)) {
      alias();
      this.emit('response', msg, info);
    } else {
      // §18.1.2: "If the value of the sent-by parameter in that header field value does not
      // correspond to a value that the client transport is configured to insert into requests,
      // the response MUST be silently discarded."
      this.#drop(`response for another sent-by (${msg.topVia.host}:${msg.topVia.port ?? ''})`, source);
    }
  }

  /**
   * Spends the source's request budget: requests with a To tag (in-dialog, ACK) from their own,
   * larger bucket, so a flood of new requests does not cut the source's live calls. Notes the
   * requests that carry credentials, whose 401/403 answers are failed authentications.
   */
  #admitRequest(guard: SourceGuard, req: SipRequest, source: MessageSource): boolean {
    const address = source.remote.address;
    if (!guard.admitRequest(address, tagOf(req.to) !== null)) {
      this.#drop('rate limited', source);
      return false;
    }
    if (req.headers.has('Authorization') || req.headers.has('Proxy-Authorization')) guard.noteCredentials(address, req.callId, req.cseq.seq);
    return true;
  }

  /** Each Contact host of a WebSocket client's message reaches back down its socket (see WsTransport.alias). */
  #aliasContacts(msg: SipRequest | SipResponse, connectionId: number): void {
    const ws = this.#transports.get('ws');
    if (!(ws instanceof WsTransport) || !msg.headers.has('Contact')) return;
    try {
      for (const c of msg.contacts) if (c.uri.kind === 'sip' && !net.isIP(hostAddress(c.uri.host))) ws.alias(c.uri.host, connectionId);
    } catch {
      // An unparsable Contact is the UAS core's to answer (400); nothing to remember.
    }
  }

  #isOurs(via: Via): boolean {
    if (via.host.toLowerCase() !== this.opts.publicHost.toLowerCase()) return false;
    return [...this.#transports.values()].some((t) => t.local.port === (via.port ?? defaultPort(via.transport)));
  }

  #onMalformedStream(error: SipParseError, head: Buffer | undefined, source: MessageSource): void {
    // The header section alone, read as a datagram, tells whether a 400 can be sent back.
    let headers: Headers | undefined;
    let startLine = '';
    if (head) {
      try {
        const msg = parseMessage(Buffer.concat([head, Buffer.from('\r\n\r\n')]), { stream: false, limits: this.opts.limits });
        if (msg.kind === 'request') [headers, startLine] = [msg.headers, msg.startLine];
      } catch (e) {
        if (e instanceof SipParseError && e.partial?.isRequest) [headers, startLine] = [e.partial.headers, e.partial.startLine];
      }
    }
    if (headers && !/^ACK /.test(startLine)) this.#reject(400, error, headers, source);
    else this.#drop(`stream cannot be framed: ${error.message}`, source);
  }

  /**
   * §21.4.1: a 400 whose "reason phrase SHOULD identify the syntax problem in more detail".
   * The response needs the Via to be routed; From, To, Call-ID and CSeq are copied when present.
   */
  #reject(status: 400 | 505, error: SipParseError, headers: Headers, source: MessageSource): void {
    // A broken request spends the new-request budget: answering garbage is work too.
    if (this.opts.guard && !this.opts.guard.admitRequest(source.remote.address, false)) {
      this.#drop(`rate limited (broken request: ${error.message})`, source);
      return;
    }
    let vias: Via[];
    try {
      vias = headers.getList('Via').flatMap(parseViaList);
    } catch {
      vias = [];
    }
    const rawVias = vias.length ? [] : headers.getAll('Via');
    if (vias.length === 0 && rawVias.length === 0) {
      this.#dropGarbage(`bad request without a Via: ${error.message}`, source);
      return;
    }
    const res = new SipResponse(status, status === 505 ? 'Version Not Supported' : reasonFor(error));
    for (const v of vias) res.headers.append('Via', formatVia(v));
    // RFC 4475 §3.1.2.1 (badinv01): a Via that cannot be parsed still deserves its 400. The
    // values are copied as they came (§8.2.6.2 copies, it does not interpret), and with no Via to
    // route by, the answer goes back the way the request came (its connection or UDP source).
    for (const v of rawVias) res.headers.append('Via', v);
    for (const name of ['From', 'To', 'Call-ID', 'CSeq']) {
      const v = headers.getAll(name);
      if (v.length === 1) res.headers.append(name, v[0]!);
    }
    const to = res.headers.get('To');
    if (to !== undefined && !/;\s*tag\s*=/i.test(to)) res.headers.set('To', `${to};tag=${newTag()}`);
    this.log.info({ remote: source.remote, protocol: source.protocol, status, reason: error.message }, 'sip request rejected');
    let sent: Promise<SentInfo>;
    if (vias.length) {
      stampVia(res.headers, vias[0]!, source, this.opts.rport);
      sent = this.sendResponse(res, source);
    } else {
      const back: Target = { protocol: source.protocol, host: source.remote.address, port: source.remote.port, connectionId: source.connectionId };
      sent = this.sendTo(serialize(res), back, res.startLine);
    }
    sent.catch((e: unknown) => this.log.debug({ err: e }, 'sip rejection not sent'));
  }

  /**
   * A message that is not SIP at all. Over UDP it is dropped; over a WebSocket (one message per
   * frame, nothing to resynchronise on) the peer is not speaking SIP: its connection is closed.
   * TCP and TLS streams close themselves when they cannot be framed.
   */
  #dropGarbage(reason: string, source: MessageSource): void {
    this.#drop(reason, source);
    if (source.protocol === 'ws' && source.connectionId != null) this.#transports.get('ws')?.closeConnection(source.connectionId, 'not a SIP message');
  }

  #drop(reason: string, source: MessageSource): void {
    this.log.debug({ remote: source.remote, protocol: source.protocol, reason }, 'sip message dropped');
    this.emit('dropped', reason, source);
  }

  /**
   * Sends a response where §18.2.2 says (see `responseTarget`). With a guard, a final response
   * to a banned source is refused (TransportError `refused`), and a failed-authentication
   * answer is held as long as the tarpit says.
   */
  sendResponse(res: SipResponse, source: MessageSource | null): Promise<SentInfo> {
    const guard = this.opts.guard;
    if (!guard || !source || res.status < 200) return this.#sendResponseNow(res, source);
    const delay = guard.onResponse(source.remote.address, responseFacts(res));
    if (delay === null) return Promise.reject(new TransportError('refused', `${source.remote.address} is banned`));
    if (delay === 0) return this.#sendResponseNow(res, source);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#held.delete(timer);
        this.#sendResponseNow(res, source).then(resolve, reject);
      }, delay);
      this.#held.set(timer, () => reject(new TransportError('closed', 'sip transport layer closed')));
    });
  }

  #sendResponseNow(res: SipResponse, source: MessageSource | null): Promise<SentInfo> {
    const target = responseTarget(res.topVia, source, (id) => (source ? this.#transports.get(source.protocol)?.isOpen(id) ?? false : false));
    if (!target) return Promise.reject(new TransportError('no-transport', `no transport for Via ${res.topVia.transport}`));
    this.counts.response(res.status, true);
    return this.sendTo(serialize(res), target, res.startLine);
  }

  /** Sends a request to its next hop (the caller has put our Via on top). */
  sendRequest(req: SipRequest, target: Target): Promise<SentInfo> {
    this.counts.request(req.method, true);
    return this.sendTo(serialize(req), target, req.startLine);
  }

  /** Sends bytes to a target, resolving a host name first (A/AAAA only). */
  async sendTo(data: Buffer, target: Target, line = ''): Promise<SentInfo> {
    if (this.#closed) throw new TransportError('closed', 'sip transport layer closed');
    const t = this.#transports.get(target.protocol);
    if (!t) throw new TransportError('no-transport', `no ${target.protocol} transport`);
    let address = target.host;
    let connectionId = target.connectionId ?? null;
    if (connectionId == null || !t.isOpen(connectionId)) connectionId = t.connectionFor?.(target.host) ?? connectionId;
    if (connectionId == null || !t.isOpen(connectionId)) {
      if (!net.isIP(address)) {
        try {
          address = (await dns.lookup(address)).address;
        } catch (e) {
          throw new TransportError('dns', `cannot resolve ${target.host}: ${(e as Error).message}`);
        }
      }
    }
    const dest: Destination = { address, port: target.port, connectionId };
    const sent = await t.send(data, dest);
    if (this.log.isLevelEnabled('debug')) this.log.debug({ dir: 'out', protocol: sent.protocol, remote: sent.remote, bytes: sent.bytes, line }, 'sip message');
    return sent;
  }

  /** Sends the same bytes again to the same place (retransmissions, §17). */
  resend(sent: SentInfo): Promise<SentInfo> {
    return this.sendTo(sent.raw, { protocol: sent.protocol, host: sent.remote.address, port: sent.remote.port, connectionId: sent.connectionId });
  }

  /** Closes every transport. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.removeAllListeners();
      for (const [timer, abandon] of this.#held) {
        clearTimeout(timer);
        abandon();
      }
      this.#held.clear();
      await Promise.all([...this.#transports.values()].map((t) => t.close()));
    })();
    return this.#closed;
  }
}

/**
 * §18.2.1: "If the host portion of the sent-by parameter contains a domain name, or if it
 * contains an IP address that differs from the packet source address, the server MUST add a
 * received parameter". RFC 3581 §4: with an empty rport, the server "MUST set the value of the
 * parameter to the source port of the request" and "MUST insert a received parameter ... even if
 * it is identical to the value of the sent-by component".
 */
function stampVia(headers: Headers, via: Via, source: MessageSource, mode: 'requested' | 'always'): void {
  const sentByHost = hostAddress(via.host);
  const rport = getParam(via.params, 'rport');
  const rportRequested = rport === null;
  let params = via.params;
  if (rportRequested || (mode === 'always' && rport === undefined)) {
    params = withParam(params, 'rport', String(source.remote.port));
  }
  const differs = !net.isIP(sentByHost) || sentByHost.toLowerCase() !== source.remote.address.toLowerCase();
  if (differs || rportRequested) params = withParam(params, 'received', source.remote.address);
  if (params !== via.params) headers.replaceFirstListValue('Via', formatVia({ ...via, params }));
}

/** What the guard judges of a final response; a 400 we built may lack Call-ID or CSeq. */
function responseFacts(res: SipResponse): FinalResponseFacts {
  const cseq = /^\s*(\d+)/.exec(res.headers.get('CSeq') ?? '');
  return {
    status: res.status,
    callId: res.headers.get('Call-ID') ?? '',
    cseq: cseq ? Number(cseq[1]) : -1,
    challenge: res.headers.get('WWW-Authenticate') ?? res.headers.get('Proxy-Authenticate'),
  };
}

/** "Missing From header" from "missing From header": a reason phrase, one safe line. */
function reasonFor(error: SipParseError): string {
  const text = [...error.message.slice(0, 120)].map((c) => (c < ' ' || c === '\x7f' ? '?' : c)).join('');
  return text.charAt(0).toUpperCase() + text.slice(1);
}
