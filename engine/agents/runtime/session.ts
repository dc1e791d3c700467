/**
 * The agent on one answered call: it speaks (TTS through the leg's paced audio), listens (DTMF,
 * and speech through VAD and STT when the agent has a transcriber), runs its workflow or a plain
 * LLM conversation, calls tools, and hangs up or transfers. Every step is an event on the call's
 * timeline and a line of its transcript; the path taken and per-turn latencies go into the call's
 * metrics when it ends.
 *
 * Failures of providers and tools are the caller's problem only as a spoken fallback: an error
 * log entry and a `call.error` event record them, and the call goes on. A defect (an exception
 * escaping the program) ends the call as `engine_error`, never leaves it live and silent.
 */
import type { Logger } from '../../../config/logger.js';
import type { LegAudio } from '../../../media/audio/leg-audio.js';
import type { TranscriptEntry } from '../../calls/call-record.js';
import { CallActionRefused, type Call, type CallActions } from '../../calls/call.js';
import { reportRfc4733 } from '../../calls/dtmf-in.js';
import type { EventLog } from '../../events/event-log.js';
import type { EventData, EventType } from '../../events/schemas.js';
import type { errorKinds } from '../../store/repositories/error-logs.js';

type ErrorKind = (typeof errorKinds)[number];
import type { Tool } from '../../store/repositories/tools.js';
import type { Store } from '../../store/store.js';
import type { AgentConfig } from '../agent-config.js';
import type { LlmProvider, LlmTool, LlmToolCall, SttProvider, SttStream, TtsProvider } from '../providers/contracts.js';
import { ProviderError } from '../providers/contracts.js';
import type { WorkflowGraph, WorkflowNode } from '../workflow-graph.js';
import { Inbox } from './inbox.js';
import { Speaker, type Spoken } from './speaker.js';
import { runTool, type ToolOutcome } from './tools.js';
import { initialVars, render, type CallFacts, type Vars } from './variables.js';
import { runWorkflow, type WorkflowHost } from './workflow.js';

/** What the agent's config leaves out. */
export const runtimeDefaults = {
  silenceMs: 10_000,
  maxDurationMs: 3_600_000,
  interDigitTimeoutMs: 3000,
  voice: { provider: 'flite', voiceId: 'kal' },
  /** Said when a tool, the LLM or the voice failed. */
  fallbackText: 'Sorry, something went wrong on my side.',
  stillThereText: 'Are you still there?',
} as const;

/** Voice activity as the session needs it (a `VoiceActivity` from media/audio/vad.ts). */
export interface VadLike {
  push(frame: Int16Array): 'speech_start' | 'speech_end' | null;
  /** Whether the last frame pushed was above the detector's level gate (-50 dBFS). */
  readonly loud: boolean;
  /** Whether the last frames were voiced but not yet enough of them for `speech_start`. */
  readonly onset: boolean;
  close(): void;
}

/** One LLM conversation (engine/agents/llm/conversation.ts). */
export interface ConversationLike {
  turn(
    userText: string | null,
    hooks: { speak(sentence: string): void; runTool(call: LlmToolCall): Promise<string>; signal: AbortSignal },
  ): Promise<{ text: string; toolCalls: number; firstTokenMs: number | null; finishReason: string }>;
  /** Records what the agent said outside the model (its greeting). */
  said(text: string): void;
}

/** The providers of one call, resolved from its tenant's credentials. */
export interface AgentProviders {
  /** The agent's voice (the offline default when it names none). Throws `ProviderError` when it cannot be had. */
  tts(voice: AgentConfig['voice']): TtsProvider;
  /** The offline voice, for when the agent's own voice fails. */
  readonly fallbackTts: TtsProvider;
  stt(transcriber: AgentConfig['transcriber']): SttProvider | null;
  llm(llm: AgentConfig['llm']): LlmProvider | null;
  conversation(o: { llm: LlmProvider; model: string; temperature?: number; system: string; tools: LlmTool[] }): ConversationLike;
  /** A voice activity detector for the caller's audio, or null when none is available. */
  vad(): Promise<VadLike | null>;
}

