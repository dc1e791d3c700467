/**
 * A local node:http server that behaves like OpenAI's transcription endpoint
 * (`POST /v1/audio/transcriptions`, multipart/form-data, `Authorization: Bearer <key>`): it
 * parses the multipart body, reads the uploaded WAV with `parseWav`, records each upload, and
 * answers `{"text": ...}` (or what the test's `answer` says: another status, a delay, garbage).
 * Refusals copy OpenAI's error envelope.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parseWav, type WavAudio } from '../../media/audio/wav.js';

export interface Upload {
  authorization: string | undefined;
  fields: Record<string, string>;
  file: { filename: string; contentType: string; wav: WavAudio } | null;
  /** Set when the client went away before the answer. */
  aborted: boolean;
}

export interface Answer {
  status?: number;
  /** An object is sent as JSON, a string as it is. */
  body?: unknown;
  delayMs?: number;
}

export interface FakeTranscriptionOptions {
  apiKey?: string;
  /** The answer to the upload numbered `index` (from 0); default `{ text: texts[index] }`. */
  answer?: (upload: Upload, index: number) => Answer;
  texts?: string[];
}

export interface FakeTranscription {
  /** The base URL, as a provider's `baseUrl` (`.../v1`). */
  url: string;
  uploads: Upload[];
  close(): Promise<void>;
}

/** The parts of a multipart/form-data body (RFC 7578). */
export function parseMultipart(body: Buffer, contentType: string): { name: string; filename: string | null; contentType: string; data: Buffer }[] {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const parts = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) throw new Error('unterminated multipart body');
    const part = body.subarray(start + 2, next - 2);
    const headerEnd = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, headerEnd).toString('utf8');
    const disposition = /content-disposition:\s*form-data;\s*name="([^"]*)"(?:;\s*filename="([^"]*)")?/i.exec(headers);
    if (!disposition) throw new Error(`a part without a name: ${headers}`);
    parts.push({
      name: disposition[1]!,
      filename: disposition[2] ?? null,
      contentType: /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1] ?? 'text/plain',
      data: part.subarray(headerEnd + 4),
    });
    at = next;
  }
  return parts;
}

export async function fakeTranscription(opts: FakeTranscriptionOptions = {}): Promise<FakeTranscription> {
  const apiKey = opts.apiKey ?? 'sk-test-key';
  const uploads: Upload[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' }).end(text);
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/audio/transcriptions') return send(res, 404, { error: { message: 'not found', type: 'invalid_request_error' } });
      const upload: Upload = { authorization: req.headers.authorization, fields: {}, file: null, aborted: false };
      if (req.headers.authorization !== `Bearer ${apiKey}`) {
        uploads.push(upload);
        return send(res, 401, { error: { message: 'Incorrect API key provided: sk-***.', type: 'invalid_request_error', code: 'invalid_api_key' } });
      }
      try {
        for (const part of parseMultipart(Buffer.concat(chunks), req.headers['content-type'] ?? '')) {
          if (part.filename !== null) upload.file = { filename: part.filename, contentType: part.contentType, wav: parseWav(part.data) };
          else upload.fields[part.name] = part.data.toString('utf8');
        }
      } catch (err) {
        return send(res, 400, { error: { message: `bad upload: ${(err as Error).message}`, type: 'invalid_request_error' } });
      }
      const index = uploads.push(upload) - 1;
      res.on('close', () => {
        if (!res.writableFinished) upload.aborted = true;
      });
      const answer = opts.answer?.(upload, index) ?? { body: { text: opts.texts?.[index] ?? '' } };
      const reply = () => send(res, answer.status ?? 200, answer.body ?? { text: '' });
      if (!answer.delayMs) return reply();
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!upload.aborted) reply();
      }, answer.delayMs);
      timers.add(timer);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    uploads,
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
