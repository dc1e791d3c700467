/**
 * SIP over WebSocket across threads (`sip.server = thread`): the sockets live on the engine's
 * loop (uWebSockets.js), the WebSocket transport in the SIP thread. `WsBridgeGateway` is the
 * gateway the HTTP server sees on the engine's side; `serveWsBridge` feeds the thread's
 * `WsTransport`. Messages cross as plain objects, the SIP bytes as transferred ArrayBuffers, the
 * way datagrams and stream bytes reach the thread's UDP and TCP sockets directly.
 */
import type { Endpoint } from './types.js';
import type { WsConnectionHandle, WsGateway, WsPeer, WsTransport } from './ws-transport.js';

/** Engine -> SIP thread. */
export type WsToThread =
  | { type: 'ws-serve'; local: Endpoint }
  | { type: 'ws-open'; conn: number; remote: Endpoint; local: Endpoint }
  | { type: 'ws-message'; conn: number; data: ArrayBuffer }
  | { type: 'ws-closed'; conn: number };

/** SIP thread -> engine. */
export type WsFromThread = { type: 'ws-send'; conn: number; data: ArrayBuffer } | { type: 'ws-close'; conn: number; code: number; reason: string };

/** A Buffer's bytes in an ArrayBuffer of their own, safe to transfer. */
function ownBytes(data: Buffer): ArrayBuffer {
  const copy = new ArrayBuffer(data.length);
  new Uint8Array(copy).set(data);
  return copy;
}

/** The engine's side: the gateway handed to the HTTP server, posting to the SIP thread. */
export class WsBridgeGateway implements WsGateway {
  readonly #peers = new Map<number, WsPeer>();
  #nextId = 1;

  constructor(private readonly post: (m: WsToThread, transfer?: ArrayBuffer[]) => void) {}

  serve(local: Endpoint): void {
    this.post({ type: 'ws-serve', local });
  }

  open(peer: WsPeer, remote: Endpoint, local: Endpoint): WsConnectionHandle {
    const conn = this.#nextId++;
    this.#peers.set(conn, peer);
    this.post({ type: 'ws-open', conn, remote, local });
    return {
      message: (data) => {
        const bytes = ownBytes(data);
        this.post({ type: 'ws-message', conn, data: bytes }, [bytes]);
      },
      closed: () => {
        if (this.#peers.delete(conn)) this.post({ type: 'ws-closed', conn });
      },
    };
  }

  /** A message from the SIP thread (others are ignored). */
  onThreadMessage(m: WsFromThread): void {
    const peer = this.#peers.get(m.conn);
    if (!peer) return;
    if (m.type === 'ws-send') {
      // A refused send closes the socket here; its `closed` tells the thread.
      if (!peer.send(Buffer.from(m.data))) peer.close(1008, 'peer does not read');
    } else {
      peer.close(m.code, m.reason);
    }
  }

  /** Sockets the thread is gone for: closed. */
  closeAll(code: number, reason: string): void {
    for (const peer of this.#peers.values()) peer.close(code, reason);
    this.#peers.clear();
  }
}

/** The SIP thread's side: feeds `transport` from the engine's messages. */
export function serveWsBridge(transport: WsTransport, post: (m: WsFromThread, transfer?: ArrayBuffer[]) => void): (m: WsToThread) => void {
  const handles = new Map<number, WsConnectionHandle>();
  return (m) => {
    if (m.type === 'ws-serve') {
      transport.serve(m.local);
    } else if (m.type === 'ws-open') {
      const handle = transport.open(
        {
          send: (data) => {
            const bytes = ownBytes(data);
            post({ type: 'ws-send', conn: m.conn, data: bytes }, [bytes]);
            return true;
          },
          close: (code, reason) => {
            handles.delete(m.conn);
            post({ type: 'ws-close', conn: m.conn, code, reason });
          },
        },
        m.remote,
        m.local,
      );
      if (handle) handles.set(m.conn, handle);
      else post({ type: 'ws-close', conn: m.conn, code: 1013, reason: 'sip transport closed' });
    } else if (m.type === 'ws-message') {
      handles.get(m.conn)?.message(Buffer.from(m.data));
    } else {
      handles.get(m.conn)?.closed();
      handles.delete(m.conn);
    }
  };
}
