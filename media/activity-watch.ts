/**
 * Decides, from a leg's transport counters, whether the peer is still sending RTP, has gone
 * quiet (reap it), or is sending something the worker cannot match (re-latch). The leg feeds it
 * samples; this file has no timers and no I/O.
 */

/**
 * Bytes arriving on the leg's port without reaching its Producer before we re-latch: about nine
 * G.711 packets (172 bytes each), which RTCP alone (one ~100-byte report every ~5 s, RFC 3550
 * §6.2) never reaches within a watch period.
 */
export const relatchAfterBytes = 1500;
/** ...and they must arrive within this window, so a trickle of RTCP never adds up to a re-latch. */
const relatchWindowMs = 2000;

interface TransportSample {
  /** Every byte received on the port (RTP, RTCP, strays), as the worker counts them. */
  bytesReceived: number;
  /** RTP bytes that matched the leg's Producer. */
  rtpBytesReceived: number;
}

type WatchVerdict = 'ok' | 'inactive' | 'relatch';

export class ActivityWatch {
  #lastRtpAt: number | null = null;
  /** Start of the current silence: last RTP, or the last sign of life (start, re-INVITE). */
  #quietSince: number;
  #base: TransportSample | null = null;
  #unmatched = 0;
  #unmatchedSince = 0;
  #reported = false;
  /** True while the peer said it will not send (recvonly, inactive): silence is expected. */
  suspended = false;

  constructor(
    readonly inactivityMs: number,
    now: number,
  ) {
    this.#quietSince = now;
  }

  get lastRtpAt(): number | null {
    return this.#lastRtpAt;
  }

  /** RTP seen outside the counters (the packet that latched the leg). */
  rtpSeen(at: number): void {
    this.#lastRtpAt = at;
    this.#quietSince = at;
    this.#reported = false;
  }

  /** Signalling showed the peer alive (a re-offer): silence counts from now. */
  signOfLife(at: number): void {
    this.#quietSince = Math.max(this.#quietSince, at);
    this.#reported = false;
  }

  /** A new transport: its counters start again from zero. */
  newCounters(): void {
    this.#base = null;
    this.#unmatched = 0;
  }

  /**
   * Takes the transport's counters (or `null` while no transport exists) at time `now`:
   * `relatch` when bytes arrive that never reach the Producer (new SSRC, new source address),
   * `inactive` once per silent spell of `inactivityMs`, else `ok`.
   */
  observe(now: number, sample: TransportSample | null): WatchVerdict {
    if (sample) {
      const base = this.#base ?? { bytesReceived: 0, rtpBytesReceived: 0 };
      this.#base = sample;
      if (sample.rtpBytesReceived > base.rtpBytesReceived) {
        this.rtpSeen(now);
        this.#unmatched = 0;
      } else if (sample.bytesReceived > base.bytesReceived) {
        if (this.#unmatched === 0 || now - this.#unmatchedSince > relatchWindowMs) {
          this.#unmatched = 0;
          this.#unmatchedSince = now;
        }
        this.#unmatched += sample.bytesReceived - base.bytesReceived;
        if (this.#unmatched >= relatchAfterBytes) {
          this.#unmatched = 0;
          return 'relatch';
        }
      }
    }
    if (this.suspended || this.#reported || now - this.#quietSince < this.inactivityMs) return 'ok';
    this.#reported = true;
    return 'inactive';
  }

  /** How long the peer has been quiet, as of `now`. */
  silentFor(now: number): number {
    return now - this.#quietSince;
  }
}
