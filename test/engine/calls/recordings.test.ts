/**
 * Recording files against rows, across a restart: a file whose call is gone is deleted at
 * start-up, and a recording the previous run left open (it died mid-call) is repaired and marked
 * `interrupted`.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { startApp } from '../../../api/app.js';
import { recordingsDir } from '../../../config/schema.js';
import { parseWav, writeWavHeader } from '../../../media/audio/wav.js';
import { testConfig, testLogger } from '../../helpers/config.js';
import { seedTenant } from '../../helpers/tenant.js';

test('at start-up, orphan recording files are deleted and recordings cut by a crash are repaired as interrupted', async (t) => {
  const config = testConfig();
  const dir = recordingsDir(config);
  t.is(dir, path.join(path.dirname(config.database.path), 'recordings'), 'beside the database by default');

  const first = await startApp(config, testLogger(config));
  const tenant = await seedTenant(first);
  const calls = first.engine.store.calls;
  const call = calls.create({ tenantId: tenant.tenantId, mode: 'live', direction: 'inbound' });
  const plain = calls.create({ tenantId: tenant.tenantId, mode: 'live', direction: 'inbound' });
  const startedAt = new Date().toISOString();
  calls.setRecording(call.id, { status: 'recording', startedAt, durationMs: null, bytes: null, error: null });
  // What a recorder leaves when the process dies: the streamed header (size 0), whole ticks and a torn one.
  const header = Buffer.alloc(44);
  writeWavHeader(header, 8000, 2, 0);
  const ticks = Buffer.alloc(3 * 640 + 100, 1);
  fs.writeFileSync(first.engine.recordings.fileFor(call.id), Buffer.concat([header, ticks]));
  const orphan = path.join(dir, `${randomUUID()}.wav`);
  fs.writeFileSync(orphan, header);
  const stranger = path.join(dir, 'notes.txt');
  fs.writeFileSync(stranger, 'not a recording');
  await first.close();

  const second = await startApp(config, testLogger(config));
  t.teardown(() => second.close());
  t.false(fs.existsSync(orphan), 'a file without its call is deleted');
  t.true(fs.existsSync(stranger), 'files that are not recordings are left alone');
  const repaired = second.engine.store.calls.getById(call.id)!.recording;
  t.deepEqual(repaired, { status: 'interrupted', startedAt, durationMs: 60, bytes: 44 + 3 * 640, error: 'the engine stopped while recording' });
  const wav = parseWav(fs.readFileSync(second.engine.recordings.fileFor(call.id)));
  t.is(wav.samples.length, 3 * 320, 'the header now says what is there; the torn tick is cut');
  t.is(second.engine.store.calls.getById(plain.id)!.recording, null);
  // File names come from call ids only: nothing else names a file.
  for (const bad of ['../etc/passwd', 'x.wav', `${call.id}/..`, '']) t.throws(() => second.engine.recordings.fileFor(bad), { message: /not a call id/ });
  t.is(path.dirname(second.engine.recordings.fileFor(call.id.toUpperCase())), dir);
});

test('the recordings folder: the setting, else beside the database (the temp folder for an in-memory one)', (t) => {
  const config = testConfig();
  const dir = recordingsDir({ ...config, recordings: { dir: path.join(path.dirname(config.database.path), 'rec') } });
  t.is(dir, path.join(path.dirname(config.database.path), 'rec'));
  t.is(recordingsDir({ ...config, database: { path: ':memory:' } }).endsWith(`agent-studio-recordings-${process.pid}`), true);
});
