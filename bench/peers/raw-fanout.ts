/**
 * The floors of the event fan-out benchmark: the least a server can do per delivery when it
 * writes each event to each subscriber, each in its own process, with the same subscribers
 * (`ws` package clients on `/ws`) and events (the engine's frame, shape and size) as the others.
 *
 * - `net`: a `node:net` server that answers the WebSocket upgrade itself (RFC 6455 section 4.2.2:
 *   101 with `Sec-WebSocket-Accept`, no extension, no subprotocol) and, per event, builds one
 *   unmasked text frame (section 5.2: "A server MUST NOT mask any frames") and hands that Buffer
 *   to `socket.write` of every subscriber: no framing work per socket, no JSON, no filter. The
 *   least any Node server does per delivery.
 * - `uws`: uWebSockets.js (native, loaded as the engine loads it), every subscriber on one topic,
 *   and `app.publish(topic, text)` of the event's text: the fan-out loop (framing, the cork
 *   buffer, the `send`) in C++. uWS queues a publish and writes it when its topic tree drains
 *   (uWS's pre- and post-poll handlers, every turn of the loop), a subscriber's queued messages
 *   in one `send`.
 *
 *   node dist/bench/peers/raw-fanout.js net|uws   (IPC: see lib/fanout-wire.ts)
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { loadUws } from '../../api/uws.js';
import { eventFrameText, publishPaced, type PublishOrder } from '../lib/fanout-wire.js';
import type { PeerReady } from './node-fanout.js';

/** RFC 6455 section 1.3: the GUID appended to the client's key before hashing. */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** An upgrade request larger than this is refused (the bench's are ~200 bytes). */
const MAX_REQUEST_BYTES = 8 * 1024;
/** uWS skips a subscriber past this much unsent data; high, so that no delivery is skipped. */
const UWS_MAX_BACKPRESSURE = 16 * 1024 * 1024;
/** As the engine's WebSocket (`api/realtime/ws-server.ts`): a ping before 120 s of silence. */
const UWS_IDLE_TIMEOUT_S = 120;
const TOPIC = 'events';

/**
 * One unmasked text frame (RFC 6455 section 5.2): FIN + opcode 1, then the payload length in 7
 * bits, or 126 and 16 bits, or 127 and 64 bits.
 */
export function textFrame(text: string): Buffer {
  const n = Buffer.byteLength(text);
  const lengthBytes = n < 126 ? 0 : n < 65_536 ? 2 : 8;
  const frame = Buffer.allocUnsafe(2 + lengthBytes + n);
  frame[0] = 0x81;
  if (lengthBytes === 0) frame[1] = n;
  else if (lengthBytes === 2) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(n), 2);
  }
  frame.write(text, 2 + lengthBytes);
  return frame;
}

/**
 * The upgrade's answer (RFC 6455 section 4.2.2), or null when the request is not a WebSocket
 * upgrade of `/ws` (the caller answers 400 and closes).
 */
export function upgradeAnswer(request: string): string | null {
  if (!request.startsWith('GET /ws ')) return null;
  if (!/^upgrade:\s*websocket\s*$/im.test(request)) return null;
  const key = /^sec-websocket-key:\s*(\S+)\s*$/im.exec(request)?.[1];
  if (!key) return null;
  const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
}

/** The `net` floor: resolves with its port and its publish. */
function netFloor(): Promise<{ port: number; publish: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    let head = '';
    const onHead = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) {
        if (head.length > MAX_REQUEST_BYTES) socket.destroy();
        return;
      }
      socket.off('data', onHead);
      const answer = upgradeAnswer(head);
      if (!answer) {
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      socket.write(answer);
      sockets.add(socket);
      // What a subscriber sends after this (a close frame when it goes) is not read: it closes the socket.
      socket.on('data', () => {});
    };
    socket.on('data', onHead);
    socket.on('error', () => sockets.delete(socket));
    socket.on('close', () => sockets.delete(socket));
  });
  let id = 0;
  const publish = () => {
    const frame = textFrame(eventFrameText(++id));
    for (const s of sockets) s.write(frame);
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as net.AddressInfo).port, publish }));
  });
}

/** The `uws` floor: resolves with its port and its publish. */
function uwsFloor(): Promise<{ port: number; publish: () => void }> {
  const uWS = loadUws();
  const app = uWS.App().ws('/ws', {
    idleTimeout: UWS_IDLE_TIMEOUT_S,
    sendPingsAutomatically: true,
    maxBackpressure: UWS_MAX_BACKPRESSURE,
    open: (ws) => void ws.subscribe(TOPIC),
  });
  let id = 0;
  const publish = () => void app.publish(TOPIC, eventFrameText(++id), false);
  return new Promise((resolve, reject) => {
    app.listen('127.0.0.1', 0, (token) => {
      if (!token) reject(new Error('uWS could not listen on 127.0.0.1'));
      else resolve({ port: uWS.us_socket_local_port(token), publish });
    });
  });
}

async function main(): Promise<void> {
  const kind = process.argv[2];
  if ((kind !== 'net' && kind !== 'uws') || !process.send) throw new Error('usage: fork raw-fanout.js net|uws with an IPC channel');
  const { port, publish } = await (kind === 'net' ? netFloor() : uwsFloor());
  process.on('message', (m: PublishOrder | { type: 'stop' }) => {
    if (m.type === 'stop') process.exit(0);
    if (m.type === 'publish') void publishPaced(m, publish).then((done) => process.send!(done));
  });
  const ready: PeerReady = { type: 'ready', port };
  process.send(ready);
}

main().catch((err: unknown) => {
  process.stderr.write(`raw-fanout: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
