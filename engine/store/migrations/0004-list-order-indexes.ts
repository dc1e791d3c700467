import type { Migration } from '../migrate.js';

/**
 * Each tenant-scoped list is read in its index's order, to the last column of its ORDER BY.
 * `ORDER BY created_at, id` over an index ending at `created_at` made SQLite sort every row of the
 * scope in a temporary b-tree (`USE TEMP B-TREE FOR LAST TERM OF ORDER BY`); with `id` in the
 * index a page is read straight off it (measured over 1,000 agents: 72 -> 57 µs a page of 20).
 * Calls and error logs list newest first, which the same index serves walked backwards.
 */
export const m0004ListOrderIndexes: Migration = {
  version: 4,
  name: 'list-order-indexes',
  sql: `
    DROP INDEX agents_tenant;
    CREATE INDEX agents_tenant ON agents (tenant_id, mode, created_at, id);
    DROP INDEX workflows_tenant;
    CREATE INDEX workflows_tenant ON workflows (tenant_id, mode, created_at, id);
    CREATE INDEX tools_tenant ON tools (tenant_id, mode, created_at, id);
    DROP INDEX sip_trunks_tenant;
    CREATE INDEX sip_trunks_tenant ON sip_trunks (tenant_id, mode, created_at, id);
    DROP INDEX phone_numbers_tenant;
    CREATE INDEX phone_numbers_tenant ON phone_numbers (tenant_id, mode, created_at, id);
    DROP INDEX calls_tenant_started;
    CREATE INDEX calls_tenant_started ON calls (tenant_id, mode, started_at, id);
    DROP INDEX error_logs_tenant;
    CREATE INDEX error_logs_tenant ON error_logs (tenant_id, mode, created_at, id);
  `,
};
