/**
 * A tool's webhook on 127.0.0.1 for agent tests: it verifies the HMAC signature the engine sends
 * (`X-AgentStudio-Signature` over `<timestamp>.<body>`) and answers a balance (401 when the
 * signature is wrong).
 */
import { createHmac } from 'node:crypto';
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

