/**
 * A dialog (RFC 3261 §12): the state two UAs share for the life of a call — id, route set,
 * remote target, sequence numbers — and the requests made within it (§12.2.1.1, ACK for 2xx
 * §13.2.2.4).
 */
import type { Logger } from '../../../config/logger.js';
import { TypedEmitter } from '../../../lib/typed-emitter.js';
import { initialCSeq } from '../ids.js';
import { Headers } from '../message/headers.js';
import { SipRequest, type SipResponse } from '../message/message.js';
import { formatNameAddr, type NameAddr } from '../message/name-addr.js';
import { formatUri, parseUri, uriParam, type SipUri, type Uri } from '../message/uri.js';
import { hasRfc3261Branch } from '../message/via.js';
import { requestTarget } from '../transport/routing.js';
import type { SipProtocol, Target } from '../transport/types.js';

type DialogState = 'early' | 'confirmed' | 'terminated';
type DialogRole = 'uac' | 'uas';

/** §12: "A dialog is identified at each UA with a dialog ID, which consists of a Call-ID value, a local tag and a remote tag." */
export interface DialogId {
  callId: string;
  localTag: string;
  remoteTag: string;
}

/** The table key of a dialog id. */
export function dialogKey(id: DialogId): string {
  return `${id.callId}\n${id.localTag}\n${id.remoteTag}`;
}

const MOVES: Readonly<Record<DialogState, readonly DialogState[]>> = {
  early: ['confirmed', 'terminated'],
  confirmed: ['terminated'],
  terminated: [],
};

/** Methods that refresh the remote target and so carry a Contact (§12.2, RFC 3311, 3515, 6665). */
const TARGET_REFRESH = new Set(['INVITE', 'UPDATE', 'SUBSCRIBE', 'NOTIFY', 'REFER']);

/** Fields of a new dialog, as §12.1.1 and §12.1.2 compute them. */
interface DialogInit {
  role: DialogRole;
  state: 'early' | 'confirmed';
  id: DialogId;
  /** The local party as written in From (UAC) or To (UAS) of our requests, with our tag. */
  local: NameAddr;
  /** The remote party, with its tag. */
  remote: NameAddr;
  routeSet: NameAddr[];
  remoteTarget: Uri;
  localSeq: number | null;
  remoteSeq: number | null;
  secure: boolean;
  /** Our Contact header value for target refresh requests. */
  localContact: string;
  /** The transport the dialog was set up over (used when the remote target names none). */
  protocol: SipProtocol;
  /** CSeq of the INVITE that created the dialog. */
  inviteCSeq: number;
  /** The method of the request that created the dialog (INVITE, SUBSCRIBE, REFER). */
  method: string;
}

interface DialogEvents extends Record<string, unknown[]> {
  statechange: [to: DialogState, from: DialogState, reason: string];
}

export interface InDialogRequestOptions {
  /** Extra headers, appended in order after the dialog's own. */
  headers?: readonly (readonly [string, string])[];
  body?: Buffer;
  /** Override the CSeq number (default: local sequence + 1, §12.2.1.1). */
  cseq?: number;
}

export class Dialog extends TypedEmitter<DialogEvents> {
  readonly id: DialogId;
  readonly key: string;
  readonly role: DialogRole;
  readonly local: NameAddr;
  remote: NameAddr;
  routeSet: NameAddr[];
  remoteTarget: Uri;
  localSeq: number | null;
  remoteSeq: number | null;
  readonly secure: boolean;
  localContact: string;
  readonly protocol: SipProtocol;
  /** CSeq number of the INVITE that created the dialog. */
  readonly initialCSeq: number;
  /** The method that created the dialog: an INVITE dialog ends with BYE, a SUBSCRIBE one with its subscription (RFC 6665 §4.4.1). */
  readonly method: string;
  /** CSeq of the last INVITE the local side has to ACK: the initial one (UAC) or our last re-INVITE. */
  inviteCSeq: number;
  /** The ACK we sent for the 2xx of `ack.cseq`, kept to answer 2xx retransmissions (§13.2.2.4). */
  lastAck: { cseq: number; raw: Buffer; target: Target } | undefined;
  readonly createdAt = new Date();
  #state: DialogState;

