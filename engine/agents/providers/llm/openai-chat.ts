/**
 * A language model behind the OpenAI chat completions API, streamed: OpenAI itself, and the
 * servers that speak its dialect (vLLM, Ollama at `http://host:11434/v1`, llama.cpp's server at
 * `http://host:8080/v1`; the base URL includes the `/v1`).
 *
 * `POST {baseUrl}/chat/completions` with `stream: true`, `Authorization: Bearer <apiKey>` unless
 * the key is null (local servers). The answer is read as it arrives (`sse.ts`, then
 * `openai-stream.ts`). Every failure is a `ProviderError`: 401/403 `auth`, 429 `rate_limited`,
 * other statuses `http_error` with the service's own message (never the key), a malformed or
 * unfinished stream `bad_response`, no first event within `firstTokenTimeoutMs` or a silence
 * longer than `idleTimeoutMs` between events `timeout` (SSE comments, which some gateways send
 * as keep-alives, do not count as events), a failed connection `network`. A server that answers
 * one JSON completion instead of a stream is read whole, within the first-token budget.
 * Aborting the request's signal ends the iteration quietly and closes the HTTP connection.
 */
import { httpErrorCode, ProviderError, type LlmChunk, type LlmMessage, type LlmProvider, type LlmRequest, type LlmTool } from '../contracts.js';
import { ChatStreamReader } from './openai-stream.js';
import { readCapped } from '../../../../lib/read-capped.js';
import { SseDecoder } from './sse.js';
import { outbound } from '../../../../lib/outbound-guard.js';

export interface OpenAiChatOptions {
  /** Sent as a bearer token; null sends no Authorization header (Ollama, llama.cpp). */
  apiKey: string | null;
  /** Up to and including `/v1`; null or absent = OpenAI's. */
  baseUrl?: string | null;
  /** The name in `ProviderError`s and logs. */
  name?: string;
  /** From the request to the first stream event (a cold local model can take seconds). */
  firstTokenTimeoutMs?: number;
  /** The longest silence between two stream events. */
  idleTimeoutMs?: number;
  /** A longer answer is refused: a spoken reply is a few kilobytes, a runaway stream is not. */
  maxResponseBytes?: number;
}

const DEFAULT_BASE_URL = 'https://api.openai.com/v1';
/** Long enough for a loaded service's queue, short enough that a caller is not left in silence. */
const DEFAULT_FIRST_TOKEN_TIMEOUT_MS = 10_000;
const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
/** ~1000 times a long spoken answer with its JSON framing. */
const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
/** An error body is read this far: its `error.message` is what matters. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** Messages quoted from the service are cut to this many characters. */
const MAX_QUOTED_CHARS = 300;

/** Why the internal controller aborted the HTTP request, when it was not the caller. */
type Cut = { kind: 'timeout'; message: string } | { kind: 'caller' };

export class OpenAiChat implements LlmProvider {
  readonly name: string;
  private readonly url: string;
  private readonly firstTokenTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly maxResponseBytes: number;

