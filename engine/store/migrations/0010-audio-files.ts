import type { Migration } from '../migrate.js';

/**
 * Stored audio files, a tenant resource that workflow `play` nodes name. The row holds what the
 * API shows (name, duration, the uploaded encoding, the stored size); the sound itself is a file
 * `<audio files dir>/<id>.wav`, 8 kHz mono 16-bit PCM, named by the id only. Names are unique per
 * tenant and mode. Files are not rows: deleting a tenant removes them by the ids it returns.
 */
export const m0010AudioFiles: Migration = {
  version: 10,
  name: 'audio-files',
  sql: `
    CREATE TABLE audio_files (
      id              TEXT PRIMARY KEY,
      tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      mode            TEXT NOT NULL CHECK (mode IN ('live', 'test')),
      name            TEXT NOT NULL,
      duration_ms     INTEGER NOT NULL,
      bytes           INTEGER NOT NULL,
      source_encoding TEXT NOT NULL,
      source_rate     INTEGER NOT NULL,
      source_channels INTEGER NOT NULL,
      created_at      TEXT NOT NULL,
      updated_at      TEXT NOT NULL,
      UNIQUE (tenant_id, mode, name)
    ) STRICT;
    CREATE INDEX audio_files_tenant ON audio_files (tenant_id, mode, created_at, id);
    INSERT INTO table_versions (name) VALUES ('audio_files');
    CREATE TRIGGER audio_files_version_insert AFTER INSERT ON audio_files BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'audio_files'; END;
    CREATE TRIGGER audio_files_version_update AFTER UPDATE ON audio_files BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'audio_files'; END;
    CREATE TRIGGER audio_files_version_delete AFTER DELETE ON audio_files BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'audio_files'; END;
  `,
};