  constructor(
    init: DialogInit,
    private readonly log: Logger,
  ) {
    super((event, error) => log.error({ err: error, event }, 'dialog listener failed'));
    this.id = init.id;
    this.key = dialogKey(init.id);
    this.role = init.role;
    this.local = init.local;
    this.remote = init.remote;
    this.routeSet = init.routeSet;
    this.remoteTarget = init.remoteTarget;
    this.localSeq = init.localSeq;
    this.remoteSeq = init.remoteSeq;
    this.secure = init.secure;
    this.localContact = init.localContact;
    this.protocol = init.protocol;
    this.initialCSeq = init.inviteCSeq;
    this.method = init.method;
    this.inviteCSeq = init.inviteCSeq;
    this.#state = init.state;
  }

  /**
   * §12.1.1, UAS side, from the request and the response (1xx with tag, or 2xx) we send: "The
   * route set MUST be set to the list of URIs in the Record-Route header field from the request,
   * taken in order ... The remote target MUST be set to the URI from the Contact header field of
   * the request. The remote sequence number MUST be set to the value of the sequence number in the
   * CSeq header field of the request. The local sequence number MUST be empty."
   */
  static asUas(req: SipRequest, res: SipResponse, localContact: string, protocol: SipProtocol, log: Logger): Dialog | null {
    // An RFC 2543 INVITE may come without Contact (RFC 4475 §3.4.1): its From is where it is reached.
    const contact = req.contacts[0] ?? (hasRfc3261Branch(req.topVia) ? undefined : { uri: req.from.uri });
    const localTag = res.toTag;
    if (!contact || localTag === null) return null;
    return new Dialog(
      {
        role: 'uas',
        state: res.status >= 200 ? 'confirmed' : 'early',
        id: { callId: req.callId, localTag, remoteTag: req.fromTag ?? '' },
        local: res.to,
        remote: req.from,
        routeSet: req.recordRoutes,
        remoteTarget: contact.uri,
        localSeq: null,
        remoteSeq: req.cseq.seq,
        secure: protocol === 'tls' && req.uri.toLowerCase().startsWith('sips:'),
        localContact,
        protocol,
        inviteCSeq: req.cseq.seq,
        method: req.method,
      },
      log,
    );
  }

  /**
   * §12.1.2, UAC side: "The route set MUST be set to the list of URIs in the Record-Route header
   * field from the response, taken in reverse order ... The remote target MUST be set to the URI
   * from the Contact header field of the response. The local sequence number MUST be set to the
   * value of the sequence number in the CSeq header field of the request. The remote sequence
   * number MUST be empty."
   */
  static asUac(req: SipRequest, res: SipResponse, protocol: SipProtocol, log: Logger): Dialog | null {
    const remoteTag = res.toTag;
    const localTag = req.fromTag;
    if (remoteTag === null || localTag === null) return null;
    // A 1xx without Contact (drachtio-server sends 180 so) still makes an early dialog; its
    // remote target is the Request-URI until the 2xx brings a Contact.
    const contact = res.contacts[0] ?? (res.status < 200 ? { uri: parseUri(req.uri) } : undefined);
    if (!contact) return null;
    return new Dialog(
      {
        role: 'uac',
        state: res.status >= 200 ? 'confirmed' : 'early',
        id: { callId: req.callId, localTag, remoteTag },
        local: req.from,
        remote: res.to,
        routeSet: res.recordRoutes.reverse(),
        remoteTarget: contact.uri,
        localSeq: req.cseq.seq,
        remoteSeq: null,
        secure: req.uri.toLowerCase().startsWith('sips:'),
        localContact: req.headers.get('Contact') ?? '',
        protocol,
        inviteCSeq: req.cseq.seq,
        method: req.method,
      },
      log,
    );
  }

