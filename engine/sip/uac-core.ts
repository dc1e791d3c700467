/**
 * The UAC core's share of the stack (RFC 3261 §8.1, §9.1, §12.1.2, §12.2.1, §13.2.2): completing
 * and routing requests, tracking the dialogs their responses create, CANCEL, and the ACK of 2xx.
 */
import type { Logger } from '../../config/logger.js';
import type { TypedEmitter } from '../../lib/typed-emitter.js';
import { Dialog, endsSubscription } from './dialog/dialog.js';
import type { DialogTable } from './dialog/dialog-table.js';
import { newBranch } from './ids.js';
import type { SipRequest, SipResponse } from './message/message.js';
import { parseUri } from './message/uri.js';
import { formatVia } from './message/via.js';
import { completeRequest } from './request-defaults.js';
import type { SipStackEvents } from './stack-events.js';
import type { ClientInviteTransaction } from './transaction/client-invite-transaction.js';
import { cancelFor } from './transaction/derived-requests.js';
import type { ClientTransaction, TransactionLayer } from './transaction/transaction-layer.js';
import { requestTarget, viaTransport } from './transport/routing.js';
import type { TransportLayer } from './transport/transport-layer.js';
import { TransportError, type ReceivedInfo, type SentInfo, type SipProtocol, type Target } from './transport/types.js';

interface UacCoreDeps {
  transport: TransportLayer;
  transactions: TransactionLayer;
  dialogs: DialogTable;
  events: TypedEmitter<SipStackEvents>;
  log: Logger;
}

/** Where a sent message went, as a target that reaches the same place (and connection). */
function sameHop(sent: SentInfo): Target {
  return { protocol: sent.protocol, host: sent.remote.address, port: sent.remote.port, connectionId: sent.connectionId };
}

export class UacCore {
  constructor(private readonly d: UacCoreDeps) {}

  /** See `SipStack.completeRequest`. */
  completeRequest(req: SipRequest, protocol: SipProtocol): SipRequest {
    const sentBy = this.d.transport.sentBy(protocol);
    return completeRequest(req, { host: sentBy.host, port: sentBy.port, protocol });
  }

  /** See `SipStack.targetFor`. */
  targetFor(req: SipRequest): Target {
    const route = req.routes[0];
    const uri = route ? route.uri : parseUri(req.uri);
    if (uri.kind !== 'sip') throw new TransportError('no-transport', `cannot route to a ${uri.scheme}: URI`);
    const t = requestTarget(uri);
    if (!t) throw new TransportError('no-transport', `unsupported transport in ${req.uri}`);
    return t;
  }

  /** See `SipStack.sendRequest`. */
  sendRequest(req: SipRequest, target: Target): ClientTransaction {
    this.completeRequest(req, target.protocol);
    const tx = this.d.transactions.sendRequest(req, target);
    if (req.method === 'INVITE') this.#trackInvite(tx as ClientInviteTransaction, target.protocol);
    if (req.method === 'NOTIFY') {
      tx.on('response', (res) => {
        const dialog = res.status >= 200 && res.status < 300 ? this.d.dialogs.matchResponse(res) : undefined;
        if (dialog && endsSubscription(req, dialog)) this.d.dialogs.remove(dialog, 'subscription terminated');
      });
    }
    if (req.method === 'BYE') {
      const end = (why: string) => {
        const dialog = this.d.dialogs.get({ callId: req.callId, localTag: req.fromTag ?? '', remoteTag: req.toTag ?? '' });
        if (dialog) this.d.dialogs.remove(dialog, why);
      };
      // A 401/407 challenge leaves the dialog up: the BYE is retried with credentials in it
      // (§22.2, §22.3 "the client SHOULD retry the request"; drachtio-srf does, in the dialog).
      tx.on('response', (res) => res.status >= 200 && res.status !== 401 && res.status !== 407 && end(`BYE ${res.status}`));
      tx.on('timeout', () => end('BYE timed out'));
      tx.on('transportError', () => end('BYE not sent'));
    }
    return tx;
  }

