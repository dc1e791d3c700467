import type { Migration } from '../migrate.js';

/**
 * The multi-tenant core: tenants and their people and keys, the objects admins manage (agents,
 * workflows, tools, numbers, trunks) and the calls the engine carries.
 *
 * Every tenant-owned row has a `mode` (`live` or `test`): a test API key sees and makes only
 * test rows. Ids are UUIDs (text). Times are ISO-8601 UTC text. JSON columns are checked.
 */
export const m0002CoreSchema: Migration = {
  version: 2,
  name: 'core-schema',
  sql: `
    CREATE TABLE tenants (
      id         TEXT PRIMARY KEY,
      name       TEXT NOT NULL,
      status     TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
      settings   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(settings)),
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    ) STRICT;

    CREATE TABLE users (
      id            TEXT PRIMARY KEY,
      tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      email         TEXT NOT NULL COLLATE NOCASE UNIQUE,
      name          TEXT,
      password_hash TEXT NOT NULL,
      role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
      super_admin   INTEGER NOT NULL DEFAULT 0 CHECK (super_admin IN (0, 1)),
      status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
      last_login_at TEXT,
      created_at    TEXT NOT NULL,
      updated_at    TEXT NOT NULL
    ) STRICT;
    CREATE INDEX users_tenant ON users (tenant_id);

    -- Refresh tokens rotate: each use revokes the token and issues its successor in the same
    -- family; reuse of a revoked token revokes the whole family.
    CREATE TABLE refresh_tokens (
      id          TEXT PRIMARY KEY,
      user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      family_id   TEXT NOT NULL,
      token_hash  TEXT NOT NULL UNIQUE,
      expires_at  TEXT NOT NULL,
      revoked_at  TEXT,
      replaced_by TEXT,
      created_at  TEXT NOT NULL
    ) STRICT;
    CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
    CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

    CREATE TABLE api_keys (
      id           TEXT PRIMARY KEY,
      tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      name         TEXT NOT NULL,
      mode         TEXT NOT NULL CHECK (mode IN ('live', 'test')),
      role         TEXT NOT NULL DEFAULT 'admin' CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
      prefix       TEXT NOT NULL,             -- shown in lists, e.g. as_live_AbCd…
      key_hash     TEXT NOT NULL UNIQUE,      -- SHA-256 of the whole key
      scopes       TEXT CHECK (scopes IS NULL OR json_valid(scopes)),
      rate_limit   INTEGER CHECK (rate_limit IS NULL OR rate_limit > 0), -- requests per minute
      created_by   TEXT REFERENCES users(id) ON DELETE SET NULL,
      last_used_at TEXT,
      revoked_at   TEXT,
      created_at   TEXT NOT NULL
    ) STRICT;
    CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

    -- A repeated Idempotency-Key on a create returns the first result.
    CREATE TABLE idempotency_keys (
      tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      principal    TEXT NOT NULL,             -- user or API key id
      key          TEXT NOT NULL,
      method       TEXT NOT NULL,
      path         TEXT NOT NULL,
      request_hash TEXT NOT NULL,
      status       INTEGER NOT NULL,
      response     TEXT NOT NULL,
      created_at   TEXT NOT NULL,
      PRIMARY KEY (tenant_id, principal, key)
    ) STRICT;

    CREATE TABLE agents (
      id          TEXT PRIMARY KEY,
      tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      mode        TEXT NOT NULL CHECK (mode IN ('live', 'test')),
      name        TEXT NOT NULL,
      description TEXT,
      status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
      config      TEXT NOT NULL CHECK (json_valid(config)),
      created_at  TEXT NOT NULL,
      updated_at  TEXT NOT NULL
    ) STRICT;
    CREATE INDEX agents_tenant ON agents (tenant_id, mode, created_at);

    CREATE TABLE workflows (
      id          TEXT PRIMARY KEY,
      tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      mode        TEXT NOT NULL CHECK (mode IN ('live', 'test')),
      name        TEXT NOT NULL,
      description TEXT,
      version     INTEGER NOT NULL DEFAULT 1,  -- the current version
      created_at  TEXT NOT NULL,
      updated_at  TEXT NOT NULL
    ) STRICT;
    CREATE INDEX workflows_tenant ON workflows (tenant_id, mode, created_at);

    -- Every saved graph is kept: calls record the version they ran.
    CREATE TABLE workflow_versions (
      workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
      version     INTEGER NOT NULL,
      graph       TEXT NOT NULL CHECK (json_valid(graph)),
      created_at  TEXT NOT NULL,
      PRIMARY KEY (workflow_id, version)
    ) STRICT;

    CREATE TABLE tools (
      id          TEXT PRIMARY KEY,
      tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      mode        TEXT NOT NULL CHECK (mode IN ('live', 'test')),
      name        TEXT NOT NULL,
      description TEXT NOT NULL DEFAULT '',
      parameters  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(parameters)), -- JSON Schema
      action      TEXT NOT NULL CHECK (json_valid(action)),
      created_at  TEXT NOT NULL,
      updated_at  TEXT NOT NULL,
      UNIQUE (tenant_id, mode, name)
    ) STRICT;

    CREATE TABLE sip_trunks (
      id                TEXT PRIMARY KEY,
      tenant_id         TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      mode              TEXT NOT NULL CHECK (mode IN ('live', 'test')),
      name              TEXT NOT NULL,
      -- inbound: source addresses (IPs/CIDRs) and/or digest credentials
      inbound_allowlist TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(inbound_allowlist)),
      inbound_username  TEXT,
      inbound_password  TEXT,
      -- outbound: where calls go, and how
      outbound_host      TEXT,
      outbound_port      INTEGER,
      outbound_transport TEXT CHECK (outbound_transport IS NULL OR outbound_transport IN ('udp', 'tcp', 'tls')),
      outbound_username  TEXT,
      outbound_password  TEXT,
      caller_id          TEXT,
      prefix_rules       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(prefix_rules)),
      cps_limit          INTEGER CHECK (cps_limit IS NULL OR cps_limit > 0),
      created_at         TEXT NOT NULL,
      updated_at         TEXT NOT NULL
    ) STRICT;
    CREATE INDEX sip_trunks_tenant ON sip_trunks (tenant_id, mode);

    -- Inbound routing must be unambiguous: a number belongs to one tenant.
    CREATE TABLE phone_numbers (
      id         TEXT PRIMARY KEY,
      tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      mode       TEXT NOT NULL CHECK (mode IN ('live', 'test')),
      number     TEXT NOT NULL UNIQUE,       -- E.164 (+15551234567) or a SIP user
      name       TEXT,
      agent_id   TEXT REFERENCES agents(id) ON DELETE SET NULL,
      trunk_id   TEXT REFERENCES sip_trunks(id) ON DELETE SET NULL,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    ) STRICT;
    CREATE INDEX phone_numbers_tenant ON phone_numbers (tenant_id, mode);

    CREATE TABLE calls (
      id               TEXT PRIMARY KEY,
      tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      mode             TEXT NOT NULL CHECK (mode IN ('live', 'test')),
      direction        TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'web')),
      status           TEXT NOT NULL CHECK (status IN ('queued', 'ringing', 'in_progress', 'completed', 'failed', 'busy', 'no_answer', 'canceled')),
      from_uri         TEXT,
      to_uri           TEXT,
      from_number      TEXT,
      to_number        TEXT,
      trunk_id         TEXT REFERENCES sip_trunks(id) ON DELETE SET NULL,
      agent_id         TEXT REFERENCES agents(id) ON DELETE SET NULL,
      phone_number_id  TEXT REFERENCES phone_numbers(id) ON DELETE SET NULL,
      workflow_id      TEXT REFERENCES workflows(id) ON DELETE SET NULL,
      workflow_version INTEGER,
      sip_call_id      TEXT,
      started_at       TEXT NOT NULL,
      answered_at      TEXT,
      ended_at         TEXT,
      duration_ms      INTEGER,
      end_reason       TEXT,
      hangup_by        TEXT CHECK (hangup_by IS NULL OR hangup_by IN ('caller', 'callee', 'agent', 'system')),
      rtp_stats        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(rtp_stats)),
      transcript       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(transcript)),
      metrics          TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metrics)),
      metadata         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
      created_at       TEXT NOT NULL,
      updated_at       TEXT NOT NULL
    ) STRICT;
    CREATE INDEX calls_tenant_started ON calls (tenant_id, mode, started_at);
    CREATE INDEX calls_tenant_status ON calls (tenant_id, mode, status);
    CREATE INDEX calls_agent ON calls (agent_id, started_at);
    CREATE INDEX calls_sip_call_id ON calls (sip_call_id);

    -- Failures worth showing an admin: SIP failures, tool errors, provider errors.
    CREATE TABLE error_logs (
      id         INTEGER PRIMARY KEY AUTOINCREMENT,
      tenant_id  TEXT REFERENCES tenants(id) ON DELETE CASCADE,
      mode       TEXT NOT NULL DEFAULT 'live' CHECK (mode IN ('live', 'test')),
      kind       TEXT NOT NULL CHECK (kind IN ('sip', 'tool', 'provider', 'media', 'internal')),
      call_id    TEXT REFERENCES calls(id) ON DELETE SET NULL,
      code       TEXT,
      message    TEXT NOT NULL,
      details    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
      created_at TEXT NOT NULL
    ) STRICT;
    CREATE INDEX error_logs_tenant ON error_logs (tenant_id, mode, created_at);

    -- Events of test-mode calls reach only test-mode subscribers.
    ALTER TABLE events ADD COLUMN mode TEXT NOT NULL DEFAULT 'live' CHECK (mode IN ('live', 'test'));
  `,
};
