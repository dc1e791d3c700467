/**
 * The peers of the event fan-out benchmark, each in its own process: a minimal `node:http` server
 * that broadcasts every event to all its subscribers, either over WebSocket (the `ws` package,
 * `/ws`) or as Server-Sent Events (`/events`). No auth, no log, no storage: the floor of a Node
 * fan-out. Each event has the engine's shape and size and is serialised once; the WebSocket frame
 * (`{"type":"event","event":…}`) and the SSE block are the engine's.
 *
 *   node dist/bench/peers/node-fanout.js ws|sse   (IPC: see lib/fanout-wire.ts)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { eventFrameText, eventJson, publishPaced, type PublishOrder } from '../lib/fanout-wire.js';

/** The peer's ready message. */
export interface PeerReady {
  type: 'ready';
  port: number;
}

function main(): void {
  const kind = process.argv[2];
  if ((kind !== 'ws' && kind !== 'sse') || !process.send) throw new Error('usage: fork node-fanout.js ws|sse with an IPC channel');
  const sockets = new Set<WebSocket>();
  const streams = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    if (kind === 'sse' && req.url === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' });
      res.write('retry: 2000\n\n');
      streams.add(res);
      res.on('close', () => streams.delete(res));
      return;
    }
    res.writeHead(req.url === '/ready' ? 200 : 404).end();
  });
  if (kind === 'ws') {
    const wss = new WebSocketServer({ server, path: '/ws' });
    wss.on('connection', (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      ws.on('error', () => sockets.delete(ws));
    });
  }
  let id = 0;
  const publish =
    kind === 'ws'
      ? () => {
          // One buffer for every socket, as the engine sends one string.
          const frame = Buffer.from(eventFrameText(++id));
          for (const ws of sockets) ws.send(frame, { binary: false });
        }
      : () => {
          const json = eventJson(++id);
          const block = `id: ${id}\nevent: call.agent_said\ndata: ${json}\n\n`;
          for (const res of streams) res.write(block);
        };
  process.on('message', (m: PublishOrder | { type: 'stop' }) => {
    if (m.type === 'stop') process.exit(0);
    if (m.type === 'publish') void publishPaced(m, publish).then((done) => process.send!(done));
  });
  server.listen(0, '127.0.0.1', () => {
    const ready: PeerReady = { type: 'ready', port: (server.address() as AddressInfo).port };
    process.send!(ready);
  });
}

main();