  /** §12.1.2: dialogs from an INVITE's responses; §13.2.2.3 a non-2xx final ends early ones. */
  #trackInvite(tx: ClientInviteTransaction, protocol: SipProtocol): void {
    const req = tx.request;
    const dialogs = this.d.dialogs;
    tx.on('response', (res) => {
      if (req.toTag !== null) {
        // re-INVITE: §12.2.1.2 "When a UAC receives a 2xx response to a target refresh request,
        // it MUST replace the dialog's remote target URI with the URI from the Contact".
        if (res.status >= 200 && res.status < 300) dialogs.matchResponse(res)?.refreshTarget(res);
        return;
      }
      const existing = dialogs.matchResponse(res);
      if (res.status >= 300) dialogs.removeEarly(req.callId, req.fromTag ?? '', `${res.status} received`);
      else if (res.status >= 200 && existing) existing.confirm(res);
      else if (!existing && (res.status >= 200 || (res.status > 100 && res.toTag !== null))) {
        const dialog = Dialog.asUac(req, res, protocol, this.d.log);
        if (dialog) dialogs.add(dialog);
      }
    });
    const fail = (why: string) => dialogs.removeEarly(req.callId, req.fromTag ?? '', why);
    tx.on('timeout', () => fail('INVITE timed out'));
    tx.on('transportError', () => fail('INVITE not sent'));
  }

  /** See `SipStack.cancel`. */
  cancel(tx: ClientInviteTransaction, headers: readonly (readonly [string, string])[]): Promise<ClientTransaction | null> {
    const send = (): ClientTransaction =>
      this.d.transactions.sendRequest(cancelFor(tx.request, headers), tx.sentInfo ? sameHop(tx.sentInfo) : tx.target, { keepVia: true });
    if (tx.state === 'proceeding') return Promise.resolve(send());
    if (tx.state !== 'calling') return Promise.resolve(null);
    return new Promise((resolve) => {
      tx.on('statechange', (to) => resolve(to === 'proceeding' ? send() : null));
    });
  }

  /** See `SipStack.sendAck`. */
  async sendAck(ack: SipRequest, target: Target): Promise<SentInfo> {
    this.#addVia(ack, target);
    if (!ack.headers.has('Max-Forwards')) ack.headers.insertAfter('Via', 'Max-Forwards', '70');
    const sent = await this.d.transport.sendRequest(ack, target);
    const dialog = this.d.dialogs.get({ callId: ack.callId, localTag: ack.fromTag ?? '', remoteTag: ack.toTag ?? '' });
    if (dialog) dialog.lastAck = { cseq: ack.cseq.seq, raw: sent.raw, target: sameHop(sent) };
    return sent;
  }

  /** See `SipStack.forwardAck`. */
  forwardAck(ack: SipRequest, target: Target): Promise<SentInfo> {
    this.#addVia(ack, target);
    return this.d.transport.sendRequest(ack, target);
  }

  /** Our Via on top, with a new branch (§8.1.1.7) and the RFC 3581 rport flag. */
  #addVia(req: SipRequest, target: Target): void {
    const sentBy = this.d.transport.sentBy(target.protocol);
    req.headers.prepend(
      'Via',
      formatVia({ protocol: 'SIP/2.0', transport: viaTransport(target.protocol), host: sentBy.host, port: sentBy.port, params: [{ name: 'rport', value: null }, { name: 'branch', value: newBranch() }] }),
    );
  }

  /**
   * A response no transaction wanted. §13.2.2.4: "The UAC core MUST generate an ACK request for
   * each 2xx received from the transaction layer" — a retransmitted 2xx gets the same ACK again.
   */
  onStrayResponse(res: SipResponse, info: ReceivedInfo): void {
    if (res.cseq.method === 'INVITE' && res.status >= 200 && res.status < 300) {
      const ack = this.d.dialogs.matchResponse(res)?.lastAck;
      if (ack && ack.cseq === res.cseq.seq) {
        this.d.transport.sendTo(ack.raw, ack.target, 'ACK (again)').catch(() => undefined);
        return;
      }
    }
    this.d.events.emit('strayResponse', res, info);
  }
}
