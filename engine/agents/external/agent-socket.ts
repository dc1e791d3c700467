/**
 * Opening an external agent's WebSocket with the `ws` package, bounded: the connect deadline
 * covers DNS, TCP, TLS and the upgrade; messages past `maxMessageBytes` close the socket (1009);
 * no compression, no redirects; text that is not UTF-8 is handed on (the protocol answers it as a
 * bad message) rather than failing the connection (1007). Every way the socket can fail (a refused
 * connection, a non-101 answer, a timeout, a drop) comes out once, as `closed` with the reason
 * in words; nothing is thrown.
 */
import WebSocket, { type RawData } from 'ws';
import { outbound } from '../../../lib/outbound-guard.js';
import type { ExternalLimits } from './protocol.js';

export interface AgentSocketHandlers {
  open(): void;
  message(data: Buffer, isBinary: boolean): void;
  /** The socket is gone (`opened`: whether it had opened), once, whoever closed it. */
  closed(opened: boolean, why: string): void;
}

/** Opens the socket; returns it, or the reason it could not even be started (a URL `ws` refuses). */
export function openAgentSocket(
  target: { url: string; headers?: Record<string, string> | undefined },
  limits: Pick<ExternalLimits, 'connectTimeoutMs' | 'maxMessageBytes'>,
  on: AgentSocketHandlers,
): WebSocket | string {
  let ws: WebSocket;
  try {
    outbound().check(target.url);
    ws = new WebSocket(target.url, {
      headers: target.headers ?? {},
      lookup: outbound().lookup,
      handshakeTimeout: limits.connectTimeoutMs,
      maxPayload: limits.maxMessageBytes,
      perMessageDeflate: false,
      followRedirects: false,
      skipUTF8Validation: true,
    });
  } catch (err) {
    return (err as Error).message;
  }
  // The handshake timeout starts with the request; this one also covers DNS and TCP on every platform.
  let opened = false;
  let failure: string | null = null;
  // Named first: terminate() reports an error of its own ("closed before the connection was established").
  const deadline = setTimeout(() => {
    failure ??= `no connection within ${limits.connectTimeoutMs} ms`;
    ws.terminate();
  }, limits.connectTimeoutMs);
  ws.on('open', () => {
    clearTimeout(deadline);
    opened = true;
    on.open();
  });
  ws.on('message', (data, isBinary) => on.message(asBuffer(data), isBinary));
  ws.on('unexpected-response', (_req, res) => {
    failure = `the agent answered the upgrade with HTTP ${res.statusCode ?? '?'}`;
    res.resume();
    ws.terminate();
  });
  ws.on('error', (err) => {
    failure ??= err.message;
  });
  ws.on('close', (code) => {
    clearTimeout(deadline);
    on.closed(opened, opened ? `closed ${code}` : (failure ?? 'no connection within the timeout'));
  });
  return ws;
}

function asBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}