export interface SessionDeps {
  store: Store;
  events: EventLog;
  providers: AgentProviders;
  /** DTMF to the caller (RFC 4733 on the agent's stream, or SIP INFO). */
  sendDtmf?: (call: Call, digits: string, audio: LegAudio) => Promise<void>;
  /** Blind transfer; true when the call was handed over. */
  transfer?: (call: Call, target: string) => Promise<boolean>;
  /** The samples of stored audio files (8 kHz mono), null when the file is gone. */
  audioFiles?: { samples(id: string): Promise<Int16Array | null> };
}

/** What the call runs, settled when it starts. */
export interface AgentPlan {
  config: AgentConfig;
  /** The workflow version the call started with. */
  workflow: { id: string; version: number; graph: WorkflowGraph } | null;
  /** The tools the agent and its workflow may use, by id. */
  tools: Map<string, Tool>;
  /** The audio files the workflow's play nodes name, by id (those that still exist when the call starts). */
  audioFiles: Map<string, { name: string }>;
  facts: CallFacts;
}

/** Per-turn latency, ms from the end of the caller's speech (VAD) or the final transcript. */
type TurnMetrics = {
  sttFinalMs: number | null;
  llmFirstTokenMs: number | null;
  ttsFirstAudioMs: number | null;
  /** The first frame handed to the pacer, which sends at once when idle: the first RTP packet. */
  firstAudioOutMs: number | null;
};

type GatherNode = Extract<WorkflowNode, { kind: 'gather' }>;
type LlmNode = Extract<WorkflowNode, { kind: 'llm' }>;

/** A tool result handed to the model is cut at this many characters. */
const MAX_TOOL_RESULT_CHARS = 16_000;
/** Partial transcripts become events at most this often. */
const PARTIAL_EVENT_MS = 500;
/**
 * The longest the agent's audio is held on the caller's first voiced frame: the detector decides
 * on the next frame (20 ms), so this covers two late ones; the thread ends the hold itself then.
 */
const ONSET_HOLD_MS = 60;

export class AgentSession implements WorkflowHost {
  readonly vars: Vars;
  readonly path: string[] = [];
  readonly turns: TurnMetrics[] = [];
  readonly #dtmf = new Inbox<string>();
  readonly #utterances = new Inbox<{ text: string; at: number }>();
  readonly #speaker: Speaker;
  readonly #fallbackSpeaker: Speaker;
  readonly #bargeIn: boolean;
  #stt: SttStream | null = null;
  #vad: VadLike | null = null;
  /** Whether the caller is speaking now (VAD), and when their voice was last heard starting or ending. */
  #speaking = false;
  /** Whether the agent's audio is held on the caller's first voiced frame (`#onset`). */
  #held = false;
  #lastVoiceAt: number | null = null;
  /** The last frame with sound in it while the caller spoke: when they stopped, for turn latency. */
  #lastSoundAt: number | null = null;
  #lastPartialAt = 0;
  /** Aborts the LLM turn in progress (barge-in). */
  #turnAbort: AbortController | null = null;
  #gathering = false;
  readonly #tools: Map<string, Tool>;
  readonly #program = new AbortController();
  /** Whether a transfer runs or has handed the call over (`handoverMoves`). */
  #handover: Handover = { state: 'none' };

