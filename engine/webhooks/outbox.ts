/**
 * The webhook outbox: an event-log writer (`EventLog.addWriter`) that queues one delivery per
 * matching subscription inside the event's own transaction. A queued delivery therefore exists
 * exactly when its event does, whatever crash follows; the dispatcher sends it later, off the
 * call's path. The cost on the path is one indexed SELECT per event (plus one INSERT per match).
 */
import type { EventWriter } from '../events/event-log.js';
import type { StoredEvent } from '../events/schemas.js';
import type { QueuedEvent } from '../store/repositories/webhook-deliveries.js';
import type { Scope } from '../store/repositories/scoped.js';
import type { Store } from '../store/store.js';

/** The agent an event is about (call events carry the call's agent), or null. */
function agentOf(event: StoredEvent): string | null {
  const a = event.data['agentId'];
  return typeof a === 'string' ? a : null;
}

/**
 * The writer. `queued` is told after deliveries were queued (still inside the transaction: it
 * should only schedule work, e.g. `setImmediate`, which runs after the commit).
 */
export function webhookOutbox(store: Store, queued: () => void): EventWriter {
  // A savepoint (the writer runs inside the event's transaction): all of the event's deliveries,
  // or, when one insert throws, none of them. Wrapped once, not per event.
  const enqueueAll = store.db.transaction((scope: Scope, ids: string[], event: QueuedEvent) => {
    for (const id of ids) store.webhookDeliveries.enqueue(scope, id, event);
  });
  return (event) => {
    if (event.tenantId === null) return;
    const ids = store.webhooks.matching(event.tenantId, event.mode, event.type, agentOf(event));
    if (!ids.length) return;
    const payload = JSON.stringify(event);
    enqueueAll({ tenantId: event.tenantId, mode: event.mode }, ids, { id: event.id, type: event.type, callId: event.callId, payload });
    queued();
  };
}
