/**
 * A raw SIP-over-WebSocket peer for tests (RFC 7118): a `ws` client with the `sip` subprotocol
 * that sends SIP text and waits for what comes back, message by message.
 */
import { createHash } from 'node:crypto';
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

/** An Authorization (or Proxy-Authorization) value answering a digest challenge (RFC 2617, qop=auth). */
export function digestAuthorization(o: { user: string; password: string; realm: string; method: string; uri: string; nonce: string }): string {
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');
  const response = md5(`${md5(`${o.user}:${o.realm}:${o.password}`)}:${o.nonce}:00000001:abc:auth:${md5(`${o.method}:${o.uri}`)}`);
  return `Digest username="${o.user}", realm="${o.realm}", nonce="${o.nonce}", uri="${o.uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="abc"`;
}

let registerBranch = 0;

/**
 * REGISTER over `c` for `sip:<user>@<domain>`: the request without credentials (401 expected),
 * then with them; the final answer, its headers by lower-case name and its Contact values.
 */
export async function registerOverWs(
  c: SipWsClient,
  o: { user: string; password: string; domain: string; realm: string; callId: string; cseq: number; contacts: string[]; expires?: string },
): Promise<{ status: number; headers: Record<string, string>; contacts: string[] }> {
  const uri = `sip:${o.domain}`;
  const send = (cseq: number, auth?: string) => {
    const id = `reg${++registerBranch}`;
    c.send(
      wsRequest('REGISTER', uri, { branch: id, callId: o.callId, cseq, headers: [...o.contacts.map((x) => `Contact: ${x}`), ...(o.expires ? [`Expires: ${o.expires}`] : []), ...(auth ? [`Authorization: ${auth}`] : [])] })
        .replace(/^To: .*$/m, `To: <sip:${o.user}@${o.domain}>`)
        .replace(/^From: .*$/m, `From: <sip:${o.user}@${o.domain}>;tag=${id}`),
    );
    return c.next((m) => m.kind === 'response' && m.callId === o.callId && m.status >= 200);
  };
  const challenge = await send(o.cseq * 100);
  if (challenge.kind !== 'response' || challenge.status !== 401) throw new Error(`expected 401, got ${challenge.startLine}`);
  const nonce = /nonce="([^"]+)"/.exec(challenge.headers.get('WWW-Authenticate') ?? '')?.[1] ?? '';
  const res = await send(o.cseq * 100 + 1, digestAuthorization({ user: o.user, password: o.password, realm: o.realm, method: 'REGISTER', uri, nonce }));
  if (res.kind !== 'response') throw new Error('not a response');
  const headers = Object.fromEntries(res.headers.fields().map((f) => [f.name.toLowerCase(), f.value]));
  return { status: res.status, headers, contacts: res.headers.getAll('Contact').flatMap((v) => v.split(',')).filter((v) => v.trim() !== '') };
}
