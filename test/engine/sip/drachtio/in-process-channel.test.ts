/**
 * The in-process control channel: the socket pair (engine/sip/drachtio/in-process-socket.ts) and
 * real drachtio-srf on it against the real control server (`ControlServer#openInProcess`,
 * engine/calls/srf-in-process.ts): bytes in order, EOF and close both ways, authentication and
 * routes, reconnection after the server drops the session, retries (logged as errors, never
 * thrown) while the server is closed, and no TCP connection to the control port.
 */
import net from 'node:net';
import test from 'ava';
import fc from 'fast-check';
import Srf from 'drachtio-srf';
import { createLogger } from '../../../../config/logger.js';
import { connectInProcess, type ReconnectOptions } from '../../../../engine/calls/srf-in-process.js';
import { ControlServer, DRACHTIO_VERSION, type AppSession } from '../../../../engine/sip/drachtio/control-server.js';
import { encodeFrame, FrameDecoder } from '../../../../engine/sip/drachtio/frame.js';
import { InProcessSocket } from '../../../../engine/sip/drachtio/in-process-socket.js';
import { waitFor } from '../../../helpers/http.js';
import { tcpConnectionsOn } from '../../../helpers/tcp-connections.js';
import { sleep } from '../../../helpers/timing.js';

const log = createLogger({ level: 'silent', pretty: false });
const HOSTPORTS = 'tcp/127.0.0.1:5090,udp/127.0.0.1:5090';
const RUNS = 300;

type SrfEvents = Srf & {
  options(h: () => void): void;
  on(event: string, h: (...args: unknown[]) => void): SrfEvents;
};

async function controlServer() {
  const closed: AppSession[] = [];
  const srv = new ControlServer('cymru', { hostports: () => HOSTPORTS, onSip: () => {}, onProxy: () => {}, onClosed: (s) => closed.push(s) }, log);
  const port = await srv.listen('127.0.0.1', 0);
  return { srv, port, closed };
}

/** An app connected in-process; resolves on its first `connect`. Events are recorded. */
async function inProcessApp(srv: ControlServer, reconnect: ReconnectOptions = { retryMaxDelay: 200 }) {
  const srf = new Srf(['tag-a']) as SrfEvents;
  const events: string[] = [];
  const errors: string[] = [];
  srf.on('error', (err) => errors.push((err as Error).message));
  for (const e of ['close', 'reconnecting']) srf.on(e, () => events.push(e));
  srf.invite(() => {});
  srf.options(() => {});
  let connects = 0;
  const first = new Promise<[string, string]>((resolve, reject) => {
    srf.on('connect', (err: unknown, hostport: unknown, version: unknown) => {
      connects++;
      events.push('connect');
      if (err) reject(err as Error);
      else resolve([hostport as string, version as string]);
    });
  });
  connectInProcess(srf, { secret: 'cymru', reconnect }, () => srv.openInProcess());
  return { srf, events, errors, connects: () => connects, first };
}

test(`property: frames written in random chunks arrive whole and in order, both ways at once (${RUNS} cases a run)`, async (t) => {
  t.timeout(60_000);
  const started = Date.now();
  const body = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 300 });
  const side = fc.record({
    bodies: fc.array(body, { minLength: 1, maxLength: 25 }),
    // Where the byte stream is cut into writes, and which writes are corked together (writev)
    // or separated by a turn of the event loop.
    cuts: fc.array(fc.nat(), { maxLength: 40 }),
    corked: fc.array(fc.boolean(), { maxLength: 40 }),
    gaps: fc.array(fc.boolean(), { maxLength: 40 }),
    strings: fc.boolean(),
  });
  await fc.assert(
    fc.asyncProperty(side, side, async (a, b) => {
      const [client, server] = InProcessSocket.pair();
      const received = (s: net.Socket) =>
        new Promise<string[]>((resolve, reject) => {
          const decoder = new FrameDecoder();
          const out: string[] = [];
          s.on('data', (d: Buffer) => {
            try {
              out.push(...decoder.push(d));
            } catch (err) {
              reject(err as Error);
            }
          });
          s.on('error', reject);
          s.on('end', () => (decoder.pending ? reject(new Error(`${decoder.pending} bytes left over`)) : resolve(out)));
        });
      const atServer = received(server);
      const atClient = received(client);
      const closed = Promise.all([client, server].map((s) => new Promise((r) => s.once('close', r))));
      await Promise.all([write(client, a), write(server, b)]);
      // Neither end is half-open (as on TCP): the first end() closes both, so both finish writing first.
      client.end();
      server.end();
      const [gotA, gotB] = await Promise.all([atServer, atClient]);
      await closed;
      return JSON.stringify(gotA) === JSON.stringify(a.bodies) && JSON.stringify(gotB) === JSON.stringify(b.bodies);
    }),
    { numRuns: RUNS },
  );
  t.log(`${RUNS} cases in ${Date.now() - started} ms`);
  t.pass();
});

