import net from 'node:net';
import test from 'ava';
import Srf from 'drachtio-srf';
import { createLogger } from '../../../../config/logger.js';
import { ControlServer, DRACHTIO_VERSION, type AppSession } from '../../../../engine/sip/drachtio/control-server.js';
import { encodeFrame, FrameDecoder } from '../../../../engine/sip/drachtio/frame.js';
import { waitFor } from '../../../helpers/http.js';

const log = createLogger({ level: 'silent', pretty: false });
const HOSTPORTS = 'tcp/127.0.0.1:5090,udp/127.0.0.1:5090';

async function server(secret = 'cymru') {
  const closed: AppSession[] = [];
  const srv = new ControlServer(secret, { hostports: () => HOSTPORTS, onSip: () => {}, onProxy: () => {}, onClosed: (s) => closed.push(s) }, log);
  const port = await srv.listen('127.0.0.1', 0);
  return { srv, port, closed };
}

/** A raw client: sends frames, collects decoded replies. */
async function raw(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const decoder = new FrameDecoder();
  const frames: string[] = [];
  let ended = false;
  socket.on('data', (d: Buffer) => frames.push(...decoder.push(d)));
  socket.on('close', () => (ended = true));
  return {
    send: (body: string) => socket.write(encodeFrame(body)),
    frames,
    ended: () => ended,
    close: () => socket.destroy(),
  };
}

test('drachtio-srf connects, authenticates with tags and registers its routes', async (t) => {
  const { srv, port } = await server();
  // drachtio-srf's bundled typings omit some of its methods and events.
  const srf = new Srf(['tag-a', 'tag-b']) as unknown as Srf & {
    register(h: () => void): void;
    options(h: () => void): void;
    unregisterForMessages(verb: string): void;
    on(event: 'connect', h: (err: Error | null, hostport: string, version: string) => void): void;
  };
  srf.invite(() => {});
  srf.register(() => {});
  srf.options(() => {});
  const connected = new Promise<[string, string]>((resolve, reject) => {
    srf.on('connect', (err: Error | null, hostport: string, version: string) => (err ? reject(err) : resolve([hostport, version])));
  });
  srf.connect({ host: '127.0.0.1', port, secret: 'cymru' });
  t.deepEqual(await connected, [HOSTPORTS, DRACHTIO_VERSION]);
  await waitFor(() => [...srv.sessions][0]?.routes.size === 3);
  const session = [...srv.sessions][0]!;
  t.deepEqual([...session.routes].sort(), ['invite', 'options', 'register']);
  t.deepEqual(session.tags, ['tag-a', 'tag-b']);
  t.is(srv.sessionFor('invite'), session);
  t.is(srv.sessionFor('bye'), undefined);

  srf.unregisterForMessages('options');
  await waitFor(() => !session.routes.has('options'));
  srf.disconnect();
  await waitFor(() => srv.sessions.size === 0);
  await srv.close();
});

test('a wrong secret gets NO|incorrect secret and the server closes the connection', async (t) => {
  const { srv, port } = await server();
  const c = await raw(port);
  c.send('1ac5fee0-fe76-4cf9-b80f-208055f154dd|authenticate|wrong-secret|');
  await waitFor(() => c.ended());
  t.is(c.frames.length, 1);
  t.regex(c.frames[0]!, /^[0-9a-f-]{36}\|response\|1ac5fee0-fe76-4cf9-b80f-208055f154dd\|NO\|incorrect secret$/);
  await srv.close();
});

test('ping answers OK|pong; frames before authenticate are refused', async (t) => {
  const { srv, port } = await server();
  const early = await raw(port);
  early.send('m1|route|invite');
  await waitFor(() => early.ended());
  t.regex(early.frames[0]!, /\|response\|m1\|NO\|not authenticated$/);

  const c = await raw(port);
  c.send('a1|authenticate|cymru|');
  c.send('p1|ping');
  await waitFor(() => c.frames.length === 2);
  t.regex(c.frames[0]!, new RegExp(`\\|response\\|a1\\|OK\\|${HOSTPORTS}\\|${DRACHTIO_VERSION}\\|${HOSTPORTS}$`));
  t.regex(c.frames[1]!, /\|response\|p1\|OK\|pong$/);
  c.close();
  await srv.close();
});

test('a malformed frame closes that connection only, and the server keeps serving', async (t) => {
  const { srv, port } = await server();
  const bad = await raw(port);
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  s.write('not-a-length#garbage');
  await new Promise((r) => s.once('close', r));
  t.pass('closed');
  bad.send('x|authenticate|cymru|');
  await waitFor(() => bad.frames.length === 1);
  t.regex(bad.frames[0]!, /\|OK\|/);
  bad.close();
  await srv.close();
});
