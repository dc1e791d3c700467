/**
 * List totals are remembered per table version (migration 0005): every kind of write must show in
 * the next total, whoever makes it.
 */
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { createLogger } from '../../../config/logger.js';
import { closeDatabase, openDatabase } from '../../../engine/store/database.js';
import { Store } from '../../../engine/store/store.js';
import { tempDir } from '../../helpers/config.js';

const log = createLogger({ level: 'silent', pretty: false });

test('an agents list total follows creates, updates, deletes, other connections and tenant cascades', (t) => {
  const file = path.join(tempDir(), 'totals.db');
  const db = openDatabase(file, log);
  const store = new Store(db);
  const tenant = store.tenants.create({ name: 'T' });
  const scope = { tenantId: tenant.id, mode: 'live' as const };
  const other = { tenantId: store.tenants.create({ name: 'U' }).id, mode: 'live' as const };
  const total = (s = scope, filters: { status?: 'active' | 'inactive' } = {}) => store.agents.list(s, filters, 1, 0).total;
  const make = (s = scope) => store.agents.create(s, { name: 'A', config: { prompt: { system: 'Hi' } } });

  const a = make();
  make();
  make(other);
  t.is(total(), 2);
  t.is(total(), 2, 'read again');
  t.is(total(other), 1, 'another scope has its own total');
  t.is(total(scope, { status: 'inactive' }), 0);

  store.agents.update(scope, a.id, { status: 'inactive' });
  t.is(total(scope, { status: 'inactive' }), 1, 'an update moves a row between filters');
  t.is(total(scope, { status: 'active' }), 1);

  make();
  t.is(total(), 3, 'a create');
  t.true(store.agents.delete(scope, a.id));
  t.is(total(), 2, 'a delete');

  // Another connection to the same file (the admin CLI, another process).
  const cli = new Database(file);
  cli.prepare("DELETE FROM agents WHERE tenant_id = ? AND name = 'A' AND rowid = (SELECT MIN(rowid) FROM agents WHERE tenant_id = ?)").run(scope.tenantId, scope.tenantId);
  cli.close();
  t.is(total(), 1, 'a write from another connection');

  // A cascade from the tenant row.
  t.is(total(other), 1);
  db.prepare('DELETE FROM tenants WHERE id = ?').run(other.tenantId);
  t.is(total(other), 0, 'rows deleted by ON DELETE CASCADE');
  closeDatabase(db);
});
