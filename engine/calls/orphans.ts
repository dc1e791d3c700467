/**
 * Start-up recovery of calls. A process that died without a graceful stop (SIGKILL, OOM, power)
 * left its live calls open in the store, and their callers got no BYE; the new process has no
 * dialog or media state for them (an in-dialog request for one is answered 481). In one
 * transaction, before call control takes its first INVITE, every open call is closed as
 * `engine_restart` by the system, with its `call.ended`: a timeline never stops at
 * `call.answered`, and a client resuming its event stream learns that the call is over. Talk
 * time runs to this start (the moment of the crash is not known).
 */
import type { Logger } from '../../config/logger.js';
import type { EventLog } from '../events/event-log.js';
import type { Store } from '../store/store.js';
import type { EndReason } from './call.js';

const reason: EndReason = 'engine_restart';

/** Recovers the calls a previous run left open; returns how many it closed. */
export function closeOrphanedCalls(store: Store, events: EventLog, log: Logger): { closed: number } {
  const counts = events.transaction(() => {
    const closed = store.calls.endAllOpen(reason);
    for (const c of closed) {
      events.append('call.ended', { tenantId: c.tenantId, mode: c.mode, callId: c.id }, {
        callId: c.id,
        agentId: c.agentId,
        endReason: reason,
        hangupBy: 'system',
        durationMs: c.durationMs,
      });
    }
    return { closed: closed.length };
  });
  if (counts.closed) log.warn({ orphans: counts.closed, reason }, 'closed calls left open by a previous run');
  return counts;
}
