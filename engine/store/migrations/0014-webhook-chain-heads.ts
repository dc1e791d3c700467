import type { Migration } from '../migrate.js';

/**
 * Only the head of a call's pending deliveries has a due time (issue 11, measured).
 *
 * A subscription keeps each call's events in order: a later delivery of a call waits while an
 * earlier one is pending. Until now every waiting row kept its own `next_attempt_at`, so each scan
 * of the due index walked past all of them and rejected each with a correlated lookup: with a
 * receiver down and 20,000 rows queued, one scan took about 17 ms, on the main thread, and the
 * dispatcher scans after every event. Now a waiting row has no due time (NULL, outside the
 * partial index's range scan); when a call's head finishes, the repository gives the next row of
 * that call its due time. This migration does the same to the rows already waiting.
 */
export const m0014WebhookChainHeads: Migration = {
  version: 14,
  name: 'webhook chain heads',
  sql: `
    UPDATE webhook_deliveries AS d SET next_attempt_at = NULL
    WHERE d.status = 'pending' AND d.call_id IS NOT NULL AND EXISTS (
      SELECT 1 FROM webhook_deliveries e
      WHERE e.status = 'pending' AND e.webhook_id = d.webhook_id AND e.call_id = d.call_id AND e.event_id < d.event_id);
  `,
};
