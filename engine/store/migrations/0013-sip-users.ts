import type { Migration } from '../migrate.js';

/**
 * SIP users (issue 10): the tenant's browser users and SIP devices that REGISTER to the engine.
 * The username is unique per tenant and mode (the address-of-record is
 * `sip:<username>@<tenant id>.live`, `.test` for test mode: see engine/calls/registrar).
 * The password is stored as given, like trunk digest passwords: the digest response is checked
 * against it with the engine's realm (`sip.realm`), which a stored HA1 would pin for good. The API
 * never shows it. Bindings are not rows: they live in memory with the flows that carry them.
 */
export const m0013SipUsers: Migration = {
  version: 13,
  name: 'sip-users',
  sql: `
    CREATE TABLE sip_users (
      id           TEXT PRIMARY KEY,
      tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      mode         TEXT NOT NULL CHECK (mode IN ('live', 'test')),
      username     TEXT NOT NULL,
      password     TEXT NOT NULL,
      display_name TEXT,
      created_at   TEXT NOT NULL,
      updated_at   TEXT NOT NULL,
      UNIQUE (tenant_id, mode, username)
    ) STRICT;
    CREATE INDEX sip_users_tenant ON sip_users (tenant_id, mode, created_at, id);
    INSERT INTO table_versions (name) VALUES ('sip_users');
    CREATE TRIGGER sip_users_version_insert AFTER INSERT ON sip_users BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'sip_users'; END;
    CREATE TRIGGER sip_users_version_update AFTER UPDATE ON sip_users BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'sip_users'; END;
    CREATE TRIGGER sip_users_version_delete AFTER DELETE ON sip_users BEGIN UPDATE table_versions SET version = version + 1 WHERE name = 'sip_users'; END;
  `,
};
