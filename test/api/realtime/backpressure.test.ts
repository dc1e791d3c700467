/**
 * Slow clients and shutdown, on the real app with its log captured: a client that stops reading
 * is dropped once it is `maxBufferedBytes` behind (with a log line), a client that reads keeps up
 * with a burst of big events, and stopping the app ends every stream and WebSocket cleanly.
 * Serial: the tests watch the app's subscriber count and log as a whole.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import test from 'ava';
import { startApp, type App } from '../../../api/app.js';
import { createLogger } from '../../../config/logger.js';
import { testConfig } from '../../helpers/config.js';
import { waitFor } from '../../helpers/http.js';
import { seedTenant } from '../../helpers/tenant.js';
import { agentUpdated, transcript, type Scope } from './fixtures.js';
import { SseStream } from './sse-client.js';
import { WsClient } from './ws-client.js';

const MAX_BUFFERED = 256 * 1024;
/** Big events, so a stopped reader fills the kernel's buffers (several MB on loopback) quickly. */
const EVENT_BYTES = 64 * 1024;

const lines: { msg: string; reason?: string; bufferedBytes?: number }[] = [];
let app: App;
let key: string;
let scope: Scope;
let base: string;

test.before(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as (typeof lines)[number]);
      done();
    },
  });
  const config = testConfig({ realtime: { maxBufferedBytes: MAX_BUFFERED, heartbeatMs: 1000 }, log: { level: 'info' } });
  app = await startApp(config, createLogger(config.log, sink));
  base = `http://127.0.0.1:${app.http.port}`;
  const t = await seedTenant(app);
  key = t.apiKey;
  scope = { tenantId: t.tenantId, mode: 'live' };
});
test.after.always(() => app?.close());

/** Appends big events, a turn of the loop apart, until `stop()` or `max` events. */
async function flood(stop: () => boolean, max = 600): Promise<number> {
  let n = 0;
  while (!stop() && n < max) {
    transcript(app, scope, 'flood', EVENT_BYTES);
    n++;
    await new Promise((r) => setImmediate(r));
  }
  return n;
}

const logged = (msg: string) => lines.filter((l) => l.msg === msg);