  get state(): DialogState {
    return this.#state;
  }

  /** Moves the dialog; refuses moves the table does not allow. */
  transition(to: DialogState, reason: string): boolean {
    const from = this.#state;
    if (!MOVES[from].includes(to)) return false;
    this.#state = to;
    if (this.log.isLevelEnabled('debug')) this.log.debug({ callId: this.id.callId, from, to, reason }, 'dialog state');
    this.emit('statechange', to, from, reason);
    if (to === 'terminated') this.removeAllListeners();
    return true;
  }

  /**
   * An early dialog becomes confirmed by a 2xx (UAC side): §13.2.2.4 "the dialog MUST be
   * transitioned to the "confirmed" state, and the route set for the dialog MUST be recomputed
   * based on the 2xx response".
   */
  confirm(res: SipResponse): void {
    if (this.role === 'uac') {
      this.routeSet = res.recordRoutes.reverse();
      this.refreshTarget(res);
    }
    this.transition('confirmed', `${res.status} to INVITE`);
  }

  /** §12.2.1.2 / §12.2.2: a target refresh replaces the remote target with its Contact. */
  refreshTarget(msg: SipRequest | SipResponse): void {
    const contact = msg.contacts[0];
    if (contact) this.remoteTarget = contact.uri;
  }

  /**
   * §12.2.2: "If the remote sequence number is empty, it MUST be set to the value of the sequence
   * number in the CSeq header field value in the request. If the remote sequence number was not
   * empty, but the sequence number of the request is lower than the remote sequence number, the
   * request is out of order and MUST be rejected with a 500". Returns false for such a request.
   * ACK and CANCEL carry the CSeq of their INVITE and are not checked.
   */
  acceptRemoteSeq(req: SipRequest): boolean {
    if (req.method === 'ACK' || req.method === 'CANCEL') return true;
    const seq = req.cseq.seq;
    if (this.remoteSeq !== null && seq < this.remoteSeq) return false;
    this.remoteSeq = seq;
    return true;
  }

  /**
   * A request within the dialog (§12.2.1.1): "The URI in the To field of the request MUST be set
   * to the remote URI from the dialog state. The tag in the To header field of the request MUST be
   * set to the remote tag of the dialog ID. The From URI ... local URI ... local tag ... The
   * Call-ID ... MUST be set to the Call-ID of the dialog. Requests within a dialog MUST contain
   * strictly monotonically increasing and contiguous CSeq sequence numbers". The Request-URI and
   * Route come from the route set (`routeRequest`). Our Via is added by the transaction layer.
   */
  createRequest(method: string, opts: InDialogRequestOptions = {}): { request: SipRequest; target: Target } {
    if (method === 'ACK') throw new Error('use createAck for ACK');
    // "If the local sequence number is empty, an initial value MUST be chosen using the
    // guidelines of Section 8.1.1.5."
    const seq = opts.cseq ?? (this.localSeq === null ? initialCSeq() : this.localSeq + 1);
    this.localSeq = seq;
    if (method === 'INVITE') this.inviteCSeq = seq;
    return this.#build(method, seq, opts, TARGET_REFRESH.has(method));
  }

  /**
   * The ACK for a 2xx (§13.2.2.4): "The header fields of the ACK are constructed in the same way
   * as for any request sent within a dialog ... with the exception of the CSeq and the header
   * fields related to authentication. The sequence number of the CSeq header field MUST be the
   * same as the INVITE being acknowledged, but the CSeq method MUST be ACK." Credentials, if
   * needed, go in `opts.headers`.
   */
  createAck(inviteCSeq = this.inviteCSeq, opts: Omit<InDialogRequestOptions, 'cseq'> = {}): { request: SipRequest; target: Target } {
    return this.#build('ACK', inviteCSeq, opts, false);
  }

