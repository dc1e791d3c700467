/**
 * The agent's voice on one call: text (or a stored sound's PCM) in, paced audio out through the
 * leg's `LegAudio`. One utterance plays at a time, in order. An utterance is synthesised as it plays (the first chunk
 * of speech goes out as soon as the TTS yields it) and is over when its last frame has left.
 *
 * Barge-in: `hold()` stops the wire at once while the caller's voice is being confirmed (the
 * queue kept, `release()` goes on), `interrupt()` stops the current utterance (its synthesis is
 * aborted, the frames queued for the wire are dropped at once) and everything queued behind it. Mute drops the
 * agent's audio on the floor while the agent carries on (what it says is still recorded as said).
 */
import type { Logger } from '../../../config/logger.js';
import type { LegAudio } from '../../../media/audio/leg-audio.js';
import type { ProviderError, TtsProvider } from '../providers/contracts.js';

export interface SpeakOptions {
  /** The caller may cut it short (barge-in, a key press); default true. */
  interruptible?: boolean;
}

/** How an utterance ended. */
export type Spoken =
  | { kind: 'done' | 'interrupted'; firstAudioMs: number | null; audioMs: number; startedAt: number }
  | { kind: 'failed'; error: ProviderError | Error; startedAt: number };

interface Voice {
  voiceId: string;
  language?: string;
}

/**
 * Audio goes to the wire at most this many ms at a time (a stored sound, a long sentence from a
 * cache)...
 */
const playChunkMs = 2000;
/** ...each once less than this is queued: the next chunk is queued well before the wire runs dry. */
const playAheadMs = 1000;

/** An utterance's audio: 8 kHz PCM chunks as they come; stops when `signal` aborts. */
type AudioSource = (signal: AbortSignal) => AsyncIterable<Int16Array>;

/** The audio side of an utterance, as the speaker needs it from a `LegAudio`. */
type Sink = Pick<LegAudio, 'send' | 'flush' | 'clear' | 'hold' | 'release' | 'queuedMs' | 'closed'>;

export class Speaker {
  #chain: Promise<unknown> = Promise.resolve();
  /** The utterance playing now: its abort, and whether the caller may cut it. */
  #current: { abort: AbortController; interruptible: boolean } | null = null;
  /** Bumped by `interrupt`: utterances queued before it do not play. */
  #generation = 0;
  #muted = false;
  #pending = 0;

  constructor(
    private readonly sink: Sink,
    private readonly tts: TtsProvider,
    private readonly voice: Voice,
    private readonly callSignal: AbortSignal,
    private readonly log: Logger,
  ) {}

  /** Whether the agent is speaking or has speech queued. */
  get busy(): boolean {
    return this.#pending > 0;
  }

  /** Whether what is playing now may be cut by the caller. */
  get interruptible(): boolean {
    return this.#current?.interruptible ?? false;
  }

  get muted(): boolean {
    return this.#muted;
  }

  setMuted(muted: boolean): void {
    this.#muted = muted;
    if (muted) this.sink.clear();
  }

  /** Speaks `text` after what is queued; resolves when it has played, was cut, or failed. */
  say(text: string, opts: SpeakOptions = {}): Promise<Spoken> {
    const voice = this.voice;
    return this.#enqueue((signal) => this.tts.synthesize({ text, voiceId: voice.voiceId, language: voice.language, signal }), opts.interruptible ?? true);
  }

