/**
 * The one SQLite database (better-sqlite3, WAL), shared by the call engine and the REST layer.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '../../config/logger.js';
import { applyMigrations } from './migrate.js';
import { migrations } from './migrations/index.js';

export type Db = Database.Database;

/**
 * Opens (creating if needed) the database file, sets the pragmas the engine relies on, and
 * applies pending migrations.
 */
export function openDatabase(file: string, log: Logger): Db {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // WAL + NORMAL: a crash may lose the last transactions of the OS buffer, never corrupt the file.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  // Writers from the REST layer and the call engine share the file; wait rather than fail.
  db.pragma('busy_timeout = 5000');
  const applied = applyMigrations(db, migrations);
  log.info({ file, applied: applied.map((m) => m.version), version: currentVersion(db) }, 'database open');
  return db;
}

/**
 * A function that runs its argument in one transaction (a savepoint when already in one), made
 * once. better-sqlite3's `db.transaction(fn)` builds four wrapped functions and their properties
 * on every call, about 3.6 kB of garbage per transaction when made per use.
 */
export function transactionRunner(db: Db): <T>(fn: () => T) => T {
  const run = db.transaction((fn: () => unknown) => fn());
  return <T>(fn: () => T): T => run(fn) as T;
}

/** The highest applied migration version (0 for a fresh file). */
export function currentVersion(db: Db): number {
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
  return row.v ?? 0;
}

/** Checkpoints the WAL into the main file and closes the handle. Idempotent. */
export function closeDatabase(db: Db): void {
  if (!db.open) return;
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}
