/**
 * RFC 4028 session timers, UAS side: negotiate the interval and refresher from the INVITE, and
 * keep the session alive or end it. drachtio-srf has no session-timer support of its own.
 */

interface TimerRequest {
  /** Session-Expires header value, if any (`1800;refresher=uac`). */
  sessionExpires?: string;
  /** Min-SE header value, if any. */
  minSE?: string;
  /** Supported header value(s). */
  supported?: string;
}

/** What `negotiateTimer` settled: no timer, a 422, or the interval, refresher and headers to send. */
export type TimerPlan =
  | { kind: 'none' }
  | { kind: 'reject'; minSE: number }
  | { kind: 'timer'; interval: number; refresher: 'uac' | 'uas'; headers: Record<string, string> };

/**
 * Decides what to answer (RFC 4028 §9):
 * - Session-Expires below our Min-SE: 422 with our Min-SE.
 * - The UAC supports `timer`: copy or set Session-Expires, `Require: timer`, refresher uac unless
 *   the UAC asked otherwise.
 * - Session-Expires without `Supported: timer` (a proxy asked): we refresh (refresher=uas).
 */
export function negotiateTimer(req: TimerRequest, ours: { interval: number; minSE: number }): TimerPlan {
  const supports = /(^|,)\s*timer\s*(,|$)/i.test(req.supported ?? '');
  const se = /^\s*(\d+)\s*(?:;(.*))?$/.exec(req.sessionExpires ?? '');
  const theirMin = Number(/^\s*(\d+)/.exec(req.minSE ?? '')?.[1] ?? 0);
  if (se) {
    const interval = Number(se[1]);
    // §9: "If the value of the Session-Expires ... is lower than the Min-SE value the UAS MUST reject with 422".
    if (interval < ours.minSE) return { kind: 'reject', minSE: ours.minSE };
    const asked = /refresher\s*=\s*(uac|uas)/i.exec(se[2] ?? '')?.[1]?.toLowerCase() as 'uac' | 'uas' | undefined;
    // §9: without Supported: timer the UAC cannot refresh, so the refresher MUST be uas.
    const refresher = supports ? (asked ?? 'uac') : 'uas';
    return plan(interval, refresher, supports);
  }
  if (!supports) return { kind: 'none' };
  // §9: the UAS may request a timer the UAC did not ask for, not below the request's Min-SE.
  return plan(Math.max(ours.interval, theirMin, ours.minSE), 'uac', true);
}

function plan(interval: number, refresher: 'uac' | 'uas', supports: boolean): TimerPlan {
  const headers: Record<string, string> = { 'Session-Expires': `${interval};refresher=${refresher}` };
  // §9: "If the request contained a Supported header field with the value 'timer', the UAS MUST
  // include a Require header field in the response with the value 'timer'".
  if (supports) headers.Require = 'timer';
  return { kind: 'timer', interval, refresher, headers };
}

/**
 * When the non-refreshing side gives up (§10): "the minimum of 32 seconds and one third of the
 * session interval" before expiry. When we refresh: at half the interval (§10 RECOMMENDED).
 */
export function timerDelays(interval: number): { expireMs: number; refreshMs: number } {
  return {
    expireMs: (interval - Math.min(32, interval / 3)) * 1000,
    refreshMs: (interval / 2) * 1000,
  };
}
