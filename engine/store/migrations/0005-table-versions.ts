import type { Migration } from '../migrate.js';

/**
 * A version per rarely written table, bumped by triggers on every insert, update and delete,
 * whoever writes (this process, the admin CLI, a cascade from a deleted tenant). A list's total
 * (`COUNT(*)` over the caller's scope, O(rows) on every page) is then remembered while the
 * table's version stands: one point lookup instead of a scan. Calls and error logs are written
 * on every call and keep counting.
 */
const tables = ['agents', 'workflows', 'tools', 'sip_trunks', 'phone_numbers'];

export const m0005TableVersions: Migration = {
  version: 5,
  name: 'table-versions',
  sql: [
    'CREATE TABLE table_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL DEFAULT 0) STRICT, WITHOUT ROWID;',
    ...tables.map((t) => `INSERT INTO table_versions (name) VALUES ('${t}');`),
    ...tables.flatMap((t) =>
      ['INSERT', 'UPDATE', 'DELETE'].map(
        (op) =>
          `CREATE TRIGGER ${t}_version_${op.toLowerCase()} AFTER ${op} ON ${t} BEGIN ` +
          `UPDATE table_versions SET version = version + 1 WHERE name = '${t}'; END;`,
      ),
    ),
  ].join('\n'),
};