test.serial('an SSE client that stops reading is dropped past the bound, with a log line; what it got is whole and in order', async (t) => {
  const sock = net.connect(app.http.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write(`GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${key}\r\n\r\n`);
  sock.pause();
  await waitFor(() => app.realtime.hub.size === 1);
  const sent = await flood(() => logged('sse client too slow; dropped').length > 0);
  t.log(`dropped after ${sent} events of ${EVENT_BYTES} bytes`);
  const [line] = logged('sse client too slow; dropped');
  t.truthy(line, 'a log line says so');
  t.is(line!.reason, `more than ${MAX_BUFFERED} bytes unread`);
  t.true(line!.bufferedBytes! > MAX_BUFFERED);
  t.true(sent < 600, 'dropped before the flood ran out');
  await waitFor(() => app.realtime.hub.size === 0 && app.realtime.connections.size === 0);
  // Reading now: a prefix of the stream, then the end of the connection.
  let text = '';
  sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
  sock.resume();
  await new Promise((r) => sock.once('close', r));
  const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  t.true(ids.length > 0 && ids.length < sent, `got ${ids.length} of ${sent}`);
  t.deepEqual(ids, ids.map((_, i) => ids[0]! + i), 'in order, none missing in between');
});

test.serial('a WebSocket client that stops reading is closed 1008 slow_consumer past the bound, with a log line', async (t) => {
  const ws = await WsClient.connect(app.http.port, { 'x-api-key': key });
  await ws.request({ type: 'subscribe', topics: ['tenant'] });
  ws.pause();
  const sent = await flood(() => logged('ws client too slow; dropped').length > 0);
  t.log(`dropped after ${sent} events`);
  const [line] = logged('ws client too slow; dropped');
  t.truthy(line);
  t.is(line!.reason, `more than ${MAX_BUFFERED} bytes unread`);
  await waitFor(() => app.realtime.hub.size === 0 && app.realtime.connections.size === 0);
  ws.resume();
  t.deepEqual(await ws.closed, { code: 1008, reason: 'slow_consumer' });
  // What uWS had buffered is delivered before the close frame.
  const ids = ws.events().map((e) => e.id);
  t.log(`received ${ids.length} of ${sent} before the close`);
  t.true(ids.length > 0 && ids.length <= sent);
  t.deepEqual(ids, ids.map((_, i) => ids[0]! + i));
});

test.serial('events queued in one turn are checked when written: a stopped WebSocket reader is closed 1008 after the batch past the bound, a reading one gets them all', async (t) => {
  const before = lines.length;
  const reader = await WsClient.connect(app.http.port, { 'x-api-key': key });
  await reader.request({ type: 'subscribe', topics: ['tenant'] });
  const stopped = await WsClient.connect(app.http.port, { 'x-api-key': key });
  await stopped.request({ type: 'subscribe', topics: ['tenant'] });
  stopped.pause();
  // 8 big events per turn: one batch each, 512 KiB, twice the bound.
  const PER_TURN = 8;
  const droppedNow = () => lines.slice(before).filter((l) => l.msg === 'ws client too slow; dropped');
  let turns = 0;
  while (droppedNow().length === 0 && turns < 40) {
    for (let i = 0; i < PER_TURN; i++) transcript(app, scope, 'burst', EVENT_BYTES);
    turns++;
    await new Promise((r) => setImmediate(r));
  }
  const dropped = droppedNow();
  t.log(`dropped after ${turns} turns of ${PER_TURN} events of ${EVENT_BYTES} bytes`);
  t.is(dropped.length, 1, 'one client dropped, with a log line');
  t.is(dropped[0]!.reason, `more than ${MAX_BUFFERED} bytes unread`);
  stopped.resume();
  t.deepEqual(await stopped.closed, { code: 1008, reason: 'slow_consumer' });
  const got = stopped.events().map((e) => e.id);
  t.deepEqual(got, got.map((_, i) => got[0]! + i), 'what it got before the close is in order, none missing in between');
  await reader.waitFor(() => reader.events().length >= turns * PER_TURN, 30_000);
  t.is(reader.events().length, turns * PER_TURN);
  await reader.close();
  await waitFor(() => app.realtime.hub.size === 0 && app.realtime.connections.size === 0);
});

test.serial('clients that read keep up with a burst of big events: all arrive, nobody is dropped', async (t) => {
  const before = lines.length;
  const sse = await SseStream.open(`${base}/api/v1/events`, { 'x-api-key': key });
  const ws = await WsClient.connect(app.http.port, { 'x-api-key': key });
  await ws.request({ type: 'subscribe', topics: ['tenant'] });
  const burst = 150;
  await flood(() => false, burst);
  await sse.count(burst, 30_000);
  await ws.waitFor(() => ws.events().length >= burst, 30_000);
  t.is(sse.messages.length, burst);
  t.is(ws.events().length, burst);
  t.deepEqual(lines.slice(before).filter((l) => /too slow|stalled/.test(l.msg)), []);
  await sse.close();
  await ws.close();
});

test.serial('stopping the app ends SSE streams, closes WebSockets with 1001 going_away, and detaches from the log', async (t) => {
  const sse = await SseStream.open(`${base}/api/v1/events`, { 'x-api-key': key });
  const ws = await WsClient.connect(app.http.port, { 'x-api-key': key });
  await ws.request({ type: 'subscribe', topics: ['tenant'] });
  agentUpdated(app, scope, 'a');
  await sse.count(1);
  await app.close();
  t.deepEqual(await ws.closed, { code: 1001, reason: 'going_away' });
  await sse.until(() => sse.ended, 5000, 'the stream ends');
  t.is(app.realtime.hub.size, 0);
  t.is(app.realtime.connections.size, 0);
  t.is(app.engine.events.listenerCount, 0);
});
