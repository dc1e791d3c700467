/**
 * The UAS core's 2xx retransmission (RFC 3261 §13.3.1.4). The INVITE server transaction ends
 * when it sends a 2xx, so the core keeps the 2xx alive: "The 2xx response is passed to the
 * transport with an interval that starts at T1 seconds and doubles for each retransmission until
 * it reaches T2 seconds ... Response retransmissions cease when an ACK request for the response
 * is received." and "If the server retransmits the 2xx response for 64*T1 seconds without
 * receiving an ACK, the dialog is confirmed, but the session SHOULD be terminated."
 *
 * Retransmissions are sent over unreliable transports only: over TCP/TLS the hop is reliable, as
 * in the other stacks we know (sofia-sip, pjsip). The 64*T1 wait for the ACK runs on all.
 */
import type { Logger } from '../../../config/logger.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import { TimerSet, type TimerConfig, type TimerCounter } from '../transaction/timers.js';
import type { TransportLayer } from '../transport/transport-layer.js';
import type { SentInfo } from '../transport/types.js';

interface Pending {
  response: SipResponse;
  sent: SentInfo | undefined;
  retransmissions: number;
}

/** The key an ACK shares with the 2xx it acknowledges: Call-ID, tags, CSeq number. */
function ackKey(callId: string, fromTag: string | null, toTag: string | null, seq: number): string {
  return `${callId}\n${fromTag ?? ''}\n${toTag ?? ''}\n${seq}`;
}

export class Uas2xxRetransmitter {
  readonly #pending = new Map<string, Pending>();
  readonly #timers: TimerSet;

  constructor(
    private readonly transport: TransportLayer,
    private readonly timers: TimerConfig,
    counter: TimerCounter,
    /** Called when 64*T1 passed without an ACK. */
    private readonly onTimeout: (response: SipResponse) => void,
    private readonly log: Logger,
  ) {
    this.#timers = new TimerSet(counter);
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Starts retransmitting `response` (already sent once, `sent` resolves with it). */
  start(response: SipResponse, sent: Promise<SentInfo>, reliable: boolean): void {
    const key = ackKey(response.callId, response.fromTag, response.toTag, response.cseq.seq);
    this.stop(key);
    const p: Pending = { response, sent: undefined, retransmissions: 0 };
    this.#pending.set(key, p);
    sent.then(
      (s) => (p.sent = s),
      () => this.stop(key),
    );
    if (!reliable) {
      const run = (interval: number) => {
        this.#timers.start(`${key}\nretransmit`, interval, () => {
          if (p.sent) {
            p.retransmissions++;
            this.transport.resend(p.sent).catch((err: Error) => this.log.debug({ err: err.message }, '2xx retransmission failed'));
          }
          run(Math.min(interval * 2, this.timers.t2));
        });
      };
      run(this.timers.t1);
    }
    this.#timers.start(`${key}\ntimeout`, 64 * this.timers.t1, () => {
      this.stop(key);
      this.log.info({ callId: response.callId, cseq: response.cseq.seq }, 'no ACK for 2xx within 64*T1');
      this.onTimeout(response);
    });
  }

  /** Stops retransmitting the 2xx this ACK acknowledges. Returns the response if one was pending. */
  ack(ack: SipRequest): { response: SipResponse; retransmissions: number } | null {
    const key = ackKey(ack.callId, ack.fromTag, ack.toTag, ack.cseq.seq);
    const p = this.#pending.get(key);
    if (!p) return null;
    this.stop(key);
    return { response: p.response, retransmissions: p.retransmissions };
  }

  /**
   * A retransmission of an INVITE whose 2xx is still pending (same Call-ID, From tag and CSeq):
   * sends the 2xx again and returns true.
   */
  retransmittedInvite(invite: SipRequest): boolean {
    const fromTag = invite.fromTag;
    const seq = invite.cseq.seq;
    for (const p of this.#pending.values()) {
      const r = p.response;
      if (r.callId === invite.callId && r.fromTag === fromTag && r.cseq.seq === seq) {
        if (p.sent) this.transport.resend(p.sent).catch(() => undefined);
        return true;
      }
    }
    return false;
  }

  /**
   * Stops the 2xx retransmissions of a dialog that has ended: a BYE answered while our 2xx was
   * still unacknowledged means the ACK was lost, and the session is over anyway.
   */
  stopForDialog(callId: string, localTag: string, remoteTag: string): void {
    for (const [key, p] of [...this.#pending]) {
      const r = p.response;
      if (r.callId === callId && r.toTag === localTag && (r.fromTag ?? '') === remoteTag) this.stop(key);
    }
  }

  stop(key: string): void {
    this.#pending.delete(key);
    this.#timers.stop(`${key}\nretransmit`);
    this.#timers.stop(`${key}\ntimeout`);
  }

  close(): void {
    this.#pending.clear();
    this.#timers.clear();
  }
}