  /**
   * Plays 8 kHz PCM (a stored audio file) after what is queued, as an utterance like any other:
   * the same queue, barge-in, mute and drain. Resolves when it has played or was cut.
   */
  play(pcm: Int16Array, opts: SpeakOptions = {}): Promise<Spoken> {
    return this.#enqueue(async function* () {
      yield pcm;
    }, opts.interruptible ?? true);
  }

  /** Queues an utterance whose audio `source` yields; it plays unless an interrupt or the call's end came first. */
  #enqueue(source: AudioSource, interruptible: boolean): Promise<Spoken> {
    const generation = this.#generation;
    this.#pending++;
    const run = this.#chain.then(() =>
      generation !== this.#generation || this.callSignal.aborted
        ? ({ kind: 'interrupted', firstAudioMs: null, audioMs: 0, startedAt: performance.now() } as const)
        : this.#play(source, interruptible),
    );
    // The queue goes on whatever one utterance did (#play settles with a value, but a defect must
    // not stall every later utterance or surface as an unhandled rejection).
    this.#chain = run.then(
      () => undefined,
      () => undefined,
    ).finally(() => this.#pending--);
    return run;
  }

  /** Resolves when everything queued so far has played (or was cut). */
  idle(): Promise<void> {
    return this.#chain.then(
      () => undefined,
      () => undefined,
    );
  }

  /**
   * Cuts the agent short: the utterance playing (when interruptible, or always with `force`)
   * and all queued ones. True when something was playing and stopped.
   */
  interrupt(force = false): boolean {
    const cur = this.#current;
    if (!cur || (!cur.interruptible && !force)) return false;
    this.#generation++;
    cur.abort.abort('interrupted');
    this.sink.clear();
    return true;
  }

  /**
   * Holds what is playing on the wire, queue kept, for at most `ms`, while the caller may be
   * starting to talk over it (only an utterance the caller may cut). True when held: then
   * `interrupt` or `release` follows.
   */
  hold(ms: number): boolean {
    if (!this.#current?.interruptible) return false;
    this.sink.hold(ms);
    return true;
  }

  /** Ends a `hold`: the utterance goes on where it stopped. */
  release(): void {
    this.sink.release();
  }

  async #play(source: AudioSource, interruptible: boolean): Promise<Spoken> {
    const abort = new AbortController();
    const onCallEnd = () => abort.abort('call ended');
    this.callSignal.addEventListener('abort', onCallEnd, { once: true });
    this.#current = { abort, interruptible };
    const started = performance.now();
    let firstAudioMs: number | null = null;
    let samples = 0;
    try {
      for await (const chunk of source(abort.signal)) {
        if (abort.signal.aborted) break;
        if (firstAudioMs === null) firstAudioMs = Math.round(performance.now() - started);
        samples += await this.#feed(chunk, abort.signal);
      }
      if (!abort.signal.aborted) {
        this.sink.flush();
        await this.#drained(abort.signal);
      }
      const audioMs = Math.round(samples / 8);
      return { kind: abort.signal.aborted ? 'interrupted' : 'done', firstAudioMs, audioMs, startedAt: started };
    } catch (err) {
      if (abort.signal.aborted) return { kind: 'interrupted', firstAudioMs, audioMs: Math.round(samples / 8), startedAt: started };
      this.log.warn({ err: (err as Error).message }, 'speech failed');
      return { kind: 'failed', error: err as Error, startedAt: started };
    } finally {
      this.callSignal.removeEventListener('abort', onCallEnd);
      if (this.#current?.abort === abort) this.#current = null;
    }
  }

  /**
   * Sends `pcm` `playChunkMs` at a time, each once less than `playAheadMs` is queued (whatever
   * sent it: this chunk, an earlier one, a TTS that yields faster than real time): the wire's
   * queue stays a few seconds long however long the audio (not ten minutes of frames encoded in
   * one turn of the event loop), and what follows a mute still plays once unmuted. Returns the
   * samples handed over before an abort (muted ones count: the agent said them).
   */
  async #feed(pcm: Int16Array, signal: AbortSignal): Promise<number> {
    const step = playChunkMs * 8;
    let fed = 0;
    for (let at = 0; at < pcm.length; at += step) {
      await this.#drained(signal, playAheadMs);
      if (signal.aborted) break;
      const part = pcm.subarray(at, at + step);
      if (!this.#muted) this.sink.send(part);
      fed += part.length;
    }
    return fed;
  }

  /** Resolves when no more than `belowMs` of the frames queued for the wire are left (or `signal` aborts). */
  #drained(signal: AbortSignal, belowMs = 0): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (signal.aborted || this.sink.closed || this.sink.queuedMs <= belowMs) {
          signal.removeEventListener('abort', done);
          resolve();
        } else timer = setTimeout(check, Math.min(200, this.sink.queuedMs - belowMs + 5));
      };
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      let timer: NodeJS.Timeout | undefined;
      signal.addEventListener('abort', done, { once: true });
      check();
    });
  }
}
