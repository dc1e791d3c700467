/**
 * One proxied request: a "response context" of RFC 3261 §16 for a request an app handed over
 * with drachtio-srf's `srf.proxyRequest` (a `proxy|...` frame). The request is forwarded to each
 * destination in turn (serial) or to all at once (simultaneous); provisional responses and 2xx go
 * upstream at once, other finals are collected and the best one is sent when every branch is
 * done. As drachtio-server does, each final response is reported to the app
 * (`response|<msgId>|OK|network|...|||continue`) and the end with `response|<msgId>|OK|done`.
 */
import type { Logger } from '../../../config/logger.js';
import { parseMessage, DEFAULT_LIMITS } from '../message/parser.js';
import { SipRequest, SipResponse } from '../message/message.js';
import { formatUri, parseUri } from '../message/uri.js';
import type { SipStack } from '../sip-stack.js';
import { ClientInviteTransaction } from '../transaction/client-invite-transaction.js';
import type { ClientTransactionBase } from '../transaction/client-transaction.js';
import type { ClientTransaction, ServerTransaction } from '../transaction/transaction-layer.js';
import { requestTarget } from '../transport/routing.js';
import type { ReceivedInfo, Target } from '../transport/types.js';
import type { AppProxyFrame, AppSession } from './control-server.js';
import { stackTime } from './wire-format.js';

interface Branch {
  target: string;
  started: boolean;
  tx: ClientTransaction | null;
  /** A provisional response arrived (so a CANCEL may be sent, §9.1). */
  provisional: boolean;
  final: SipResponse | null;
  timers: NodeJS.Timeout[];
}

interface ProxyContextDeps {
  stack: SipStack;
  log: Logger;
  session: AppSession;
  frame: AppProxyFrame;
  /** The app's server transaction, now the proxy's. */
  tx: ServerTransaction;
  /** A forwarded INVITE's Via branch: its 2xx retransmissions are forwarded statelessly. */
  remember: (branch: string) => void;
  /** A dialog the proxy record-routed (`confirmed` once its 2xx went up), or one that failed. */
  dialog: (res: SipResponse, state: 'early' | 'confirmed' | 'failed') => void;
  onEnd: () => void;
}

/** `2s` / `1500ms` (drachtio's syntax) in ms, or null. */
function parseTimeout(text: string): number | null {
  const m = /^(\d+)(ms|s)$/.exec(text);
  return m ? Number(m[1]) * (m[2] === 's' ? 1000 : 1) : null;
}

/** §16.7 step 6: 6xx first, then the lowest class; among 4xx, a challenge or a fixable error. */
function best(a: SipResponse, b: SipResponse): SipResponse {
  const rank = (s: number) => (s >= 600 ? 0 : [401, 407, 415, 420, 484].includes(s) ? 1 : Math.floor(s / 100) * 10);
  return rank(b.status) < rank(a.status) ? b : a;
}

export class ProxyContext {
  readonly #branches: Branch[] = [];
  readonly #headers: [string, string][] = [];
  /** Tagged 1xx forwarded upstream: each may be an early dialog (§12.1). */
  readonly #early: SipResponse[] = [];
  #forwardedFinal = false;
  #cancelled = false;
  #reportedDone = false;
  #ended = false;

  constructor(private readonly d: ProxyContextDeps) {}

  get request(): SipRequest {
    return this.d.tx.request;
  }

  start(): void {
    const req = this.request;
    // §16.3 step 3: "If the request has a Max-Forwards value of zero, the proxy MUST NOT forward
    // it ... and SHOULD return a 483 (Too many hops)" (OPTIONS aside).
    if (req.maxForwards === 0 && req.method !== 'OPTIONS') return this.#generate(483, 'Too Many Hops');
    try {
      const app = parseMessage(Buffer.from(this.d.frame.message, 'utf8'), { stream: false, limits: DEFAULT_LIMITS });
      for (const f of app.headers.fields()) if (f.key !== 'content-length') this.#headers.push([f.name, f.value]);
    } catch {
      // A request line with no headers is all drachtio-srf sends when the app adds none.
    }
    for (const t of this.d.frame.destinations) this.#addBranch(t);
    this.#next();
  }

