/**
 * The conversation of one call with its language model: the message history, and the turn loop
 * the agent runtime drives. A turn sends the history (and the caller's words), speaks each
 * sentence as soon as the stream completes it, runs the tool calls the model makes (in order),
 * gives it their results and asks again, until the model answers without tools, or
 * `maxToolRounds` rounds of tools have run (the last request then offers no tools, so the model
 * must answer).
 *
 * Barge-in: aborting the turn's signal stops the stream. The history keeps only what was handed
 * to `speak` (what the caller heard), followed by `INTERRUPTED_MARK`, so the model knows where
 * it was cut off. Tool calls already made get their results; the rest are marked cancelled (the
 * API refuses a tool call without a result).
 *
 * Failures of the model are `ProviderError`s and propagate (the runtime speaks a fallback); the
 * history keeps what was spoken. Turns run one at a time: a turn started while another runs waits
 * for it (after a barge-in, the aborted turn settles first).
 */
import { ProviderError, type LlmMessage, type LlmProvider, type LlmTool, type LlmToolCall } from '../providers/contracts.js';
import { SentenceChunker } from './sentences.js';

export interface ConversationOptions {
  llm: LlmProvider;
  model: string;
  temperature?: number;
  /** The agent's instructions: always the first message. */
  system: string;
  tools: LlmTool[];
  /** Rounds of tool calls in one turn before the model must answer. */
  maxToolRounds?: number;
  /** Messages kept besides the system prompt; older ones are dropped first. */
  maxHistoryMessages?: number;
  /** A longer tool result is cut (it goes into every later prompt). */
  maxToolResultChars?: number;
}

export interface TurnHooks {
  /** Called with each sentence as soon as it is complete. */
  speak(sentence: string): void;
  /** Runs a tool call with valid JSON object arguments; resolves to the result text for the model. */
  runTool(call: LlmToolCall): Promise<string>;
  /** Aborted on barge-in or hang-up. */
  signal: AbortSignal;
}

export interface TurnResult {
  /** What the agent said in this turn (only what was spoken, when interrupted). */
  text: string;
  /** Tool calls run. */
  toolCalls: number;
  /** From the start of the turn to the first text from the model; null when there was none. */
  firstTokenMs: number | null;
  /** The model's last finish reason, or `interrupted`. */
  finishReason: string;
}

/** Appended to what the caller heard of an interrupted answer. */
export const INTERRUPTED_MARK = '… [interrupted by the caller]';

/** A tool result for a call that was not run because the caller interrupted. */
const CANCELLED_RESULT = JSON.stringify({ error: 'Not run: the caller interrupted.' });

/** Five rounds cover lookup-then-act chains; more is usually a model going in circles. */
const DEFAULT_MAX_TOOL_ROUNDS = 5;
/** About 25 exchanges: enough context for a phone call, bounded for a long one. */
const DEFAULT_MAX_HISTORY_MESSAGES = 50;
/** About 2,000 tokens. */
const DEFAULT_MAX_TOOL_RESULT_CHARS = 8000;

/** What one request to the model produced. */
interface Round {
  /** All text the model produced (what was spoken, when interrupted). */
  text: string;
  calls: LlmToolCall[];
  /** null when the stream was interrupted. */
  finishReason: string | null;
}

