/**
 * drachtio-srf's `srf.proxyRequest` on the embedded server: a stateful proxy (RFC 3261 §16) for
 * requests an app hands over, one `ProxyContext` each. With `remainInDialog` the proxy
 * record-routes, and the dialog's later requests come back with our Route on top (§16.4): they
 * are forwarded to the next Route or the Request-URI, statefully, and ACKs statelessly. Only the
 * dialogs it record-routed are forwarded this way; until their BYE is answered, they are kept.
 * Retransmitted 2xx of a forwarded INVITE (its client transaction is gone) go upstream
 * statelessly by their Via (§16.7).
 *
 * Simplification: the stack answers a CANCELed INVITE with 487 itself (`answerCancelledInvite`,
 * drachtio-server's way for UAS calls), so after a CANCEL the caller gets our 487, not the one
 * the branches return; the branches are CANCELed all the same (§16.10).
 */
import type { Logger } from '../../../config/logger.js';
import { SipResponse, type SipRequest } from '../message/message.js';
import { parseUri } from '../message/uri.js';
import type { RoutedRequests, SipStack } from '../sip-stack.js';
import type { ClientTransactionBase } from '../transaction/client-transaction.js';
import { ServerInviteTransaction } from '../transaction/server-invite-transaction.js';
import type { ServerTransaction } from '../transaction/transaction-layer.js';
import { requestTarget } from '../transport/routing.js';
import type { ReceivedInfo } from '../transport/types.js';
import type { AppProxyFrame, AppSession } from './control-server.js';
import { ProxyContext } from './proxy-context.js';

/** A dialog key the same from both ends: Call-ID and the two tags, sorted. */
function dialogKey(msg: SipRequest | SipResponse): string {
  return [msg.callId, ...[msg.fromTag ?? '', msg.toTag ?? ''].sort()].join('\n');
}

export class ProxyService implements RoutedRequests {
  readonly #contexts = new Map<ServerTransaction, ProxyContext>();
  /** Dialogs this proxy record-routed: only their requests are forwarded (no open relay). */
  readonly #dialogs = new Set<string>();
  /** Via branches of forwarded INVITEs, kept 64*T1 (a 2xx is retransmitted that long, §13.3.1.4). */
  readonly #branches = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly stack: SipStack,
    private readonly log: Logger,
  ) {
    stack.attachProxy(this);
    stack.on('strayResponse', (res, info) => this.#onStray(res, info));
  }

  /** Live proxy contexts, remembered branches and record-routed dialogs, for leak tests. */
  get size(): { contexts: number; branches: number; dialogs: number } {
    return { contexts: this.#contexts.size, branches: this.#branches.size, dialogs: this.#dialogs.size };
  }

  /** A request routed through us in a dialog we record-routed (see `RoutedRequests`). */
  claims(req: SipRequest): boolean {
    return req.toTag !== null && this.#dialogs.has(dialogKey(req));
  }

  handle(req: SipRequest, tx: ServerTransaction | null, info: ReceivedInfo): void {
    this.#onRouted(req, tx, info);
  }

  /** Proxies the request of `tx` (which no app answers any more) as `frame` asks. */
  start(session: AppSession, frame: AppProxyFrame, tx: ServerTransaction): void {
    if (frame.destinations.length === 0) {
      session.reply(frame.msgId, ['NOK', 'no destination to proxy to']);
      return;
    }
    const ctx = new ProxyContext({
      stack: this.stack,
      log: this.log,
      session,
      frame,
      tx,
      remember: (branch) => this.#remember(branch),
      dialog: (res, state) => (state === 'failed' ? this.#dialogs.delete(dialogKey(res)) : this.#dialogs.add(dialogKey(res))),
      onEnd: () => this.#contexts.delete(tx),
    });
    this.#contexts.set(tx, ctx);
    ctx.start();
  }

  /** §16.10: a CANCEL for a proxied INVITE. False when the INVITE is not one of ours. */
  cancel(invite: ServerInviteTransaction): boolean {
    const ctx = this.#contexts.get(invite);
    ctx?.cancel();
    return ctx !== undefined;
  }

  close(): void {
    this.stack.attachProxy(null);
    for (const t of this.#branches.values()) clearTimeout(t);
    this.#branches.clear();
    this.#dialogs.clear();
  }

  #remember(branch: string): void {
    if (!branch) return;
    clearTimeout(this.#branches.get(branch));
    const t = setTimeout(() => this.#branches.delete(branch), 64 * this.stack.options.timers.t1);
    t.unref();
    this.#branches.set(branch, t);
  }

  /**
   * A request in a record-routed dialog. §16.4: the proxy "MUST remove that value from the
   * request"; then §16.6: Max-Forwards, our Via, and the next hop (the next Route, else the
   * Request-URI). An ACK has no transaction and is forwarded statelessly.
   */
  #onRouted(req: SipRequest, tx: ServerTransaction | null, info: ReceivedInfo): void {
    const copy = req.clone();
    copy.headers.removeFirstListValue('Route');
    if (req.maxForwards === 0 && tx) return this.#answer(tx, 483, 'Too Many Hops');
    copy.headers.set('Max-Forwards', String(req.maxForwards === null ? 70 : req.maxForwards - 1));
    const next = copy.headers.has('Route') ? copy.routes[0]?.uri : parseUri(copy.uri);
    const target = next?.kind === 'sip' ? requestTarget(next) : null;
    if (!target) {
      if (tx) this.#answer(tx, 404, 'Not Found');
      return;
    }
    if (!tx) {
      this.stack.forwardAck(copy, target).catch((err: Error) => this.log.debug({ err: err.message, callId: req.callId }, 'proxied ACK not sent'));
      return;
    }
    if (tx instanceof ServerInviteTransaction) void tx.sendTrying().catch(() => undefined);
    const client = this.stack.forward(copy, target) as ClientTransactionBase<string>;
    client.on('response', (res) => {
      if (res.status === 100) return;
      // A BYE answered 2xx ends the dialog here too (§15.1.2).
      if (req.method === 'BYE' && res.status >= 200 && res.status < 300) this.#dialogs.delete(dialogKey(req));
      const up = res.clone();
      up.headers.removeFirstListValue('Via');
      tx.respond(up).catch(() => undefined);
    });
    client.on('timeout', () => this.#answer(tx, 408, 'Request Timeout'));
    client.on('transportError', () => this.#answer(tx, 503, 'Service Unavailable'));
    this.log.debug({ method: req.method, callId: req.callId, from: info.source.remote }, 'in-dialog request proxied');
  }

  /** A 2xx retransmission for a forwarded INVITE: upstream by its next Via (§16.7 step 9, §18.2.2). */
  #onStray(res: SipResponse, _info: ReceivedInfo): void {
    const branch = res.topVia.params.find((p) => p.name === 'branch')?.value;
    if (!branch || !this.#branches.has(branch) || res.status < 200 || res.status >= 300) return;
    const up = res.clone();
    up.headers.removeFirstListValue('Via');
    this.stack.transport.sendResponse(up, null).catch(() => undefined);
  }

  #answer(tx: ServerTransaction, status: number, reason: string): void {
    tx.respond(SipResponse.to(tx.request, status, reason)).catch(() => undefined);
  }
}
