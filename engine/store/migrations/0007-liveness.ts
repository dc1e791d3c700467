import type { Migration } from '../migrate.js';

/**
 * The last moment the engine process was known alive, written every second (engine/engine.ts).
 * A process killed without a graceful stop cannot write when it died; the calls it left open are
 * closed at the next start as ending then (at most a second late), not at the restart, which may
 * come hours later and would count the downtime as talk time. One row.
 */
export const m0007Liveness: Migration = {
  version: 7,
  name: 'liveness',
  sql: `CREATE TABLE liveness (id INTEGER PRIMARY KEY CHECK (id = 1), alive_at TEXT NOT NULL) STRICT;`,
};
