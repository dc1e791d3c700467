/**
 * A raw SIP-over-WebSocket peer for tests (RFC 7118): a `ws` client with the `sip` subprotocol
 * that sends SIP text and waits for what comes back, message by message.
 */
import WebSocket from 'ws';
import { parseDatagram } from './sip-text.js';
import type { SipMessage } from '../../engine/sip/message/message.js';

export interface SipWsClient {
  readonly socket: WebSocket;
  /** Every message received so far, as text. */
  readonly received: string[];
  send(text: string | Buffer): void;
  /** The next message (after those already taken) matching `pred`, parsed; rejects after `ms`. */
  next(pred?: (m: SipMessage) => boolean, ms?: number): Promise<SipMessage>;
  /** Resolves with the close code and reason once the socket is closed. */
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/** Connects to `url` with the given subprotocols (default `sip`); rejects when the upgrade is refused. */
export async function connectSipWs(url: string, protocols: string[] = ['sip']): Promise<SipWsClient> {
  const socket = new WebSocket(url, protocols);
  const received: string[] = [];
  let taken = 0;
  const waiters = new Set<() => void>();
  socket.on('message', (data: Buffer) => {
    received.push(data.toString('utf8'));
    for (const w of [...waiters]) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString('utf8') });
      for (const w of [...waiters]) w();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  socket.on('error', () => {});
  return {
    socket,
    received,
    closed,
    send: (text) => socket.send(text),
    close: () => socket.close(),
    next(pred = () => true, ms = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          while (taken < received.length) {
            const text = received[taken++]!;
            let m: SipMessage;
            let match: boolean;
            try {
              m = parseDatagram(text);
              // A predicate reading a header the message lacks (a 400 without Call-ID) does not match.
              match = pred(m);
            } catch {
              continue;
            }
            if (match) {
              done();
              resolve(m);
              return;
            }
          }
          if (socket.readyState === WebSocket.CLOSED) {
            done();
            reject(new Error('socket closed before the message came'));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no matching message in ${ms} ms; received: ${received.map((r) => r.split('\r\n')[0]).join(' | ')}`));
        }, ms);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** An out-of-dialog request as a WebSocket client writes it (RFC 7118 §5: Via host `*.invalid`). */
export function wsRequest(method: string, uri: string, o: { branch: string; callId: string; cseq?: number; headers?: string[]; body?: string }): string {
  const body = o.body ?? '';
  return [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK${o.branch}`,
    'Max-Forwards: 70',
    `From: <sip:alice@example.invalid>;tag=${o.branch}`,
    `To: <${uri}>`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq ?? 1} ${method}`,
    ...(o.headers ?? []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}
