/**
 * Numbered migrations, applied in order at start, each in its own transaction and recorded in
 * `schema_version`. Running them again is a no-op. Each issue adds its own numbered file under
 * `migrations/` and lists it in `migrations/index.ts`; an applied migration is never edited.
 */
import type Database from 'better-sqlite3';

export interface Migration {
  /** 1, 2, 3… with no gaps; the order they apply in. */
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Applies the migrations not yet recorded, and returns those it applied. */
export function applyMigrations(db: Database.Database, list: readonly Migration[]): Migration[] {
  list.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name} has version ${m.version}, expected ${i + 1}`);
  });
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
  ) STRICT`);
  const done = new Set(
    (db.prepare('SELECT version FROM schema_version').all() as { version: number }[]).map((r) => r.version),
  );
  const record = db.prepare('INSERT INTO schema_version (version, name) VALUES (?, ?)');
  const applied: Migration[] = [];
  for (const m of list) {
    if (done.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name);
    })();
    applied.push(m);
  }
  return applied;
}