  #build(method: string, seq: number, opts: InDialogRequestOptions, withContact: boolean): { request: SipRequest; target: Target } {
    const { requestUri, routes } = this.#routeRequest();
    const h = new Headers();
    for (const r of routes) h.append('Route', r);
    h.append('Max-Forwards', '70');
    h.append('From', formatNameAddr(this.local));
    h.append('To', formatNameAddr(this.remote));
    h.append('Call-ID', this.id.callId);
    h.append('CSeq', `${seq} ${method}`);
    if (withContact && this.localContact) h.append('Contact', this.localContact);
    for (const [n, v] of opts.headers ?? []) h.append(n, v);
    const request = new SipRequest(method, requestUri, h, opts.body ?? Buffer.alloc(0));
    return { request, target: this.target() };
  }

  /**
   * §12.2.1.1: "If the route set is empty, the UAC MUST place the remote target URI into the
   * Request-URI. The UAC MUST NOT add a Route header field to the request. If the route set is
   * not empty, and the first URI in the route set contains the lr parameter ..., the UAC MUST place
   * the remote target URI into the Request-URI and MUST include a Route header field containing
   * the route set values in order". Otherwise (strict routing) "the UAC MUST place the first URI
   * from the route set into the Request-URI, stripping any parameters that are not allowed in a
   * Request-URI", and the remote target goes last in the Route header.
   */
  #routeRequest(): { requestUri: string; routes: string[] } {
    const first = this.routeSet[0];
    if (!first) return { requestUri: formatUri(this.remoteTarget), routes: [] };
    const firstUri = first.uri;
    if (firstUri.kind !== 'sip' || uriParam(firstUri, 'lr') !== undefined) {
      return { requestUri: formatUri(this.remoteTarget), routes: this.routeSet.map(formatNameAddr) };
    }
    const stripped: SipUri = { ...firstUri, params: firstUri.params.filter((p) => p.name.toLowerCase() !== 'method'), headers: null };
    return {
      requestUri: formatUri(stripped),
      routes: [...this.routeSet.slice(1).map(formatNameAddr), `<${formatUri(this.remoteTarget)}>`],
    };
  }

  /**
   * The next hop (§8.1.2 / §12.2.1.1): the first Route if there is one, otherwise the remote
   * target. A URI that names no transport keeps the dialog's transport (a TCP peer's Contact
   * rarely says `transport=tcp`, and the connection it opened is the way back to it).
   */
  target(firstRoute = this.routeSet[0] ? formatNameAddr(this.routeSet[0]) : undefined): Target {
    const uri = firstRoute ? parseRouteUri(firstRoute) : this.remoteTarget;
    if (uri.kind !== 'sip') throw new Error(`cannot send to a ${uri.scheme}: URI`);
    const t = requestTarget(uri);
    if (!t) throw new Error(`unsupported transport in ${formatUri(uri)}`);
    if (uriParam(uri, 'transport') === undefined && uri.scheme === 'sip') t.protocol = this.protocol;
    return t;
  }

  /** A short description for logs and health. */
  toJSON(): Record<string, unknown> {
    return { ...this.id, role: this.role, state: this.#state, remoteTarget: formatUri(this.remoteTarget), localSeq: this.localSeq, remoteSeq: this.remoteSeq };
  }
}

function parseRouteUri(route: string): Uri {
  const inner = /<([^>]*)>/.exec(route)?.[1] ?? route;
  return parseUri(inner);
}

/**
 * RFC 6665 §4.4.1: "A subscription is destroyed after a notifier sends a NOTIFY request with a
 * 'Subscription-State' of 'terminated'"; a dialog that a SUBSCRIBE created has nothing else to
 * hold it, so it ends when such a NOTIFY is answered with 2xx. (A REFER's subscription inside an
 * INVITE dialog ends alone: the INVITE dialog stays.)
 */
export function endsSubscription(notify: SipRequest, dialog: Dialog): boolean {
  return notify.method === 'NOTIFY' && dialog.method === 'SUBSCRIBE' && /^\s*terminated\b/i.test(notify.headers.get('Subscription-State') ?? '');
}
