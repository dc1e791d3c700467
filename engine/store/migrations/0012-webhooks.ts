import type { Migration } from '../migrate.js';

/**
 * Webhook subscriptions and their delivery log (issue 11).
 *
 * - `webhooks`: a tenant's subscription: where to POST (`url`), the HMAC `secret` (stored as
 *   given: the dispatcher signs with it; the API never returns it after the create answer), the
 *   event types (a JSON array), an optional agent filter and an on/off switch. `agent_id` is not a
 *   foreign key: a deleted agent's subscription matches nothing, rather than silently widening to
 *   every agent or vanishing.
 * - `webhook_deliveries`: one row per (subscription, event), written in the same transaction as
 *   the event itself, so a crash cannot keep one without the other. `payload` is the body sent.
 *   `next_attempt_at` (Unix ms) is when the dispatcher may try next; `round_attempts` counts the
 *   tries since the row was queued or redelivered (the retry budget), `attempts` all of them.
 * - `webhook_delivery_attempts`: each try, numbered from 1, with the HTTP status or the error.
 *
 * Pending rows are ordered per call by `event_id` (index `webhook_deliveries_call`): a later
 * delivery of a call waits until the earlier one has succeeded or given up. Finished rows are
 * deleted after `webhooks.retentionDays` (index `webhook_deliveries_done`).
 */
export const m0012Webhooks: Migration = {
  version: 12,
  name: 'webhooks',
  sql: `
    CREATE TABLE webhooks (
      id          TEXT PRIMARY KEY,
      tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      mode        TEXT NOT NULL CHECK (mode IN ('live', 'test')),
      url         TEXT NOT NULL,
      secret      TEXT NOT NULL,
      event_types TEXT NOT NULL,
      agent_id    TEXT,
      description TEXT,
      enabled     INTEGER NOT NULL CHECK (enabled IN (0, 1)),
      created_at  TEXT NOT NULL,
      updated_at  TEXT NOT NULL
    ) STRICT;
    CREATE INDEX webhooks_tenant ON webhooks (tenant_id, mode, created_at, id);
    INSERT INTO table_versions (name) VALUES ('webhooks');
    CREATE TRIGGER webhooks_version_insert AFTER INSERT ON webhooks BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'webhooks'; END;
    CREATE TRIGGER webhooks_version_update AFTER UPDATE ON webhooks BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'webhooks'; END;
    CREATE TRIGGER webhooks_version_delete AFTER DELETE ON webhooks BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'webhooks'; END;

    CREATE TABLE webhook_deliveries (
      id              TEXT PRIMARY KEY,
      webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
      tenant_id       TEXT NOT NULL,
      mode            TEXT NOT NULL CHECK (mode IN ('live', 'test')),
      event_id        INTEGER NOT NULL,
      event_type      TEXT NOT NULL,
      call_id         TEXT,
      payload         TEXT NOT NULL,
      status          TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
      attempts        INTEGER NOT NULL DEFAULT 0,
      round_attempts  INTEGER NOT NULL DEFAULT 0,
      next_attempt_at INTEGER,
      last_status     INTEGER,
      last_error      TEXT,
      created_at      TEXT NOT NULL,
      updated_at      TEXT NOT NULL,
      delivered_at    TEXT
    ) STRICT;
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
    CREATE INDEX webhook_deliveries_call ON webhook_deliveries (webhook_id, call_id, event_id) WHERE status = 'pending';
    CREATE INDEX webhook_deliveries_list ON webhook_deliveries (webhook_id, created_at);
    CREATE INDEX webhook_deliveries_done ON webhook_deliveries (updated_at) WHERE status != 'pending';

    CREATE TABLE webhook_delivery_attempts (
      delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
      n           INTEGER NOT NULL,
      started_at  TEXT NOT NULL,
      duration_ms INTEGER NOT NULL,
      http_status INTEGER,
      error       TEXT,
      response    TEXT,
      PRIMARY KEY (delivery_id, n)
    ) STRICT, WITHOUT ROWID;
  `,
};
