import type { Migration } from '../migrate.js';

/**
 * Speech and language provider credentials, a tenant resource: agents name a provider in their
 * config (`voice.provider`, `transcriber.provider`, `llm.provider`) and the runtime resolves the
 * name to the kind, base URL and API key here. The key is stored as given, since it is sent to
 * the provider on every call (as trunk passwords are); the API never returns it. Names are
 * unique per tenant and mode. The table gets a version (migration 0005) like the other rarely
 * written tables, so list totals are remembered.
 */
export const m0008Providers: Migration = {
  version: 8,
  name: 'providers',
  sql: `
    CREATE TABLE providers (
      id         TEXT PRIMARY KEY,
      tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      mode       TEXT NOT NULL CHECK (mode IN ('live', 'test')),
      name       TEXT NOT NULL,
      kind       TEXT NOT NULL CHECK (kind IN ('openai', 'deepgram', 'elevenlabs')),
      base_url   TEXT,
      api_key    TEXT,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      UNIQUE (tenant_id, mode, name)
    ) STRICT;
    CREATE INDEX providers_tenant ON providers (tenant_id, mode, created_at, id);
    INSERT INTO table_versions (name) VALUES ('providers');
    CREATE TRIGGER providers_version_insert AFTER INSERT ON providers BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'providers'; END;
    CREATE TRIGGER providers_version_update AFTER UPDATE ON providers BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'providers'; END;
    CREATE TRIGGER providers_version_delete AFTER DELETE ON providers BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'providers'; END;
  `,
};
