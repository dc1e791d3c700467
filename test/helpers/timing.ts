/** Checks of measured timer schedules (arrival times of retransmissions). */
import type { ExecutionContext } from 'ava';

/** Intervals between consecutive times. */
function gaps(times: readonly number[]): number[] {
  return times.slice(1).map((x, i) => x - times[i]!);
}

/**
 * Each measured gap must be close to the expected one. Timers never fire early, but an arrival is
 * stamped when the event loop gets to it: a busy loop stamps one arrival late, which shortens
 * the gap before it by as much as it lengthens the next. Hence 25 ms below, `slackMs` above
 * (a busy 2-core machine).
 */
export function assertGaps(t: ExecutionContext, times: readonly number[], expected: readonly number[], slackMs = 150): void {
  const measured = gaps(times);
  t.is(measured.length, expected.length, `gaps ${measured.map((g) => g.toFixed(0)).join(', ')} vs expected ${expected.join(', ')}`);
  measured.forEach((g, i) => {
    const e = expected[i]!;
    t.true(g >= e - 25 && g <= e + slackMs, `gap #${i + 1}: ${g.toFixed(1)} ms, expected ${e} ms`);
  });
}

/** The retransmission gaps a doubling timer produces from `first` (capped at `cap`) within `total` ms. */
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
