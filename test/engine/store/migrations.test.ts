import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { createLogger } from '../../../config/logger.js';
import { applyMigrations, type Migration } from '../../../engine/store/migrate.js';
import { closeDatabase, currentVersion, openDatabase } from '../../../engine/store/database.js';
import { migrations } from '../../../engine/store/migrations/index.js';
import { tempDir } from '../../helpers/config.js';

const log = createLogger({ level: 'silent', pretty: false });

test('migrations apply to a fresh file, and a second run is a no-op', (t) => {
  const file = path.join(tempDir(), 'fresh.db');
  const db = openDatabase(file, log);
  t.is(currentVersion(db), migrations.length);
  const rows = db.prepare('SELECT version, name FROM schema_version ORDER BY version').all();
  t.deepEqual(rows, migrations.map((m) => ({ version: m.version, name: m.name })));
  closeDatabase(db);

  const again = new Database(file);
  t.deepEqual(applyMigrations(again, migrations), []);
  t.is((again.prepare('SELECT COUNT(*) AS n FROM schema_version').get() as { n: number }).n, migrations.length);
  again.close();
});

test('the database is in WAL mode with foreign keys on', (t) => {
  const db = openDatabase(path.join(tempDir(), 'pragmas.db'), log);
  t.is(db.pragma('journal_mode', { simple: true }), 'wal');
  t.is(db.pragma('foreign_keys', { simple: true }), 1);
  closeDatabase(db);
  t.false(db.open);
  t.notThrows(() => closeDatabase(db), 'close is idempotent');
});

test('a failing migration rolls back and records nothing', (t) => {
  const db = new Database(':memory:');
  const list: Migration[] = [
    { version: 1, name: 'ok', sql: 'CREATE TABLE a (x INTEGER)' },
    { version: 2, name: 'broken', sql: 'CREATE TABLE b (y INTEGER); INSERT INTO nope VALUES (1)' },
  ];
  t.throws(() => applyMigrations(db, list), { any: true, message: /no such table: nope/ });
  t.deepEqual(db.prepare('SELECT version FROM schema_version').all(), [{ version: 1 }]);
  t.is(db.prepare("SELECT name FROM sqlite_master WHERE name = 'b'").get(), undefined);
});

test('versions must be contiguous', (t) => {
  const db = new Database(':memory:');
  t.throws(() => applyMigrations(db, [{ version: 2, name: 'gap', sql: '' }]), { message: /expected 1/ });
});
