import type { Migration } from '../migrate.js';

/**
 * The event log: every event gets a monotonic id here before it is announced, so WebSocket, SSE
 * (Last-Event-ID) and webhooks can resume from any id without missing one.
 */
export const m0001Foundation: Migration = {
  version: 1,
  name: 'foundation',
  sql: `
    CREATE TABLE events (
      id         INTEGER PRIMARY KEY AUTOINCREMENT,
      tenant_id  TEXT,
      type       TEXT NOT NULL,
      call_id    TEXT,
      data       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(data)),
      created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
    ) STRICT;
    CREATE INDEX events_tenant_id ON events (tenant_id, id);
    CREATE INDEX events_call_id ON events (call_id, id);
  `,
};
