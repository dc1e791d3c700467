/**
 * Turns the events of an OpenAI-compatible chat completion stream (`chat.completion.chunk`
 * objects, then `[DONE]`) into the runtime's `LlmChunk`s: text deltas at once, each tool call
 * once its choice finishes (tool call deltas arrive by `index`: id, type and name first, the
 * arguments in pieces), then `done`.
 *
 * Only choice 0 is read (the runtime never asks for n > 1). Anything not shaped like a chunk is
 * a `ProviderError('bad_response')`; an `error` object in the stream (OpenAI and vLLM send one
 * when generation fails mid-stream) is an `http_error` carrying the service's message.
 */
import { ProviderError, type LlmChunk, type LlmToolCall } from '../contracts.js';

/** A tool call being assembled from its deltas. */
interface PartialCall {
  id: string;
  name: string;
  arguments: string;
}

/** Where the stream is: reading deltas, finished (finish_reason seen), or past `[DONE]`. */
type StreamState = 'streaming' | 'finished' | 'done';

const DONE = '[DONE]';

export class ChatStreamReader {
  private state: StreamState = 'streaming';
  private finishReason: string | null = null;
  /** Tool calls by their `index`, in the order they were opened. */
  private readonly calls = new Map<number, PartialCall>();
  private lastIndex = -1;

  constructor(
    private readonly provider: string,
    /** Cuts messages quoted from the service (which could echo a secret). */
    private readonly scrub: (text: string) => string,
  ) {}

  get isDone(): boolean {
    return this.state === 'done';
  }

  /** Whether anything was received that can end the stream well (a finish or `[DONE]`). */
  get canEnd(): boolean {
    return this.state !== 'streaming';
  }

  /** One event's data; returns the chunks it produces. */
  read(data: string): LlmChunk[] {
    if (this.state === 'done') return [];
    if (data === DONE || (data.length < 16 && data.trim() === DONE)) return this.end();
    let chunk: unknown;
    try {
      chunk = JSON.parse(data);
    } catch {
      throw new ProviderError(this.provider, 'bad_response', `A stream event is not JSON: ${this.scrub(data.slice(0, 80))}`);
    }
    if (!isObject(chunk)) throw new ProviderError(this.provider, 'bad_response', 'A stream event is not a JSON object');
    if (isObject(chunk.error)) {
      const message = typeof chunk.error.message === 'string' ? chunk.error.message : 'unknown error';
      throw new ProviderError(this.provider, 'http_error', `The service failed mid-stream: ${this.scrub(message)}`);
    }
    const choices = chunk.choices;
    // A usage-only chunk (stream_options.include_usage) has no choices.
    if (choices === undefined || (Array.isArray(choices) && choices.length === 0)) return [];
    if (!Array.isArray(choices)) throw new ProviderError(this.provider, 'bad_response', '"choices" is not an array');
    const choice: unknown = choices.find((c) => isObject(c) && (c.index ?? 0) === 0);
    if (choice === undefined) return [];
    if (!isObject(choice)) throw new ProviderError(this.provider, 'bad_response', 'A choice is not an object');
    return this.readChoice(choice);
  }

  /**
   * The stream ended (`[DONE]`, or the connection closed after a finish): pending tool calls,
   * then `done`. A `[DONE]` without a finish_reason (some local servers) still ends well.
   */
  end(): LlmChunk[] {
    if (this.state === 'done') return [];
    const out: LlmChunk[] = this.state === 'streaming' ? this.completedCalls() : [];
    const reason = this.finishReason ?? (out.length > 0 ? 'tool_calls' : 'stop');
    this.state = 'done';
    out.push({ type: 'done', finishReason: reason });
    return out;
  }

  private readChoice(choice: Record<string, unknown>): LlmChunk[] {
    const out: LlmChunk[] = [];
    const delta = choice.delta ?? choice.message;
    if (delta !== undefined && delta !== null) {
      if (!isObject(delta)) throw new ProviderError(this.provider, 'bad_response', '"delta" is not an object');
      if (typeof delta.content === 'string' && delta.content !== '') out.push({ type: 'text', text: delta.content });
      if (Array.isArray(delta.tool_calls)) for (const tc of delta.tool_calls) this.addToolDelta(tc);
    }
    const finish = choice.finish_reason;
    if (typeof finish === 'string' && finish !== '' && this.state === 'streaming') {
      this.finishReason = finish;
      this.state = 'finished';
      out.push(...this.completedCalls());
    }
    return out;
  }

  private addToolDelta(tc: unknown): void {
    if (!isObject(tc)) throw new ProviderError(this.provider, 'bad_response', 'A tool call delta is not an object');
    const fn = isObject(tc.function) ? tc.function : {};
    const id = typeof tc.id === 'string' && tc.id !== '' ? tc.id : null;
    // Servers without `index` (some Ollama versions send each call whole): a new id opens a call.
    let index: number;
    if (typeof tc.index === 'number' && Number.isInteger(tc.index)) index = tc.index;
    else if (id !== null && ![...this.calls.values()].some((c) => c.id === id)) index = this.lastIndex + 1;
    else index = Math.max(this.lastIndex, 0);
    let call = this.calls.get(index);
    if (!call) {
      call = { id: '', name: '', arguments: '' };
      this.calls.set(index, call);
    }
    this.lastIndex = Math.max(this.lastIndex, index);
    if (id !== null) call.id = id;
    // The name comes whole in the first delta; a server repeating it in later deltas is tolerated.
    if (typeof fn.name === 'string' && fn.name !== call.name) call.name += fn.name;
    if (typeof fn.arguments === 'string') call.arguments += fn.arguments;
    else if (fn.arguments !== undefined && fn.arguments !== null) call.arguments += JSON.stringify(fn.arguments);
  }

  /** The assembled calls in index order, each with an id (made up when the server sent none). */
  private completedCalls(): LlmChunk[] {
    const indexes = [...this.calls.keys()].sort((a, b) => a - b);
    const out = indexes.map((i): LlmChunk => {
      const c = this.calls.get(i)!;
      const call: LlmToolCall = { id: c.id || `call_${i}`, name: c.name, arguments: c.arguments };
      return { type: 'tool_call', call };
    });
    this.calls.clear();
    return out;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