  private constructor(
    private readonly deps: SessionDeps,
    private readonly call: Call,
    private readonly audio: LegAudio,
    private readonly plan: AgentPlan,
    private readonly log: Logger,
  ) {
    const { config } = plan;
    this.vars = initialVars(plan.facts, config.variables);
    this.#bargeIn = config.bargeIn ?? true;
    call.signal.addEventListener('abort', () => this.#program.abort(call.signal.reason), { once: true });
    this.#tools = plan.tools;
    const voice = config.voice ?? runtimeDefaults.voice;
    let tts: TtsProvider;
    try {
      tts = deps.providers.tts(config.voice);
    } catch (err) {
      this.#providerFailed('tts', err);
      tts = deps.providers.fallbackTts;
    }
    const lang = config.language;
    this.#speaker = new Speaker(audio, tts, { voiceId: voice.voiceId, ...(lang ? { language: lang } : {}) }, call.signal, log);
    this.#fallbackSpeaker = new Speaker(audio, deps.providers.fallbackTts, { voiceId: runtimeDefaults.voice.voiceId }, call.signal, log);
  }

  /** Aborted when the call ends, or when the call was handed over (transferred or bridged): the program stops. */
  get signal(): AbortSignal {
    return this.#program.signal;
  }

  /**
   * Opens the leg's audio, wires the caller's DTMF, voice activity and speech to the agent, and
   * runs the agent's program in the background. Resolves once the program has started.
   */
  static async start(deps: SessionDeps, call: Call, plan: AgentPlan, audio: LegAudio): Promise<AgentSession> {
    const s = new AgentSession(deps, call, audio, plan, call.log.child({ component: 'agent' }));
    call.onDispose(() => s.#close());
    await s.#listen();
    call.actions = s.#actions();
    const maxMs = plan.config.timeouts?.maxDurationMs ?? runtimeDefaults.maxDurationMs;
    call.timer(maxMs, () => call.end({ reason: 'max_duration', hangupBy: 'system' }));
    void s.#run();
    return s;
  }

  // --- The program ------------------------------------------------------------------------------

  async #run(): Promise<void> {
    try {
      const { config, workflow } = this.plan;
      if (workflow) {
        await runWorkflow(workflow.graph, this);
        return;
      }
      const greeting = config.firstMessage ? render(config.firstMessage, this.vars) : null;
      if (greeting) await this.say(greeting, true);
      const llm = this.#llm();
      if (llm) await this.#conversation(llm, null, { maxTurns: Infinity, exitWhen: null, opening: false, greeting });
      // Greeting only: the call stays up until the caller hangs up or the maximum duration.
    } catch (err) {
      if (this.signal.aborted) return;
      this.log.error({ err }, 'agent program failed');
      this.#recordError('internal', 'agent_failed', (err as Error).message);
      this.call.hangup('engine_error');
    }
  }

  /** The LLM of the agent, or null (with a logged fault when the agent names one that cannot be had). */
  #llm(): LlmProvider | null {
    if (!this.plan.config.llm) return null;
    try {
      return this.deps.providers.llm(this.plan.config.llm);
    } catch (err) {
      this.#providerFailed('llm', err);
      return null;
    }
  }

