/**
 * A real node:http server on 127.0.0.1, port 0, standing in for a cloud API we cannot reach
 * (TTS, LLM, STT): each request is recorded (method, URL, headers, JSON body) and answered by
 * the test's handler, and the test learns when a client closed its connection early.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  /** Settles when the client went away before the response ended (abort, timeout). */
  clientGone: Promise<void>;
}

export type Handler = (req: Recorded, res: http.ServerResponse) => unknown;

export interface FakeHttp {
  /** `http://127.0.0.1:PORT`. */
  base: string;
  requests: Recorded[];
  close(): Promise<void>;
}

export async function fakeHttp(handler: Handler): Promise<FakeHttp> {
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8');
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        // Not JSON: the test sees the text.
      }
      const clientGone = new Promise<void>((resolve) => res.on('close', () => !res.writableFinished && resolve()));
      const rec: Recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, clientGone };
      requests.push(rec);
      void Promise.resolve(handler(rec, res)).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Writes `chunks` with `gapMs` between them (stops if the client left). */
export async function writeSlowly(res: http.ServerResponse, chunks: Uint8Array[], gapMs: number): Promise<void> {
  for (const [i, c] of chunks.entries()) {
    if (res.destroyed) return;
    if (i) await new Promise((r) => setTimeout(r, gapMs));
    res.write(c);
  }
}

/** `buf` cut into `n` pieces of uneven (and odd) sizes. */
export function unevenPieces(buf: Uint8Array, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    const end = i === n - 1 ? buf.length : Math.min(buf.length, at + Math.floor((buf.length / n) * (0.5 + ((i * 7) % 10) / 10)) | 1);
    out.push(buf.subarray(at, end));
    at = end;
  }
  return out.filter((p) => p.length);
}
