/**
 * A local chat completions server (node:http on 127.0.0.1, port 0) that speaks the OpenAI
 * streaming protocol byte for byte as OpenAI sends it: `data: <chat.completion.chunk>\n\n`
 * events, a role-only first chunk with empty content, tool calls whose arguments arrive in
 * pieces, a finish chunk, `data: [DONE]`. Each request takes the next scripted reply; the
 * requests (headers and parsed body) and whether the client hung up early are recorded.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
  /** Set when the connection closed before the reply ended (the client aborted). */
  closedEarly: boolean;
  /** Resolves when the connection or the reply ends. */
  finished: Promise<void>;
}

/** Raw text written as is, or a pause. */
export type Frame = string | { pauseMs: number };

export type FakeReply =
  /** 200 text/event-stream with these frames; then end, or keep the connection open (a stall). */
  | { stream: Frame[]; then?: 'end' | 'stall' | 'destroy' }
  | { status: number; body: string; contentType?: string };

const BASE = { id: 'chatcmpl-AbC123', object: 'chat.completion.chunk', created: 1733300000, model: 'gpt-4o-mini-2024-07-18', system_fingerprint: 'fp_0aa8d3e20b' };

/** One `data:` event holding a chunk with this delta and finish reason, as OpenAI frames it. */
export function chunk(delta: Record<string, unknown>, finishReason: string | null = null): string {
  return `data: ${JSON.stringify({ ...BASE, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] })}\n\n`;
}

export const DONE = 'data: [DONE]\n\n';
export const ROLE = chunk({ role: 'assistant', content: '', refusal: null });

/** A plain answer streamed in these pieces: role chunk, one chunk per piece, stop, [DONE]. */
export function textReply(pieces: string[], pauseMs = 0): Frame[] {
  const frames: Frame[] = [ROLE];
  for (const p of pieces) {
    if (pauseMs > 0) frames.push({ pauseMs });
    frames.push(chunk({ content: p }));
  }
  return [...frames, chunk({}, 'stop'), DONE];
}

/** Tool calls, each opened with id, type and name, its arguments in `split` pieces. */
export function toolCallReply(calls: { id: string; name: string; arguments: string }[], split = 3, text: string[] = []): Frame[] {
  const frames: Frame[] = [text.length > 0 ? ROLE : chunk({ role: 'assistant', content: null, refusal: null })];
  for (const p of text) frames.push(chunk({ content: p }));
  calls.forEach((c, index) => {
    frames.push(chunk({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] }));
    const size = Math.ceil(c.arguments.length / split) || 1;
    for (let i = 0; i < c.arguments.length; i += size) {
      frames.push(chunk({ tool_calls: [{ index, function: { arguments: c.arguments.slice(i, i + size) } }] }));
    }
  });
  return [...frames, chunk({}, 'tool_calls'), DONE];
}

export class FakeOpenAi {
  readonly requests: FakeRequest[] = [];
  private readonly replies: FakeReply[] = [];
  private readonly server = http.createServer((req, res) => void this.serve(req, res));

  /** Base URL with `/v1`, as a user would configure it. */
  url = '';

  static async start(): Promise<FakeOpenAi> {
    const fake = new FakeOpenAi();
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}/v1`;
    return fake;
  }

  /** Queues replies for the next requests, in order. */
  reply(...replies: FakeReply[]): void {
    this.replies.push(...replies);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let raw = '';
    for await (const piece of req) raw += (piece as Buffer).toString('utf8');
    let settle!: () => void;
    const got: FakeRequest = {
      method: req.method!,
      url: req.url!,
      headers: req.headers,
      body: JSON.parse(raw) as Record<string, unknown>,
      closedEarly: false,
      finished: new Promise<void>((r) => (settle = r)),
    };
    this.requests.push(got);
    res.on('close', () => {
      if (!res.writableFinished) got.closedEarly = true;
      settle();
    });
    const reply = this.replies.shift() ?? { status: 500, body: '{"error":{"message":"no scripted reply"}}' };
    if ('status' in reply) {
      res.writeHead(reply.status, { 'content-type': reply.contentType ?? 'application/json' }).end(reply.body);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.flushHeaders();
    for (const frame of reply.stream) {
      if (res.destroyed) return;
      if (typeof frame === 'string') res.write(frame);
      else await new Promise((r) => setTimeout(r, frame.pauseMs));
    }
    if (reply.then === 'stall') return;
    if (reply.then === 'destroy') res.destroy();
    else res.end();
  }
}
