/**
 * What the agent runtime asks of speech and language providers. Every provider speaks the
 * runtime's one audio format, 16-bit linear PCM, mono, 8 kHz (G.711's rate): a provider that
 * works at another rate converts at its edge. Providers never throw for their service's trouble
 * in a way that could end a call: failures are `ProviderError`s, which the runtime turns into a
 * spoken fallback and an error-log entry. Secrets reach a provider through its constructor only
 * and are never logged.
 */
import type { JsonSchema } from '../json-schema.js';

/** Why a provider failed, stable codes for the error log. */
export type ProviderErrorCode = 'timeout' | 'auth' | 'rate_limited' | 'http_error' | 'bad_response' | 'network' | 'unavailable';

export class ProviderError extends Error {
  constructor(
    readonly provider: string,
    readonly code: ProviderErrorCode,
    message: string,
    /** The HTTP status when there was one. */
    readonly status?: number,
  ) {
    super(`${provider}: ${message}`);
    this.name = 'ProviderError';
  }
}

/** The code of a provider's HTTP error status: refused credentials, a rate limit, or any other. */
export function httpErrorCode(status: number): Extract<ProviderErrorCode, 'auth' | 'rate_limited' | 'http_error'> {
  if (status === 401 || status === 403) return 'auth';
  return status === 429 ? 'rate_limited' : 'http_error';
}

/** Where and how to reach a provider: the tenant's credential for it (write-only in the API). */
export interface ProviderCredential {
  apiKey: string | null;
  /** The service's base URL; null = the provider's public default. Tests point it at loopback. */
  baseUrl: string | null;
}

// --- Text to speech ---------------------------------------------------------------------------

export interface TtsRequest {
  text: string;
  voiceId: string;
  language?: string;
  /** Aborted when the speech is no longer wanted (barge-in, call ended): stop and release. */
  signal: AbortSignal;
}

export interface TtsProvider {
  readonly name: string;
  /**
   * Speech for `text` as 8 kHz PCM chunks of any length, yielded as they are synthesised (the
   * first chunk as early as the service allows). Throws `ProviderError` on failure; ends quietly
   * when `signal` aborts.
   */
  synthesize(req: TtsRequest): AsyncIterable<Int16Array>;
}

// --- Speech to text ---------------------------------------------------------------------------

export interface SttOptions {
  language?: string;
  model?: string;
  /** Words and phrases likely on this call (keywords / prompt). */
  hints?: string[];
  /** Silence after speech that ends an utterance. */
  endSilenceMs?: number;
  /** Aborted when listening stops: close the connection. */
  signal: AbortSignal;
}

export interface SttTranscript {
  text: string;
  /** A final transcript of a stretch of speech; partials may be revised. */
  final: boolean;
  /** The caller finished the utterance (end of turn), on a final. */
  endOfTurn: boolean;
}

/** One open recognition: push the caller's audio in, transcripts come out. */
export interface SttStream {
  /** 8 kHz PCM, normally one 20 ms frame (160 samples) at a time. */
  push(pcm: Int16Array): void;
  /** Registers the one transcript listener. */
  onTranscript(fn: (t: SttTranscript) => void): void;
  /** Registers the one error listener: the stream is unusable after it fires. */
  onError(fn: (err: ProviderError) => void): void;
  close(): void;
}

export interface SttProvider {
  readonly name: string;
  open(opts: SttOptions): SttStream;
}

// --- Language model ---------------------------------------------------------------------------

export interface LlmToolCall {
  id: string;
  name: string;
  /** The arguments as the model wrote them (JSON text, possibly invalid). */
  arguments: string;
}

export type LlmMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string | null; toolCalls?: LlmToolCall[] }
  | { role: 'tool'; toolCallId: string; content: string };

export interface LlmTool {
  name: string;
  description: string;
  parameters: JsonSchema;
}

export interface LlmRequest {
  model: string;
  temperature?: number;
  messages: LlmMessage[];
  tools: LlmTool[];
  signal: AbortSignal;
}

/** What a streamed completion yields: text as it comes, each tool call once complete, then done. */
export type LlmChunk =
  | { type: 'text'; text: string }
  | { type: 'tool_call'; call: LlmToolCall }
  | { type: 'done'; finishReason: string };

export interface LlmProvider {
  readonly name: string;
  /** Streams one completion. Throws `ProviderError`; ends quietly when `signal` aborts. */
  chat(req: LlmRequest): AsyncIterable<LlmChunk>;
}
