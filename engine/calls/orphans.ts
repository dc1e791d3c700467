/**
 * Start-up recovery of calls. A process that died without a graceful stop (SIGKILL, OOM, power)
 * left its live calls open in the store, and their callers got no BYE; the new process has no
 * dialog or media state for them (an in-dialog request for one is answered 481). In one
 * transaction, before call control takes its first INVITE:
 *
 * 1. A call whose 200 OK had been sent when the process died, but whose answer was not yet
 *    recorded, is recorded as answered at the time of the 200 (`answer_sent_at`, written just
 *    before it), with its `call.answered`: the caller was answered, and the record says so.
 * 2. Every open call is closed as `engine_restart` by the system, with its `call.ended`: a
 *    timeline never stops at `call.answered`, and a client resuming its event stream learns that
 *    the call is over. The call ends when the dead process was last known alive (its heartbeat,
 *    written every second; migration 0007), so the downtime before this start is not talk time.
 */
import type { Logger } from '../../config/logger.js';
import type { EventLog } from '../events/event-log.js';
import { nowIso } from '../store/ids.js';
import type { Store } from '../store/store.js';
import type { EndReason } from './call.js';

const reason: EndReason = 'engine_restart';

/** Recovers the calls a previous run left open; resolves to how many were answered and closed. */
export function closeOrphanedCalls(store: Store, events: EventLog, log: Logger): { answered: number; closed: number } {
  const counts = events.transaction(() => {
    const answered = store.calls.recordSentAnswers();
    for (const c of answered) {
      events.append('call.answered', { tenantId: c.tenantId, mode: c.mode, callId: c.id }, { callId: c.id, agentId: c.agentId, answeredAt: c.answeredAt! });
    }
    const closed = store.calls.endAllOpen(reason, diedBy(store));
    for (const c of closed) {
      events.append('call.ended', { tenantId: c.tenantId, mode: c.mode, callId: c.id }, {
        callId: c.id,
        agentId: c.agentId,
        endReason: reason,
        hangupBy: 'system',
        durationMs: c.durationMs,
      });
    }
    return { answered: answered.length, closed: closed.length };
  });
  if (counts.closed) log.warn({ orphans: counts.closed, answeredUnrecorded: counts.answered, reason }, 'closed calls left open by a previous run');
  return counts;
}

/** The last heartbeat of the dead process (now when there is none, or the clock went back). */
function diedBy(store: Store): string {
  const now = nowIso();
  const last = store.liveness.lastAlive();
  return last && last < now ? last : now;
}