  /** §16.10: the caller CANCELed. Pending branches are CANCELed; none is started. */
  cancel(): void {
    this.#cancelled = true;
    for (const b of this.#branches) this.#cancelBranch(b);
    this.#next();
  }

  #addBranch(target: string): void {
    const uri = /^(sips?|tel):/i.test(target) ? target : `sip:${target}`;
    this.#branches.push({ target: uri, started: false, tx: null, provisional: false, final: null, timers: [] });
  }

  /** Starts the next branch(es), or ends the context when every branch is done (§16.7 step 6). */
  #next(): void {
    const open = (b: Branch) => b.started && b.final === null;
    if (!this.#cancelled && !this.#forwardedFinal) {
      for (const b of this.#branches) {
        if (b.started) continue;
        if (!this.d.frame.simultaneous && this.#branches.some(open)) break;
        this.#launch(b);
      }
    }
    if (this.#branches.some(open) || (!this.#cancelled && !this.#forwardedFinal && this.#branches.some((b) => !b.started))) return;
    if (!this.#forwardedFinal) {
      const finals = this.#branches.map((b) => b.final).filter((r): r is SipResponse => r !== null);
      // "If there are no final responses in the context, the proxy MUST send a 408".
      if (finals.length === 0) this.#generate(408, 'Request Timeout');
      else this.#upstream(finals.reduce(best));
    }
    this.#done();
    this.#end();
  }

  /** §16.6: the copy for one target. */
  #launch(b: Branch): void {
    b.started = true;
    const req = this.request;
    const copy = new SipRequest(req.method, b.target, req.headers.clone(), req.body);
    // Step 3: "the proxy MUST decrement its value by one ... If the copy does not contain a
    // Max-Forwards header field, the proxy MUST add one with a field value, which SHOULD be 70."
    copy.headers.set('Max-Forwards', String(req.maxForwards === null ? 70 : req.maxForwards - 1));
    for (const [n, v] of this.#headers) copy.headers.set(n, v);
    let target: Target | null = null;
    try {
      const route = copy.headers.has('Route') ? copy.routes[0]?.uri : undefined;
      const uri = route ?? parseUri(b.target);
      target = uri.kind === 'sip' ? requestTarget(uri) : null;
    } catch {
      target = null;
    }
    if (!target) {
      b.final = SipResponse.to(req, 400, 'Bad Destination');
      return;
    }
    if (this.d.frame.remainInDialog) {
      // Step 4: "If this proxy wishes to remain on the path of future requests in a dialog
      // created by this request ... it MUST insert a Record-Route header field value".
      const me = this.d.stack.transport.sentBy(target.protocol);
      const tp = target.protocol === 'udp' ? '' : `;transport=${target.protocol}`;
      copy.headers.prepend('Record-Route', `<sip:${me.host}:${me.port}${tp};lr>`);
    }
    const tx = this.d.stack.forward(copy, target);
    b.tx = tx;
    if (tx instanceof ClientInviteTransaction) this.d.remember(copy.topVia.params.find((p) => p.name === 'branch')?.value ?? '');
    const events = tx as ClientTransactionBase<string>;
    events.on('response', (res, info) => this.#onResponse(b, res, info));
    // §16.8: "the proxy MUST behave as if the client transaction received a 408"; §16.9: 503.
    events.on('timeout', () => this.#settle(b, SipResponse.to(copy, 408, 'Request Timeout')));
    events.on('transportError', () => this.#settle(b, SipResponse.to(copy, 503, 'Service Unavailable')));
    this.#timers(b, copy);
  }

  /** drachtio's provisionalTimeout / finalTimeout: give the branch up, as if it answered 408. */
  #timers(b: Branch, copy: SipRequest): void {
    const arm = (text: string, pending: () => boolean) => {
      const ms = parseTimeout(text);
      if (ms === null) return;
      const t = setTimeout(() => {
        if (!pending()) return;
        this.#cancelBranch(b);
        this.#settle(b, SipResponse.to(copy, 408, 'Request Timeout'));
      }, ms);
      t.unref();
      b.timers.push(t);
    };
    arm(this.d.frame.provisionalTimeout, () => !b.provisional && b.final === null);
    arm(this.d.frame.finalTimeout, () => b.final === null);
  }

  #onResponse(b: Branch, res: SipResponse, info: ReceivedInfo): void {
    if (res.status < 200) {
      b.provisional = true;
      // §16.7 step 5: "Any provisional response other than 100 (Trying) MUST be forwarded immediately".
      if (res.status > 100 && !this.#forwardedFinal) this.#upstream(res);
      return;
    }
    this.#report(res, info);
    if (res.status < 300) {
      // Step 5: "any 2xx response to an INVITE request" is forwarded immediately; step 10: "the
      // proxy MUST generate a CANCEL request for all pending client transactions".
      this.#upstream(res);
      this.#done();
      for (const other of this.#branches) if (other !== b) this.#cancelBranch(other);
    } else if (res.status < 400 && this.d.frame.followRedirects) {
      // Step 4 (recursion, §16.5): the contacts of a 3xx join the target set.
      for (const c of res.contacts) this.#addBranch(formatUri(c.uri));
    } else if (res.status >= 600) {
      // Step 5: after a 6xx, "the proxy MUST cancel all client pending transactions".
      for (const other of this.#branches) if (other !== b) this.#cancelBranch(other);
      this.#cancelled = true;
    }
    this.#settle(b, res);
  }

  #settle(b: Branch, final: SipResponse): void {
    if (b.final !== null) return;
    b.final = final;
    for (const t of b.timers) clearTimeout(t);
    this.#next();
  }

  #cancelBranch(b: Branch): void {
    if (b.tx instanceof ClientInviteTransaction && b.final === null) void this.d.stack.cancel(b.tx).catch(() => undefined);
  }

  /** §16.7 step 9: "The proxy removes the topmost Via header field value from the response". */
  #upstream(res: SipResponse): void {
    const copy = res.clone();
    copy.headers.removeFirstListValue('Via');
    if (res.status >= 200) this.#forwardedFinal = true;
    if (this.d.frame.remainInDialog && this.request.method === 'INVITE' && res.toTag !== null) this.#track(res);
    this.d.tx.respond(copy).catch((err: Error) => this.d.log.debug({ err: err.message, status: res.status }, 'proxied response not forwarded'));
  }

  /**
   * The record-routed dialogs: early ones from tagged 1xx; at the final response the one its
   * 2xx confirms stays, the others (forks, or all after a failure) are dropped (§13.2.2.4, §16.7).
   */
  #track(res: SipResponse): void {
    if (res.status < 200) {
      this.#early.push(res);
      this.d.dialog(res, 'early');
      return;
    }
    const ok = res.status < 300;
    for (const e of this.#early) if (!ok || e.toTag !== res.toTag) this.d.dialog(e, 'failed');
    this.#early.length = 0;
    this.d.dialog(res, ok ? 'confirmed' : 'failed');
  }

  #generate(status: number, reason: string): void {
    this.#forwardedFinal = true;
    for (const e of this.#early.splice(0)) this.d.dialog(e, 'failed');
    this.d.tx.respond(SipResponse.to(this.request, status, reason)).catch(() => undefined);
  }

  #report(res: SipResponse, info: ReceivedInfo): void {
    if (!this.d.frame.fullResponse) return;
    const fields = ['OK', 'network', String(info.bytes), info.source.protocol, info.source.remote.address, String(info.source.remote.port), stackTime(info.receivedAt), '', '', 'continue'];
    this.d.session.reply(this.d.frame.msgId, fields, info.raw.toString('utf8'));
  }

  #done(): void {
    if (this.#reportedDone) return;
    this.#reportedDone = true;
    this.d.session.reply(this.d.frame.msgId, ['OK', 'done']);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const b of this.#branches) for (const t of b.timers) clearTimeout(t);
    this.d.onEnd();
  }
}
