/**
 * Reliable provisional responses (RFC 3262) an app sends with `Require: 100rel`, as
 * drachtio-server (sofia-sip's nta) does them for the app: the server numbers them (RSeq),
 * retransmits each until its PRACK arrives, and answers a PRACK that matches nothing with 481.
 */
import { randomInt } from 'node:crypto';
import type { Logger } from '../../../config/logger.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import type { ServerInviteTransaction } from '../transaction/server-invite-transaction.js';

interface Unacked {
  rseq: number;
  res: SipResponse;
  /** The next retransmission. */
  timer: NodeJS.Timeout;
  /** 64*T1 after the first send. */
  deadline: NodeJS.Timeout;
}

/** True for a 101-199 response whose Require lists `100rel` (RFC 3262 §3). */
export function isReliable(res: SipResponse): boolean {
  return res.status > 100 && res.status < 200 && res.headers.getList('Require').some((o) => o.toLowerCase() === '100rel');
}

export class ReliableProvisionals {
  readonly #unacked = new Map<ServerInviteTransaction, Unacked>();
  readonly #nextRSeq = new WeakMap<ServerInviteTransaction, number>();

  constructor(
    private readonly t1: number,
    /** 64*T1 without PRACK: "the UAS SHOULD reject the original request with a 5xx response". */
    private readonly giveUp: (tx: ServerInviteTransaction) => void,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.#unacked.size;
  }

  /**
   * Numbers `res` and keeps resending it. §3: "The provisional response MUST contain an RSeq
   * header field ... between 1 and 2**31 - 1 ... each subsequent reliable provisional response
   * for the same request MUST be larger by one"; "The reliable provisional response is passed to
   * the transaction layer periodically with an interval that starts at T1 seconds and doubles
   * for each retransmission". An RSeq the app wrote (copied from another leg) is replaced.
   */
  send(tx: ServerInviteTransaction, res: SipResponse): void {
    const known = this.#nextRSeq.get(tx);
    const rseq = known ?? randomInt(1, 2 ** 31 - 1);
    this.#nextRSeq.set(tx, rseq + 1);
    // A final response, a CANCEL (487) or a transport error ends the INVITE: nothing to resend.
    if (known === undefined) tx.on('statechange', (to) => to !== 'proceeding' && this.stop(tx));
    res.headers.set('RSeq', String(rseq));
    this.stop(tx);
    let interval = this.t1;
    const again = () => {
      if (tx.state === 'proceeding') tx.respond(res).catch(() => undefined);
      interval *= 2;
      entry.timer = setTimeout(again, interval);
    };
    const expire = () => {
      this.stop(tx);
      this.log.info({ callId: tx.request.callId, rseq }, 'reliable provisional response never PRACKed');
      this.giveUp(tx);
    };
    const entry: Unacked = { rseq, res, timer: setTimeout(again, interval), deadline: setTimeout(expire, 64 * this.t1) };
    this.#unacked.set(tx, entry);
  }

  /**
   * A PRACK: true when its RAck (`<rseq> <cseq> <method>`, §7.2) acknowledges a response that
   * is still retransmitted, which then stops. §3: "If the PRACK does not match any
   * unacknowledged reliable provisional response, the UAS MUST respond to the PRACK with a 481".
   */
  prack(prack: SipRequest): boolean {
    // Read leniently: drachtio-srf's uac-prack.xml writes `RAck: <rseq> <cseq> INVITE INVITE`.
    const m = /^\s*(\d+)\s+(\d+)\s+(\S+)/.exec(prack.headers.get('RAck') ?? '');
    if (!m) return false;
    for (const [tx, u] of this.#unacked) {
      const req = tx.request;
      if (req.callId === prack.callId && req.fromTag === prack.fromTag && u.rseq === Number(m[1]) && req.cseq.seq === Number(m[2])) {
        this.stop(tx);
        return true;
      }
    }
    return false;
  }

  /** Stops retransmitting for `tx` (PRACKed, or a final response went out). */
  stop(tx: ServerInviteTransaction): void {
    const u = this.#unacked.get(tx);
    if (!u) return;
    clearTimeout(u.timer);
    clearTimeout(u.deadline);
    this.#unacked.delete(tx);
  }

  close(): void {
    for (const tx of [...this.#unacked.keys()]) this.stop(tx);
  }
}
