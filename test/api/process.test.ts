import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { tempDir } from '../helpers/config.js';
import { freePort, spawnEngine } from '../helpers/engine-process.js';
import { request, waitFor } from '../helpers/http.js';

test('SIGTERM: the process exits 0 within seconds and the database passes integrity_check', async (t) => {
  const port = await freePort();
  const db = path.join(tempDir(), 'engine.db');
  const engine = spawnEngine({
    AS_HTTP_HOST: '127.0.0.1',
    AS_HTTP_PORT: String(port),
    AS_DATABASE_PATH: db,
    AS_MEDIA_WORKERS: '1',
    AS_LOG_PRETTY: 'false',
    AS_SIP_HOST: '127.0.0.1',
    AS_SIP_PORT: String(await freePort()),
    AS_SIP_DRACHTIO_PORT: String(await freePort()),
    AS_RTP_LISTEN_IP: '127.0.0.1',
  });
  t.teardown(() => engine.child.kill('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await request(base, 'GET', '/api/v1/health')).status === 200, 15_000).catch((e: Error) => {
    throw new Error(`${e.message}\nstdout: ${engine.stdout()}\nstderr: ${engine.stderr()}`);
  });

  const t0 = Date.now();
  engine.child.kill('SIGTERM');
  const { code, signal } = await engine.exited;
  const ms = Date.now() - t0;
  t.is(code, 0, engine.stderr());
  t.is(signal, null);
  t.true(ms < 5000, `took ${ms} ms`);
  t.regex(engine.stdout(), /"msg":"shutting down"/);
  t.regex(engine.stdout(), /"msg":"stopped"/);

  const check = new Database(db, { readonly: true });
  t.is(check.pragma('integrity_check', { simple: true }), 'ok');
  check.close();
});

test('bad settings stop the start with one message naming every bad field, and exit 78', async (t) => {
  const engine = spawnEngine({ AS_HTTP_PORT: 'x', AS_SIP_TRANSPORTS: 'udp,carrier-pigeon', AS_NOPE: '1' });
  const { code } = await engine.exited;
  t.is(code, 78);
  const err = engine.stderr();
  t.regex(err, /^agent-studio: invalid configuration:/);
  t.regex(err, /http\.port \(AS_HTTP_PORT\)/);
  t.regex(err, /sip\.transports\.1 \(AS_SIP_TRANSPORTS\)/);
  t.regex(err, /AS_NOPE: unknown setting/);
  t.is(engine.stdout(), '');
});
