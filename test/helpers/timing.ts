/** Checks of measured timer schedules (arrival times of retransmissions). */
import type { ExecutionContext } from 'ava';

/**
 * A timer never fires before its interval: Node arms it from the loop clock in whole milliseconds,
 * so at most 1 ms early, and that truncation does not add up along a chain (each re-arm starts
 * from a clock reading no earlier than the previous expiry). 2 ms covers it.
 */
const EARLY_MS = 2;

export interface Retransmissions {
  /**
   * performance.now() taken before the message that starts the schedule is sent (the request, or
   * the response whose sending arms the timer): the timer is armed after it.
   */
  t0: number;
  /** Arrival times at the peer: the first transmission, then each retransmission. */
  times: readonly number[];
  /**
   * The schedule's intervals in order, as far as it goes before the transaction stops (see
   * `doublingGaps`): the i-th retransmission follows the (i-1)-th by intervals[i-1], and there
   * can be no more retransmissions than intervals.
   */
  intervals: readonly number[];
  /**
   * performance.now() when the transaction stopped retransmitting (Timer B, F or H, ackTimeout),
   * stamped in that event's listener. When given, no further retransmission may have fitted.
   */
  stoppedAt?: number;
  /** How late one timer, or the stamp of one arrival, may be on a busy 2-core machine. */
  slackMs?: number;
}

/**
 * Checks measured retransmissions against a schedule. Each retransmission timer is armed when the
 * previous one fires, so lateness adds up along the chain, and an arrival is stamped when the
 * test's event loop gets to it, so one late stamp shortens the next gap by as much as it
 * lengthens its own. Hence:
 * - lower bound, cumulative from t0: the i-th retransmission is no earlier than t0 plus the
 *   first i intervals (the previous firing is no earlier than its own bound and the timer never
 *   fires early), whatever the stamps of the arrivals before it;
 * - upper bound, per gap: at most `slackMs` over the interval, which a missing doubling, an
 *   ignored cap or a wrong first interval exceed (a late stamp only lengthens one gap);
 * - the count is not exact (lateness can push the last retransmission past the stop): at least
 *   one, at most the schedule's, and when the stop time is known, the next interval after the
 *   last arrival (plus slack) reaches it, so the transaction did not stop retransmitting early.
 * That nothing goes out after the stop is left to the callers' `timers: 0` check, which sees a
 * timer still armed without waiting for it.
 */
export function assertRetransmissions(t: ExecutionContext, r: Retransmissions): void {
  const { t0, times, intervals, stoppedAt, slackMs = 150 } = r;
  const n = times.length - 1;
  const seen = `arrivals at ${times.map((x) => (x - t0).toFixed(0)).join(', ')} ms after t0, intervals ${intervals.join(', ')}`;
  t.true(n >= 1 && n <= intervals.length, `${n} retransmissions, expected 1 to ${intervals.length}: ${seen}`);
  let due = t0;
  for (let i = 1; i <= Math.min(n, intervals.length); i++) {
    const interval = intervals[i - 1]!;
    due += interval;
    const at = times[i]!;
    const gap = at - times[i - 1]!;
    t.true(at >= due - EARLY_MS, `retransmission #${i} at ${(at - t0).toFixed(1)} ms, due no earlier than ${(due - t0).toFixed(0)} ms: ${seen}`);
    t.true(gap <= interval + slackMs, `gap #${i}: ${gap.toFixed(1)} ms, expected ${interval} ms (+${slackMs}): ${seen}`);
  }
  if (stoppedAt !== undefined && n < intervals.length) {
    const next = times[n]! + intervals[n]!;
    t.true(
      next + slackMs >= stoppedAt,
      `retransmission #${n + 1} was due at ${(next - t0).toFixed(0)} ms, before the stop at ${(stoppedAt - t0).toFixed(0)} ms: ${seen}`,
    );
  }
}

/**
 * The retransmission gaps a doubling timer produces from `first` (capped at `cap`) within `total`
 * ms, with no lateness: the most retransmissions that can go out before a stop at `total`.
 */
export function doublingGaps(first: number, cap: number | null, total: number): number[] {
  const out: number[] = [];
  let at = 0;
  let interval = first;
  while (at + interval < total) {
    out.push(interval);
    at += interval;
    interval = cap === null ? interval * 2 : Math.min(interval * 2, cap);
  }
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
