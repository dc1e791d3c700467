import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import { migrations } from '../../engine/store/migrations/index.js';
import { testConfig, testLogger } from '../helpers/config.js';
import { request, waitFor } from '../helpers/http.js';

let app: App;
let base: string;

test.before(async () => {
  // A replacement delay long enough to observe the down state between death and replacement.
  const config = testConfig({ media: { workers: 2, respawnDelayMs: 1500 } });
  app = await startApp(config, testLogger(config));
  base = `http://127.0.0.1:${app.http.port}`;
});
test.after.always(() => app?.close());

interface Health {
  status: string;
  version: string;
  uptimeSeconds: number;
  components: Record<string, { status: string; error?: string; [k: string]: unknown }>;
}

test.serial('GET /api/v1/health reports every component up', async (t) => {
  const res = await request<Health>(base, 'GET', '/api/v1/health');
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'application/json; charset=utf-8');
  t.is(res.body.status, 'ok');
  t.is(typeof res.body.version, 'string');
  t.true(Number.isInteger(res.body.uptimeSeconds));
  const { database, media } = res.body.components;
  t.like(database, { status: 'up', schemaVersion: migrations.length });
  t.is(typeof database!.latencyMs, 'number');
  t.like(media, { status: 'up', workers: { expected: 2, alive: 2 } });
  const workers = (media!.workers as { workers: { pid: number; alive: boolean }[] }).workers;
  t.true(workers.every((w) => w.alive && w.pid > 0));
  // The embedded SIP stack listens on UDP and TCP, on one ephemeral port (sip.port 0), and
  // takes SIP over WebSocket on the HTTP port.
  const sip = res.body.components.sip!;
  t.is(sip.status, 'up');
  const transports = sip.transports as { protocol: string; address: string; port: number }[];
  t.deepEqual(transports.map((x) => x.protocol), ['udp', 'tcp', 'ws']);
  t.true(transports.slice(0, 2).every((x) => x.address === '127.0.0.1' && x.port > 0 && x.port === transports[0]!.port));
  t.like(transports[2], { address: '127.0.0.1', port: app.http.port });
  t.deepEqual(transports, app.engine.sip!.stack.listening());
  // Call control (drachtio-srf) is connected to the embedded server over the wire protocol.
  t.like(sip, { server: 'embedded', callControl: 'connected', apps: 1, activeCalls: 0 });
});

test.serial('liveness and readiness answer 200 when all is up', async (t) => {
  t.deepEqual((await request(base, 'GET', '/api/v1/health/live')).body, { status: 'ok' });
  const ready = await request(base, 'GET', '/api/v1/health/ready');
  t.is(ready.status, 200);
  t.deepEqual(ready.body, { status: 'ready', down: [] });
});

test.serial('SIGKILL of a real mediasoup worker: health reports it, a new worker replaces it, health recovers', async (t) => {
  const before = app.engine.media.stats().workers[0]!;
  const died = new Promise<number | null>((resolve) => app.engine.media.once('workerdied', (_i, pid) => resolve(pid)));
  t.truthy(before.pid);
  process.kill(before.pid!, 'SIGKILL');
  t.is(await died, before.pid);

  // Between the death and the replacement, health says down and names the media component.
  const down = await request<Health>(base, 'GET', '/api/v1/health');
  t.is(down.status, 503);
  t.is(down.body.status, 'down');
  t.is(down.body.components.database!.status, 'up');
  t.is(down.body.components.media!.status, 'down');
  t.regex(down.body.components.media!.error!, /1 of 2 workers down/);
  const ready = await request(base, 'GET', '/api/v1/health/ready');
  t.is(ready.status, 503);
  t.deepEqual(ready.body, { status: 'not_ready', down: ['media'] });

  const recovered = await waitFor(async () => {
    const r = await request<Health>(base, 'GET', '/api/v1/health');
    return r.status === 200 ? r : null;
  }, 10_000);
  const slot = (recovered!.body.components.media!.workers as { workers: { pid: number; deaths: number }[] }).workers[0]!;
  t.not(slot.pid, before.pid);
  t.is(slot.deaths, 1);
});
