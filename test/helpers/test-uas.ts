/**
 * A minimal UAS written on the SIP stack, for tests only: answers INVITE with 100/180/200 and a
 * static SDP (a Request-URI user of `cancel` only rings, `busy` gets 486), takes ACK, answers BYE,
 * OPTIONS and INFO with 200, re-INVITE with 200, anything else with 501. It records a ladder of
 * what it saw and sent.
 */
import { parseUri } from '../../engine/sip/message/uri.js';
import type { SipRequest } from '../../engine/sip/message/message.js';
import type { SipStack } from '../../engine/sip/sip-stack.js';
import type { ServerTransaction } from '../../engine/sip/transaction/transaction-layer.js';
import { crlfLines } from './sip-text.js';

const UAS_SDP = crlfLines([
  'v=0',
  'o=agent-studio 1 1 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 40000 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
]);

export class TestUas {
  /** e.g. `<- INVITE`, `-> 180`, `<- ACK`, `<- CANCEL`. */
  readonly ladder: string[] = [];
  readonly errors: unknown[] = [];

  constructor(private readonly stack: SipStack) {
    stack.on('request', (req, tx) => {
      this.ladder.push(`<- ${req.method}`);
      if (tx) this.#handle(req, tx).catch((e: unknown) => this.errors.push(e));
    });
    stack.on('cancel', () => this.ladder.push('<- CANCEL'));
  }

  async #send(tx: ServerTransaction, status: number, body?: string): Promise<void> {
    const res = this.stack.createResponse(tx.request, status);
    if (body) {
      res.headers.append('Content-Type', 'application/sdp');
      res.body = Buffer.from(body);
    }
    if (status === 200 && tx.method === 'OPTIONS') {
      res.headers.append('Allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO');
      res.headers.append('Accept', 'application/sdp');
    }
    this.ladder.push(`-> ${status} ${tx.method}`);
    await this.stack.respond(tx, res);
  }

  async #handle(req: SipRequest, tx: ServerTransaction): Promise<void> {
    switch (req.method) {
      case 'INVITE': {
        if (req.toTag !== null) return this.#send(tx, 200, UAS_SDP);
        await this.#send(tx, 100);
        await this.#send(tx, 180);
        const uri = parseUri(req.uri);
        const user = uri.kind === 'sip' ? uri.user : null;
        if (user === 'cancel') return;
        if (user === 'busy') return this.#send(tx, 486);
        return this.#send(tx, 200, UAS_SDP);
      }
      case 'BYE':
      case 'OPTIONS':
      case 'INFO':
        return this.#send(tx, 200);
      default:
        return this.#send(tx, 501);
    }
  }
}