/** Writes `bodies` framed, cut at `cuts`. */
async function write(s: net.Socket, o: { bodies: string[]; cuts: number[]; corked: boolean[]; gaps: boolean[]; strings: boolean }) {
  const bytes = Buffer.from(o.bodies.map(encodeFrame).join(''), 'utf8');
  const points = [...new Set(o.cuts.map((c) => c % bytes.length))].sort((x, y) => x - y);
  const pieces: Buffer[] = [];
  let at = 0;
  for (const p of [...points, bytes.length]) {
    if (p > at) pieces.push(bytes.subarray(at, p));
    at = Math.max(at, p);
  }
  for (const [i, piece] of pieces.entries()) {
    const cork = o.corked[i] ?? false;
    if (cork) s.cork();
    // A string may only be cut on a character boundary: those cuts go as Buffers.
    const text = piece.toString('utf8');
    s.write(o.strings && Buffer.byteLength(text) === piece.length && !text.includes('\uFFFD') ? text : piece);
    if (cork) process.nextTick(() => s.uncork());
    if (o.gaps[i]) await new Promise((r) => setImmediate(r));
  }
}

test('an end is a net.Socket; a write is delivered on a later turn, never inside write()', async (t) => {
  const [client, server] = InProcessSocket.pair();
  t.true(client instanceof net.Socket);
  t.is(client.remoteAddress, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  const got: string[] = [];
  server.on('data', (d: Buffer) => got.push(d.toString()));
  // The reader is flowing by now: a synchronous push would emit 'data' inside write().
  await new Promise((r) => setImmediate(r));
  client.write('5#hello');
  t.deepEqual(got, [], 'not delivered synchronously');
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.deepEqual(got, ['5#hello']);
  client.destroy();
  server.destroy();
});

test('destroy on one end: the other end gets what was written, then end and close; a write to a closed peer is an error event, not a throw', async (t) => {
  const [client, server] = InProcessSocket.pair();
  const got: Buffer[] = [];
  const events: string[] = [];
  server.on('data', (d: Buffer) => got.push(d));
  server.on('end', () => events.push('end'));
  server.on('close', () => events.push('close'));
  client.write('2#ab');
  client.destroy();
  await waitFor(() => events.includes('close'));
  t.is(Buffer.concat(got).toString(), '2#ab');
  t.deepEqual(events, ['end', 'close']);
  const errors: string[] = [];
  server.on('error', (e) => errors.push(e.message));
  t.notThrows(() => server.write('1#x'));
  await sleep(20);
  t.true(server.destroyed);
  t.true(errors.length <= 1);
});

test('drachtio-srf connects in-process: authenticates with its tags, registers routes, and no TCP connection reaches the control port', async (t) => {
  const { srv, port } = await controlServer();
  const app = await inProcessApp(srv);
  t.teardown(() => srv.close());
  t.deepEqual(await app.first, [HOSTPORTS, DRACHTIO_VERSION]);
  await waitFor(() => [...srv.sessions][0]?.routes.size === 2);
  const session = [...srv.sessions][0]!;
  t.true(session.socket instanceof InProcessSocket);
  t.deepEqual(session.tags, ['tag-a']);
  t.deepEqual([...session.routes].sort(), ['invite', 'options']);
  t.is(tcpConnectionsOn(port), 0);
  app.srf.disconnect();
  await waitFor(() => srv.sessions.size === 0);
  await sleep(300);
  t.false(app.events.includes('reconnecting'), 'a requested disconnect does not reconnect');
});

test('the server drops the session: drachtio-srf reconnects in-process and registers its routes again', async (t) => {
  const { srv, closed } = await controlServer();
  const app = await inProcessApp(srv);
  t.teardown(async () => {
    if (srv.sessions.size) app.srf.disconnect();
    await srv.close();
  });
  await app.first;
  await waitFor(() => [...srv.sessions][0]?.routes.size === 2);
  const firstSession = [...srv.sessions][0]!;
  firstSession.socket.destroy();
  await waitFor(() => app.connects() === 2, 5000);
  await waitFor(() => [...srv.sessions][0]?.routes.size === 2);
  const second = [...srv.sessions][0]!;
  t.not(second.id, firstSession.id);
  t.is(srv.sessions.size, 1);
  t.deepEqual(closed.map((s) => s.id), [firstSession.id]);
  // wire-protocol.js schedules the retry (reconnecting) in its close handler, before re-emitting close.
  t.deepEqual(app.events, ['connect', 'reconnecting', 'close', 'connect']);
  t.deepEqual(app.errors, []);
});

test('the server closes: drachtio-srf retries with backoff, each refusal an error event; with maxAttempts it stops', async (t) => {
  const { srv } = await controlServer();
  const reconnect: ReconnectOptions = { retryMaxDelay: 100, maxAttempts: 0 };
  const app = await inProcessApp(srv, reconnect);
  t.teardown(() => {
    reconnect.maxAttempts = 1;
  });
  await app.first;
  await srv.close();
  await waitFor(() => app.errors.length >= 3, 5000);
  t.true(app.errors.every((m) => m === 'drachtio control server closed'), app.errors.join(', '));
  t.true(app.events.includes('close'));
  // CallControl#close's way to stop the retries of a disconnected app.
  reconnect.maxAttempts = 1;
  await sleep(250);
  const settled = app.errors.length;
  await sleep(400);
  t.is(app.errors.length, settled, 'no retry after maxAttempts');
  t.is(app.connects(), 1);
  t.throws(() => srv.openInProcess(), { message: 'drachtio control server closed' });
});