export class Conversation {
  private readonly history: LlmMessage[] = [];
  private readonly maxToolRounds: number;
  private readonly maxHistory: number;
  private readonly maxToolResultChars: number;
  private readonly toolNames: Set<string>;
  /** The turn in progress (settled): the next one starts after it. */
  private running: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: ConversationOptions) {
    this.maxToolRounds = opts.maxToolRounds ?? DEFAULT_MAX_TOOL_ROUNDS;
    this.maxHistory = Math.max(1, opts.maxHistoryMessages ?? DEFAULT_MAX_HISTORY_MESSAGES);
    this.maxToolResultChars = opts.maxToolResultChars ?? DEFAULT_MAX_TOOL_RESULT_CHARS;
    this.toolNames = new Set(opts.tools.map((t) => t.name));
  }

  /** The messages the next request would send: the system prompt, then the kept history. */
  get messages(): LlmMessage[] {
    return [{ role: 'system', content: this.opts.system }, ...this.history];
  }

  /** One turn: the caller's words (null for the agent's opening), then the agent's answer. */
  turn(userText: string | null, hooks: TurnHooks): Promise<TurnResult> {
    const run = this.running.then(() => this.run(userText, hooks));
    this.running = run.catch(() => undefined);
    return run;
  }

  private async run(userText: string | null, hooks: TurnHooks): Promise<TurnResult> {
    const started = performance.now();
    const result: TurnResult = { text: '', toolCalls: 0, firstTokenMs: null, finishReason: 'interrupted' };
    const said: string[] = [];
    const onText = () => (result.firstTokenMs ??= Math.round(performance.now() - started));
    if (userText !== null) this.push({ role: 'user', content: userText });
    for (let round = 0; !hooks.signal.aborted; round++) {
      const toolsAllowed = round < this.maxToolRounds;
      const r = await this.ask(toolsAllowed ? this.opts.tools : [], hooks, onText);
      if (r.text !== '') said.push(r.text);
      if (r.finishReason === null) break;
      result.finishReason = r.finishReason;
      // A model that calls tools when none were offered is answered by its text alone.
      if (!toolsAllowed || r.calls.length === 0) {
        this.push({ role: 'assistant', content: r.text });
        break;
      }
      this.push({ role: 'assistant', content: r.text === '' ? null : r.text, toolCalls: r.calls });
      result.toolCalls += await this.runTools(r.calls, hooks);
    }
    if (hooks.signal.aborted) result.finishReason = 'interrupted';
    result.text = said.join(' ');
    return result;
  }

  /**
   * One request: streams the answer, speaking each sentence as it completes. Interrupted, it
   * records what was spoken with the mark; failed, what was spoken, then rethrows.
   */
  private async ask(tools: LlmTool[], hooks: TurnHooks, onText: () => void): Promise<Round> {
    const chunker = new SentenceChunker();
    const spoken: string[] = [];
    // A throwing `speak` is the runtime's own error: it propagates as it is, not as the model's.
    let speakFailed = false;
    const speak = (s: string) => {
      spoken.push(s);
      try {
        hooks.speak(s);
      } catch (err) {
        speakFailed = true;
        throw err;
      }
    };
    let text = '';
    const calls: LlmToolCall[] = [];
    let finishReason: string | null = null;
    const req = { model: this.opts.model, temperature: this.opts.temperature, messages: this.messages, tools, signal: hooks.signal };
    try {
      for await (const chunk of this.opts.llm.chat(req)) {
        if (hooks.signal.aborted) break;
        if (chunk.type === 'text') {
          onText();
          text += chunk.text;
          chunker.push(chunk.text).forEach(speak);
        } else if (chunk.type === 'tool_call') calls.push(chunk.call);
        else finishReason = chunk.finishReason;
      }
    } catch (err) {
      if (spoken.length > 0) this.push({ role: 'assistant', content: spoken.join(' ') });
      if (err instanceof ProviderError || speakFailed) throw err;
      throw new ProviderError(this.opts.llm.name, 'bad_response', (err as Error)?.message ?? String(err));
    }
    if (hooks.signal.aborted) {
      if (spoken.length > 0) this.push({ role: 'assistant', content: spoken.join(' ') + INTERRUPTED_MARK });
      return { text: spoken.join(' '), calls: [], finishReason: null };
    }
    if (finishReason === null) {
      if (spoken.length > 0) this.push({ role: 'assistant', content: spoken.join(' ') });
      throw new ProviderError(this.opts.llm.name, 'bad_response', 'The answer ended without finishing');
    }
    const rest = chunker.flush();
    if (rest !== null) speak(rest);
    return { text: text.trim(), calls, finishReason };
  }

  /** Runs the calls in order and records each result; returns how many were handed to `runTool`. */
  private async runTools(calls: LlmToolCall[], hooks: TurnHooks): Promise<number> {
    let ran = 0;
    for (const call of calls) {
      let result = { content: CANCELLED_RESULT, ran: false };
      if (!hooks.signal.aborted) result = await this.toolResult(call, hooks);
      if (result.ran) ran++;
      this.push({ role: 'tool', toolCallId: call.id, content: result.content });
    }
    return ran;
  }

  /** The result text for one call: the tool's, or an error the model can act on (not run). */
  private async toolResult(call: LlmToolCall, hooks: TurnHooks): Promise<{ content: string; ran: boolean }> {
    const refused = (error: string) => ({ content: JSON.stringify({ error }), ran: false });
    if (!this.toolNames.has(call.name)) return refused(`There is no tool named "${call.name}".`);
    // No arguments at all is `{}` (some servers send an empty string for a tool without parameters).
    const raw = call.arguments.trim() === '' ? '{}' : call.arguments;
    let args: unknown;
    try {
      args = JSON.parse(raw);
    } catch (err) {
      return refused(`The arguments are not valid JSON (${(err as Error).message}). Call the tool again with a JSON object.`);
    }
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      return refused('The arguments must be a JSON object. Call the tool again with a JSON object.');
    }
    let content: string;
    try {
      content = await hooks.runTool({ ...call, arguments: raw });
    } catch (err) {
      content = JSON.stringify({ error: `The tool failed: ${(err as Error)?.message ?? String(err)}` });
    }
    if (content.length > this.maxToolResultChars) content = `${content.slice(0, this.maxToolResultChars)}… [truncated]`;
    return { content, ran: true };
  }

  /** Appends a message, dropping the oldest beyond the bound (never leaving a tool result first). */
  private push(message: LlmMessage): void {
    this.history.push(message);
    if (this.history.length <= this.maxHistory) return;
    let drop = this.history.length - this.maxHistory;
    while (drop < this.history.length - 1 && this.history[drop]!.role === 'tool') drop++;
    this.history.splice(0, drop);
  }
}