  constructor(private readonly opts: OpenAiChatOptions) {
    this.name = opts.name ?? 'openai';
    this.url = `${(opts.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '')}/chat/completions`;
    this.firstTokenTimeoutMs = opts.firstTokenTimeoutMs ?? DEFAULT_FIRST_TOKEN_TIMEOUT_MS;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  async *chat(req: LlmRequest): AsyncGenerator<LlmChunk> {
    if (req.signal.aborted) return;
    const http = new AbortController();
    let cut: Cut | null = null;
    const onAbort = () => {
      cut ??= { kind: 'caller' };
      http.abort();
    };
    req.signal.addEventListener('abort', onAbort, { once: true });
    // Each wait on the network (the request, then every read) is bounded: by what is left of the
    // first-token budget until the first event arrives, by the idle timeout after.
    const firstDeadline = performance.now() + this.firstTokenTimeoutMs;
    let gotEvent = false;
    const bounded = async <T>(op: Promise<T>): Promise<T> => {
      const ms = gotEvent ? this.idleTimeoutMs : Math.max(0, firstDeadline - performance.now());
      const message = gotEvent ? `No stream event for ${ms} ms` : `No first token within ${this.firstTokenTimeoutMs} ms`;
      const timer = setTimeout(() => {
        cut ??= { kind: 'timeout', message };
        http.abort();
      }, ms);
      try {
        return await op;
      } catch (err) {
        throw this.failure(err, cut);
      } finally {
        clearTimeout(timer);
      }
    };
    try {
      const res = await bounded(outbound().fetch(this.url, { method: 'POST', headers: this.headers(), body: this.body(req), signal: http.signal }));
      if (!res.ok) throw await bounded(this.httpError(res));
      const reader = new ChatStreamReader(this.name, (s) => this.scrub(s));
      for await (const data of this.events(res, bounded)) {
        if (req.signal.aborted) return;
        gotEvent = true;
        for (const chunk of reader.read(data)) {
          yield chunk;
          if (req.signal.aborted) return;
        }
        if (reader.isDone) return;
      }
      if (req.signal.aborted) return;
      if (!reader.canEnd) throw new ProviderError(this.name, 'bad_response', 'The stream ended before [DONE] or a finish_reason');
      for (const chunk of reader.end()) yield chunk;
    } catch (err) {
      if (req.signal.aborted) return;
      throw err instanceof ProviderError ? err : this.failure(err, cut);
    } finally {
      req.signal.removeEventListener('abort', onAbort);
      // Closes the connection when the stream was left early (abort, error, consumer stopped).
      http.abort();
    }
  }

  /**
   * The data of each event of the answer's body, as it arrives. A server that ignored
   * `stream: true` answers one JSON completion: it is read whole and yielded as one event.
   */
  private async *events(res: Response, bounded: <T>(op: Promise<T>) => Promise<T>): AsyncGenerator<string> {
    if (!res.body) throw new ProviderError(this.name, 'bad_response', `HTTP ${res.status} without a body`);
    const type = res.headers.get('content-type') ?? '';
    const whole = /\bjson\b/i.test(type) && !/event-stream/i.test(type);
    const decoder = new SseDecoder();
    const held: Uint8Array[] = [];
    const body = res.body.getReader();
    let bytes = 0;
    for (;;) {
      const { done, value } = await bounded(body.read());
      if (done) {
        yield* whole ? [Buffer.concat(held).toString('utf8')] : decoder.end();
        return;
      }
      bytes += value.byteLength;
      if (bytes > this.maxResponseBytes) throw new ProviderError(this.name, 'bad_response', `The answer exceeds ${this.maxResponseBytes} bytes`);
      if (whole) held.push(value);
      else yield* decoder.push(value);
    }
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
    if (this.opts.apiKey !== null && this.opts.apiKey !== '') headers.authorization = `Bearer ${this.opts.apiKey}`;
    return headers;
  }

  private body(req: LlmRequest): string {
    return JSON.stringify({
      model: req.model,
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
      messages: req.messages.map(toWireMessage),
      ...(req.tools.length > 0 ? { tools: req.tools.map(toWireTool) } : {}),
      stream: true,
    });
  }

  /** A non-2xx answer as a `ProviderError`, with the service's message when it sent JSON. */
  private async httpError(res: Response): Promise<ProviderError> {
    const { text } = await readCapped(res, MAX_ERROR_BODY_BYTES);
    const detail = this.scrub(serviceMessage(text) ?? (res.statusText || 'no detail'));
    const message = `HTTP ${res.status}: ${detail}`;
    return new ProviderError(this.name, httpErrorCode(res.status), message, res.status);
  }

  /** What a rejected fetch or read means, given why (if at all) we cut the request. */
  private failure(err: unknown, cut: Cut | null): ProviderError {
    if (err instanceof ProviderError) return err;
    if (cut?.kind === 'timeout') return new ProviderError(this.name, 'timeout', cut.message);
    const e = err as { message?: string; cause?: { code?: string; message?: string } };
    const code = e.cause?.code;
    const reason = code ? `${code}${e.cause?.message ? ` (${e.cause.message})` : ''}` : (e.cause?.message ?? e.message ?? String(err));
    return new ProviderError(this.name, 'network', `Request failed: ${this.scrub(reason)}`);
  }

  /** Text quoted from the service, without the key and within bounds. */
  private scrub(text: string): string {
    const key = this.opts.apiKey;
    const clean = key ? text.split(key).join('[redacted]') : text;
    return clean.length > MAX_QUOTED_CHARS ? `${clean.slice(0, MAX_QUOTED_CHARS)}…` : clean;
  }
}

/** Our message as the API's: tool calls as `function` calls, tool results by `tool_call_id`. */
function toWireMessage(m: LlmMessage): Record<string, unknown> {
  switch (m.role) {
    case 'assistant':
      return {
        role: 'assistant',
        content: m.content,
        ...(m.toolCalls && m.toolCalls.length > 0
          ? { tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) }
          : {}),
      };
    case 'tool':
      return { role: 'tool', tool_call_id: m.toolCallId, content: m.content };
    default:
      return { role: m.role, content: m.content };
  }
}

function toWireTool(t: LlmTool): Record<string, unknown> {
  return { type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } };
}

/** `error.message` (OpenAI, vLLM) or `error` as text (Ollama) of a JSON error body. */
function serviceMessage(text: string): string | null {
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    if (typeof body.error === 'string') return body.error;
    if (typeof body.error === 'object' && body.error !== null) {
      const m = (body.error as { message?: unknown }).message;
      if (typeof m === 'string') return m;
    }
    if (typeof body.message === 'string') return body.message;
  } catch {
    // Not JSON: the status text says enough.
  }
  return null;
}