  /**
   * A conversation with the LLM: listen, answer, until the caller hangs up, `maxTurns` answers,
   * the model calls the exit tool, or the caller stays silent twice.
   */
  async #conversation(
    llm: LlmProvider,
    nodePrompt: string | null,
    o: { maxTurns: number; exitWhen: string | null; opening: boolean; greeting?: string | null },
  ): Promise<void> {
    const { config } = this.plan;
    const exitTool = o.exitWhen ? { name: 'end_step', description: `Call this when: ${o.exitWhen}`, parameters: { type: 'object' as const, properties: {} } } : null;
    const tools: LlmTool[] = (config.toolIds ?? []).flatMap((id) => {
      const t = this.#tools.get(id);
      return t ? [{ name: t.name, description: t.description, parameters: t.parameters }] : [];
    });
    if (exitTool) tools.push(exitTool);
    const system = [render(config.prompt.system, this.vars), nodePrompt ? render(nodePrompt, this.vars) : null].filter(Boolean).join('\n\n');
    const conv = this.deps.providers.conversation({
      llm,
      model: config.llm!.model,
      ...(config.llm!.temperature !== undefined ? { temperature: config.llm!.temperature } : {}),
      system,
      tools,
    });
    if (o.greeting) conv.said(o.greeting);
    let exited = false;
    let silences = 0;
    let userText: string | null = null;
    let heardAt: number | null = null;
    let turnsLeft = o.maxTurns;
    let first = o.opening;
    while (!this.signal.aborted && !exited && turnsLeft > 0) {
      if (!first) {
        const heard = await this.#hear(config.timeouts?.silenceMs ?? runtimeDefaults.silenceMs);
        if (this.signal.aborted) return;
        if (!heard) {
          if (++silences >= 2) return void (await this.hangup('caller silent'));
          await this.say(runtimeDefaults.stillThereText, true);
          continue;
        }
        silences = 0;
        userText = heard.text;
        heardAt = heard.at;
      }
      first = false;
      turnsLeft--;
      exited = await this.#llmTurn(conv, userText, heardAt, exitTool?.name ?? null);
    }
  }

  /** One answer of the model, spoken sentence by sentence. True when the model called the exit tool. */
  async #llmTurn(conv: ConversationLike, userText: string | null, heardAt: number | null, exitName: string | null): Promise<boolean> {
    const abort = new AbortController();
    const onEnd = () => abort.abort('call ended');
    this.signal.addEventListener('abort', onEnd, { once: true });
    this.#turnAbort = abort;
    const turnStart = heardAt ?? performance.now();
    // When the caller stopped: their last frame with sound (VAD ends only after its hangover).
    const speechEnd = this.#lastSoundAt !== null && this.#lastSoundAt <= turnStart ? this.#lastSoundAt : turnStart;
    const metrics: TurnMetrics = { sttFinalMs: heardAt !== null ? Math.round(heardAt - speechEnd) : null, llmFirstTokenMs: null, ttsFirstAudioMs: null, firstAudioOutMs: null };
    const spoken: Promise<Spoken>[] = [];
    let exited = false;
    const llmStart = performance.now();
    try {
      const r = await conv.turn(userText, {
        signal: abort.signal,
        speak: (sentence) => {
          if (abort.signal.aborted) return;
          const p = this.#speak(sentence, this.#bargeIn);
          if (spoken.length === 0) {
            const requested = performance.now();
            void p.then((sp) => {
              if (sp.kind === 'failed' || sp.firstAudioMs === null) return;
              const firstOut = sp.startedAt + sp.firstAudioMs;
              metrics.ttsFirstAudioMs = Math.round(firstOut - Math.max(requested, sp.startedAt));
              metrics.firstAudioOutMs = Math.round(firstOut - speechEnd);
            }, () => undefined); // a failed utterance is reported where it is awaited (Promise.all below)
          }
          spoken.push(p);
        },
        runTool: async (call) => {
          if (exitName && call.name === exitName) {
            exited = true;
            return JSON.stringify({ ok: true });
          }
          const tool = [...this.#tools.values()].find((t) => t.name === call.name && (this.plan.config.toolIds ?? []).includes(t.id));
          if (!tool) return JSON.stringify({ error: `unknown tool ${call.name}` });
          let args: unknown;
          try {
            args = JSON.parse(call.arguments || '{}');
          } catch {
            return JSON.stringify({ error: 'arguments were not valid JSON' });
          }
          const out = await this.#runTool(tool, args, false);
          const text = JSON.stringify(out.ok ? { ok: true, result: out.result } : { ok: false, error: out.error?.message ?? 'failed' });
          return text.length > MAX_TOOL_RESULT_CHARS ? text.slice(0, MAX_TOOL_RESULT_CHARS) : text;
        },
      });
      if (r.firstTokenMs !== null) metrics.llmFirstTokenMs = Math.round(llmStart + r.firstTokenMs - speechEnd);
    } catch (err) {
      if (!abort.signal.aborted) {
        this.#providerFailed('llm', err);
        await this.#speak(runtimeDefaults.fallbackText, true);
      }
    } finally {
      this.signal.removeEventListener('abort', onEnd);
      if (this.#turnAbort === abort) this.#turnAbort = null;
    }
    await Promise.all(spoken);
    if (userText !== null || metrics.firstAudioOutMs !== null) this.turns.push(metrics);
    return exited;
  }

  /**
   * The caller's next utterance (or keys, as text), or null after `timeoutMs` of silence. Time
   * the caller spends speaking is not silence: the wait starts again after their speech.
   */
  async #hear(timeoutMs: number): Promise<{ text: string; at: number } | null> {
    for (;;) {
      const since = performance.now();
      const got = await this.#hearOnce(timeoutMs);
      if (got || this.signal.aborted) return got;
      const spoke = this.#speaking || (this.#lastVoiceAt !== null && this.#lastVoiceAt > since);
      if (!spoke) return null;
    }
  }

  async #hearOnce(timeoutMs: number): Promise<{ text: string; at: number } | null> {
    const race = new AbortController();
    const stop = () => race.abort();
    this.signal.addEventListener('abort', stop, { once: true });
    try {
      const tries: Promise<{ text: string; at: number } | null>[] = [
        this.#collectDigits({ maxDigits: 32, interDigitTimeoutMs: runtimeDefaults.interDigitTimeoutMs, finishOnKey: '#' }, timeoutMs, race.signal).then((d) =>
          d === null ? null : { text: `(the caller pressed ${d})`, at: performance.now() },
        ),
      ];
      if (this.#stt) tries.push(this.#utterances.next(timeoutMs, race.signal));
      // The first to bring something wins; null only when all came back empty.
      return await Promise.any(tries.map((p) => p.then((v) => v ?? Promise.reject(new Error('empty'))))).catch(() => null);
    } finally {
      race.abort();
      this.signal.removeEventListener('abort', stop);
    }
  }

  // --- WorkflowHost -----------------------------------------------------------------------------

  enter(node: WorkflowNode): void {
    this.path.push(node.id);
    this.#event('call.workflow_step', { nodeId: node.id, kind: node.kind });
  }

  async say(text: string, interruptible: boolean): Promise<void> {
    await this.#speak(text, interruptible && this.#bargeIn);
  }

  async play(audioFileId: string, interruptible: boolean): Promise<void> {
    const meta = this.plan.audioFiles.get(audioFileId);
    let pcm: Int16Array | null = null;
    try {
      pcm = meta && this.deps.audioFiles ? await this.deps.audioFiles.samples(audioFileId) : null;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, audioFileId }, 'audio file not read');
    }
    if (!meta || !pcm) {
      this.fault('audio_file_missing', `audio file ${audioFileId} no longer exists`);
      return;
    }
    if (this.signal.aborted) return;
    const r = await this.#speaker.play(pcm, { interruptible: interruptible && this.#bargeIn });
    if (!this.signal.aborted) this.#note('agent', r.kind === 'interrupted' ? `[played ${meta.name}] [interrupted]` : `[played ${meta.name}]`);
  }

  async gather(node: GatherNode, prompt: string | null): Promise<string | null> {
    this.#dtmf.clear();
    this.#utterances.clear();
    const speech = node.speech && this.#stt;
    if (!node.dtmf && !speech) {
      this.fault('no_transcriber', `gather ${node.id} listens for speech, but the agent has no working transcriber`);
      return null;
    }
    this.#gathering = true;
    try {
      // A key pressed during the prompt cuts it (and counts as the first digit).
      if (prompt) await this.#speak(prompt, true);
      if (this.signal.aborted) return null;
      const race = new AbortController();
      const stop = () => race.abort();
      this.signal.addEventListener('abort', stop, { once: true });
      try {
        const tries: Promise<string | null>[] = [];
        if (node.dtmf) tries.push(this.#collectDigits(node.dtmf, node.timeoutMs, race.signal));
        if (speech) tries.push(this.#utterances.next(node.timeoutMs, race.signal).then((u) => u?.text ?? null));
        // The first to bring something wins; null only when all came back empty.
        const results = tries.map((p) => p.then((v) => (v === null ? Promise.reject(new Error('empty')) : v)));
        return await Promise.any(results).catch(() => null);
      } finally {
        race.abort();
        this.signal.removeEventListener('abort', stop);
      }
    } finally {
      this.#gathering = false;
    }
  }

  async converse(node: LlmNode): Promise<void> {
    const llm = this.#llm();
    if (!llm) {
      this.fault('no_llm', `node ${node.id} is an LLM step, but the agent has no working LLM`);
      return;
    }
    await this.#conversation(llm, node.prompt ?? null, { maxTurns: node.maxTurns ?? 20, exitWhen: node.exitWhen ?? null, opening: true });
  }

  async runTool(toolId: string, args: Record<string, unknown>): Promise<{ ok: boolean; result: unknown }> {
    const tool = this.#tools.get(toolId);
    if (!tool) {
      this.fault('tool_missing', `tool ${toolId} no longer exists`);
      await this.#speak(runtimeDefaults.fallbackText, true);
      return { ok: false, result: null };
    }
    const out = await this.#runTool(tool, args, true);
    return { ok: out.ok, result: out.result };
  }

  /**
   * A blind transfer. One at a time: while one runs, or once the call was handed over (transferred
   * or bridged), another is refused without a word to the caller (the running one speaks for
   * itself), and the REST/WebSocket action answers a conflict (`#handoverRefusal`).
   */
  async transfer(target: string): Promise<boolean> {
    if (!this.deps.transfer) {
      this.fault('transfer_unavailable', 'transfer is not available on this call');
      return false;
    }
    const refusal = this.#handoverRefusal();
    if (refusal) {
      this.call.log.info({ target, refusal }, 'transfer not started');
      return false;
    }
    this.#moveHandover({ state: 'transferring', target });
    let done = false;
    try {
      await this.#idle();
      done = await this.deps.transfer(this.call, target);
    } catch (err) {
      this.#recordError('internal', 'transfer_failed', (err as Error).message);
    }
    this.#note('system', done ? `transferred to ${target}` : `transfer to ${target} failed`);
    if (done) {
      this.#moveHandover({ state: 'handed_over', target });
      // The caller talks to the target now (or has left us): the agent stops listening and speaking.
      this.#program.abort('handed over');
      this.#interrupt(true);
      return true;
    }
    this.#moveHandover({ state: 'none' });
    if (!this.#program.signal.aborted) await this.#speak('Sorry, I could not transfer your call.', false);
    return false;
  }

  /** The agent's voice and keys no longer reach the caller once the call was handed over. */
  #refuseOnceHandedOver(): void {
    if (this.#handover.state === 'handed_over') throw new CallActionRefused(`the call was handed over to ${this.#handover.target}`);
  }

  #moveHandover(to: Handover): void {
    const from = this.#handover.state;
    if (!handoverMoves[from].includes(to.state)) {
      this.call.log.warn({ from, to: to.state }, 'illegal handover transition refused');
      return;
    }
    this.#handover = to;
  }

  /** Why the call cannot be acted on by the agent now, or null. */
  #handoverRefusal(): string | null {
    const h = this.#handover;
    if (h.state === 'transferring') return `a transfer to ${h.target} is under way`;
    if (h.state === 'handed_over') return `the call was handed over to ${h.target}`;
    return null;
  }

  async hangup(reason: string | null): Promise<void> {
    await this.#idle();
    if (reason) this.#note('system', `hangup: ${reason}`);
    this.call.end({ reason: 'agent_hangup', hangupBy: 'agent' });
  }

  fault(code: string, message: string): void {
    this.log.error({ code }, message);
    this.#recordError('internal', code, message);
  }

  // --- Speaking, tools, events --------------------------------------------------------------------

  /** Says `text`; a failed voice falls back to the offline one. Records it as said (or cut). */
  async #speak(text: string, interruptible: boolean): Promise<Spoken> {
    const clean = text.trim();
    if (!clean || this.signal.aborted) return { kind: 'interrupted', firstAudioMs: null, audioMs: 0, startedAt: performance.now() };
    let r = await this.#speaker.say(clean, { interruptible });
    if (r.kind === 'failed') {
      this.#providerFailed('tts', r.error);
      r = await this.#fallbackSpeaker.say(clean, { interruptible });
    }
    if (r.kind !== 'failed' && !this.signal.aborted) {
      const interrupted = r.kind === 'interrupted';
      this.#note('agent', interrupted ? `${clean} [interrupted]` : clean);
      this.#event('call.agent_said', { text: clean, ...(interrupted ? { interrupted } : {}) });
    }
    return r;
  }

  /** Waits until the agent has said what is queued. */
  async #idle(): Promise<void> {
    await this.#speaker.idle();
    await this.#fallbackSpeaker.idle();
  }

  async #runTool(tool: Tool, args: unknown, speakFallback: boolean): Promise<ToolOutcome> {
    this.#event('call.tool_called', { toolId: tool.id, name: tool.name, arguments: args });
    const out = await runTool(tool, args, {
      callId: this.call.id,
      signal: this.signal,
      host: {
        hangup: () => void this.hangup('by a tool'),
        endCall: (reason) => {
          this.#note('system', `ended by tool ${tool.name}: ${reason}`);
          this.call.end({ reason: 'agent_hangup', hangupBy: 'agent' });
        },
        sendDtmf: (digits) => this.#sendDtmf(digits),
        transfer: (target) => this.transfer(target),
      },
    });
    this.#event('call.tool_result', { toolId: tool.id, ok: out.ok, result: out.ok ? out.result : { error: out.error, status: out.status ?? null } });
    this.#note('tool', `${tool.name}: ${out.ok ? 'ok' : `failed (${out.error?.message ?? 'error'})`}`);
    if (!out.ok && !this.signal.aborted) {
      this.#recordError('tool', out.error?.code ?? 'failed', `tool ${tool.name} failed: ${out.error?.message ?? 'error'}`, { toolId: tool.id, status: out.status ?? null, attempts: out.attempts });
      if (speakFallback) await this.#speak(runtimeDefaults.fallbackText, true);
    }
    return out;
  }

  async #sendDtmf(digits: string): Promise<void> {
    if (!this.deps.sendDtmf) throw new CallActionRefused('sending DTMF is not available on this call');
    await this.deps.sendDtmf(this.call, digits, this.audio);
  }

  #note(role: TranscriptEntry['role'], text: string): void {
    this.call.transcript.push({ role, text, at: new Date().toISOString() });
  }

  #event<T extends EventType>(type: T, data: Omit<EventData<T>, 'callId' | 'agentId'>): void {
    if (this.call.signal.aborted && type !== 'call.error') return;
    const scope = { tenantId: this.call.identity.tenantId, mode: this.call.identity.mode, callId: this.call.id };
    try {
      this.deps.events.append(type, scope, { callId: this.call.id, agentId: this.call.identity.agentId, ...data } as EventData<T>);
    } catch (err) {
      this.log.error({ err, type }, 'event not recorded');
    }
  }

  #recordError(kind: ErrorKind, code: string, message: string, details: Record<string, unknown> = {}): void {
    const { tenantId, mode } = this.call.identity;
    try {
      this.deps.store.errorLogs.record({ tenantId, mode, kind, callId: this.call.id, code, message, details });
    } catch (err) {
      this.log.error({ err }, 'error log not recorded');
    }
    this.#event('call.error', { source: kind, code, message });
  }

  #providerFailed(what: 'tts' | 'stt' | 'llm', err: unknown): void {
    const e = err as Error;
    const code = err instanceof ProviderError ? err.code : 'failed';
    this.log.warn({ what, code, err: e.message }, 'provider failed');
    this.#recordError('provider', code, `${what}: ${e.message}`, { provider: err instanceof ProviderError ? err.provider : null, status: err instanceof ProviderError ? (err.status ?? null) : null });
  }

  // --- Listening ---------------------------------------------------------------------------------

  async #listen(): Promise<void> {
    const { config } = this.plan;
    // One DTMF stream: RFC 4733 from the leg's RTP and SIP INFO from the dialog, both as Call `dtmf`.
    reportRfc4733(this.call, this.audio);
    this.call.on('dtmf', (d) => this.#onDigit(d.digit, d.durationMs));
    let stt: SttProvider | null = null;
    try {
      stt = config.transcriber ? this.deps.providers.stt(config.transcriber) : null;
    } catch (err) {
      this.#providerFailed('stt', err);
    }
    if (stt) {
      // One recognition for the call: the hints of every speech gather of the workflow, up to 100.
      const hints = [...new Set((this.plan.workflow?.graph.nodes ?? []).flatMap((n) => (n.kind === 'gather' ? (n.speech?.hints ?? []) : [])))].slice(0, 100);
      try {
        const stream = stt.open({
          signal: this.signal,
          ...(config.transcriber?.language ?? config.language ? { language: config.transcriber?.language ?? config.language } : {}),
          ...(config.transcriber?.model ? { model: config.transcriber.model } : {}),
          ...(hints.length ? { hints } : {}),
        });
        stream.onTranscript((t) => this.#onTranscript(t.text, t.final, t.endOfTurn));
        stream.onError((err) => {
          this.#providerFailed('stt', err);
          this.#stt = null;
        });
        this.#stt = stream;
      } catch (err) {
        this.#providerFailed('stt', err);
      }
    }
    try {
      this.#vad = await this.deps.providers.vad();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'no voice activity detection');
    }
    this.audio.on('frame', (f) => {
      const v = this.#vad?.push(f.pcm);
      if ((this.#speaking || v === 'speech_start') && this.#vad?.loud) this.#lastSoundAt = performance.now();
      if (v === 'speech_start') this.#onSpeechStart();
      else if (v === 'speech_end') {
        this.#speaking = false;
        this.#lastVoiceAt = performance.now();
      }
      this.#onset(this.#vad?.onset ?? false);
      this.#stt?.push(f.pcm);
    });
  }

  /**
   * The caller's first voiced frame over the agent holds the agent's audio on the wire until the
   * detector decides, a frame or two later: a start cuts it (`#onSpeechStart`, after which the
   * release finds nothing queued), a frame that is not speech lets it go on. So barge-in stops the
   * agent one frame after the caller starts, and a click costs the caller's ear a 20-40 ms pause,
   * not the agent's sentence.
   */
  #onset(onset: boolean): void {
    if (onset === this.#held) return;
    if (!onset) {
      this.#held = false;
      this.#speaker.release();
      this.#fallbackSpeaker.release();
      return;
    }
    if (!this.#bargeIn) return;
    const own = this.#speaker.hold(ONSET_HOLD_MS);
    this.#held = this.#fallbackSpeaker.hold(ONSET_HOLD_MS) || own;
  }

  #onDigit(digit: string, durationMs: number | null): void {
    this.#event('call.dtmf', { digit, ...(durationMs !== null ? { durationMs } : {}) });
    this.#note('caller', `(pressed ${digit})`);
    // A key cuts a prompt the caller is answering (IVR type-ahead), or any speech with barge-in on.
    if (this.#gathering || this.#bargeIn) this.#interrupt(false);
    this.#dtmf.push(digit);
  }

  /** Cuts the agent short in both its voices (its own, and the offline fallback). */
  #interrupt(force: boolean): boolean {
    const own = this.#speaker.interrupt(force);
    return this.#fallbackSpeaker.interrupt(force) || own;
  }

  #onSpeechStart(): void {
    this.#speaking = true;
    this.#lastVoiceAt = performance.now();
    if (this.#bargeIn && (this.#speaker.busy || this.#fallbackSpeaker.busy) && this.#interrupt(false)) {
      this.#turnAbort?.abort('barge-in');
      this.#note('system', 'caller barged in');
    }
    this.#event('call.speech_started', {});
  }

  #onTranscript(text: string, final: boolean, endOfTurn: boolean): void {
    const now = performance.now();
    if (!final) {
      if (now - this.#lastPartialAt < PARTIAL_EVENT_MS || !text) return;
      this.#lastPartialAt = now;
      this.#event('call.transcript', { role: 'user', text, final: false });
      return;
    }
    if (!text.trim()) return;
    this.#event('call.transcript', { role: 'user', text, final: true });
    if (endOfTurn) {
      this.#note('caller', text);
      this.#utterances.push({ text, at: now });
    }
  }

  /** DTMF per a gather's rules: up to `maxDigits`, until `finishOnKey`, or a pause between keys. */
  async #collectDigits(o: NonNullable<GatherNode['dtmf']>, firstTimeoutMs: number, signal: AbortSignal): Promise<string | null> {
    let digits = '';
    let wait = firstTimeoutMs;
    const interDigit = o.interDigitTimeoutMs ?? runtimeDefaults.interDigitTimeoutMs;
    while (digits.length < o.maxDigits) {
      const d = await this.#dtmf.next(wait, signal);
      if (d === null) break;
      if (o.finishOnKey && d === o.finishOnKey) return digits;
      digits += d;
      wait = interDigit;
    }
    return digits === '' ? null : digits;
  }

  // --- Actions (REST and WebSocket) ---------------------------------------------------------------

  #actions(): CallActions {
    return {
      say: (text, opts) => {
        this.#refuseOnceHandedOver();
        if (opts?.interrupt) this.#interrupt(true);
        void this.#speak(text, true).catch((err: unknown) => this.fault('say_failed', (err as Error).message));
      },
      sendDtmf: (digits) => {
        this.#refuseOnceHandedOver();
        if (!this.deps.sendDtmf) throw new CallActionRefused('sending DTMF is not available on this call');
        void this.#sendDtmf(digits).catch((err: unknown) => this.#recordError('internal', 'dtmf_failed', (err as Error).message));
      },
      setMuted: (muted) => {
        this.#speaker.setMuted(muted);
        this.#fallbackSpeaker.setMuted(muted);
      },
      transfer: (target) => {
        if (!this.deps.transfer) throw new CallActionRefused('transfer is not available on this call');
        const refusal = this.#handoverRefusal();
        if (refusal) throw new CallActionRefused(refusal);
        void this.transfer(target).catch((err: unknown) => this.fault('transfer_failed', (err as Error).message));
      },
    };
  }

  #close(): void {
    this.call.actions = null;
    this.#stt?.close();
    this.#vad?.close();
    this.audio.close();
    this.call.metrics = { ...this.call.metrics, workflowPath: this.path, turns: this.turns, turnLatencyMs: this.turns.flatMap((t) => (t.firstAudioOutMs !== null ? [t.firstAudioOutMs] : [])) };
  }
}

/** Where the call stands with transfers: one at a time, and none after a hand-over. */
type Handover = { state: 'none' } | { state: 'transferring'; target: string } | { state: 'handed_over'; target: string };

const handoverMoves: Readonly<Record<Handover['state'], readonly Handover['state'][]>> = {
  none: ['transferring'],
  transferring: ['none', 'handed_over'],
  handed_over: [],
};

