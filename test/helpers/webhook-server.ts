/**
 * Webhook receivers on 127.0.0.1. `webhook()`: a tool's webhook for agent tests; it verifies the
 * HMAC signature the engine sends (`X-AgentStudio-Signature` over `<timestamp>.<body>`) and
 * answers a balance (401 when the signature is wrong). `eventReceiver()`: an event webhook's
 * receiver with scripted answers (status codes, or no answer at all).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Hook {
  url: string;
  secret: string;
  seen: { body: Record<string, unknown>; signatureOk: boolean }[];
  close(): Promise<void>;
}

/** A tool's webhook: verifies the HMAC signature and answers a balance. */
export async function webhook(): Promise<Hook> {
  const secret = 'a-webhook-secret-of-some-length';
  const seen: Hook['seen'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const ts = String(req.headers['x-agentstudio-timestamp']);
      const expected = `sha256=${createHmac('sha256', secret).update(`${ts}.${raw}`).digest('hex')}`;
      const signatureOk = req.headers['x-agentstudio-signature'] === expected;
      seen.push({ body: JSON.parse(raw) as Record<string, unknown>, signatureOk });
      res.writeHead(signatureOk ? 200 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify(signatureOk ? { balance: 42 } : { error: 'bad signature' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/balance`, secret, seen, close: () => new Promise((r) => server.close(() => r())) };
}


/** One request an event receiver got. */
export interface Received {
  raw: string;
  headers: http.IncomingHttpHeaders;
  /** The HMAC checked as the README tells a receiver to: over the raw body, in constant time, timestamp fresh. */
  signatureOk: boolean;
  /** ms since the receiver started. */
  at: number;
  /** What it answered: a status, or `hang` (no answer until the receiver closes). */
  answered: number | 'hang';
}

/** What to answer to request number `n` (0-based across the receiver's life). */
export type Answer = (r: Omit<Received, 'answered'>, n: number) => number | 'hang';

export interface EventReceiver {
  url: string;
  seen: Received[];
  /** Replace to change what comes next (e.g. 500 then 200). */
  answer: Answer;
  /** The event ids of the requests it answered 2xx, in arrival order. */
  accepted(): number[];
  /** Most requests it had open at once. */
  maxOpen: number;
  close(): Promise<void>;
}

/** Verifies `X-AgentStudio-Signature` with the documented scheme, written out here as a receiver would. */
export function verifySignature(secret: string, headers: http.IncomingHttpHeaders, raw: string, maxAgeSeconds = 300): boolean {
  const ts = headers['x-agentstudio-timestamp'];
  const sig = headers['x-agentstudio-signature'];
  if (typeof ts !== 'string' || typeof sig !== 'string' || !/^\d+$/.test(ts)) return false;
  if (Math.abs(Date.now() / 1000 - Number(ts)) > maxAgeSeconds) return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${ts}.${raw}`).digest('hex')}`);
  const given = Buffer.from(sig);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * An event webhook receiver on 127.0.0.1 (`port` to reuse one across engine restarts): records
 * every request with its signature checked against `secret`, and answers what `answer` says
 * (200 by default).
 */
export async function eventReceiver(secret: string, port = 0): Promise<EventReceiver> {
  const t0 = performance.now();
  const seen: Received[] = [];
  const r: EventReceiver = {
    url: '',
    seen,
    answer: () => 200,
    maxOpen: 0,
    accepted: () => seen.filter((s) => s.answered !== 'hang' && s.answered < 300).map((s) => (JSON.parse(s.raw) as { id: number }).id),
    close: () => new Promise((done) => {
      server.closeAllConnections();
      server.close(() => done());
    }),
  };
  let open = 0;
  const server = http.createServer((req, res) => {
    r.maxOpen = Math.max(r.maxOpen, ++open);
    res.on('close', () => open--);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const got = { raw, headers: req.headers, signatureOk: verifySignature(secret, req.headers, raw), at: performance.now() - t0 };
      const answered = r.answer(got, seen.length);
      seen.push({ ...got, answered });
      if (answered === 'hang') return;
      res.writeHead(answered, { 'content-type': 'text/plain' });
      res.end(answered < 300 ? 'ok' : `refused with ${answered}`);
    });
  });
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return r;
}
