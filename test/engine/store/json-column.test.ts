import path from 'node:path';
import test from 'ava';
import { z } from 'zod';
import { createLogger } from '../../../config/logger.js';
import { closeDatabase, openDatabase } from '../../../engine/store/database.js';
import { jsonColumn } from '../../../engine/store/json-column.js';
import { Store } from '../../../engine/store/store.js';
import { tempDir } from '../../helpers/config.js';

const log = createLogger({ level: 'silent', pretty: false });

/** A schema that counts its runs. */
function counted() {
  const runs = { n: 0 };
  const schema = z
    .strictObject({ name: z.string(), size: z.number().default(1), tags: z.array(z.string()).optional() })
    .refine(() => ++runs.n > 0);
  return { runs, read: jsonColumn(schema) };
}

test('a text the schema gives back unchanged is parsed once; its value is shared and frozen', (t) => {
  const { runs, read } = counted();
  const text = '{"name":"a","size":2,"tags":["x"]}';
  const first = read(text);
  t.deepEqual(first, { name: 'a', size: 2, tags: ['x'] });
  t.is(read(text), first);
  t.is(runs.n, 1);
  t.throws(() => {
    first.size = 3;
  }, { instanceOf: TypeError });
  t.throws(() => first.tags!.push('y'), { instanceOf: TypeError });
  t.deepEqual({ ...first, size: 3 }, { name: 'a', size: 3, tags: ['x'] }, 'copies are free to change');
});

test('a text the schema rewrites or refuses goes through the schema on every read', (t) => {
  const { runs, read } = counted();
  t.deepEqual(read('{"name":"a"}'), { name: 'a', size: 1 }, 'defaulted');
  t.deepEqual(read('{"name":"a"}'), { name: 'a', size: 1 });
  t.true(Object.isFrozen(read('{"name":"a"}')));
  t.deepEqual(Object.keys(read('{"size":2,"name":"b"}')), ['name', 'size'], 'reordered');
  t.deepEqual(Object.keys(read('{"size":2,"name":"b"}')), ['name', 'size']);
  t.is(runs.n, 5);
  t.throws(() => read('{"name":"a","extra":true}'));
  t.throws(() => read('{"name":"a","extra":true}'), undefined, 'a refused text stays refused');
});

test('agents: a config edited in the file is read through the schema again (refused or reordered as before)', (t) => {
  const db = openDatabase(path.join(tempDir(), 'agents.db'), log);
  const store = new Store(db);
  const scope = { tenantId: store.tenants.create({ name: 'T' }).id, mode: 'live' as const };
  const a = store.agents.create(scope, { name: 'A', config: { prompt: { system: 'Hi' }, language: 'en-GB' } });
  t.deepEqual(store.agents.get(scope, a.id)!.config, { prompt: { system: 'Hi' }, language: 'en-GB' });
  t.deepEqual(store.agents.get(scope, a.id)!.config, { prompt: { system: 'Hi' }, language: 'en-GB' });

  const set = db.prepare('UPDATE agents SET config = ? WHERE id = ?');
  set.run('{"language":"fr","prompt":{"system":"Salut"}}', a.id);
  t.deepEqual(Object.keys(store.agents.get(scope, a.id)!.config), ['prompt', 'language']);
  set.run('{"prompt":{"system":"Hi"},"language":"en-GB","unknown":1}', a.id);
  t.throws(() => store.agents.get(scope, a.id));
  t.throws(() => store.agents.list(scope, {}, 20, 0));
  closeDatabase(db);
});
