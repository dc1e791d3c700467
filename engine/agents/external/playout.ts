/**
 * An external agent's audio on its way to the caller: what comes off the socket is queued on the
 * leg's `LegAudio` (paced at 20 ms by the pacing thread, as the built-in agent's speech is), and
 * the agent's marks are answered when the audio queued before them has left: the played position
 * is everything queued so far minus what the pacer still holds (`queuedMs`), checked every 20 ms
 * while a mark waits. `clear` drops the queue at once and answers the waiting marks as cleared.
 */
import type { LegAudio } from '../../../media/audio/leg-audio.js';
import { externalLimits } from './protocol.js';

/** The audio side, as the playout needs it from a `LegAudio`. */
type Sink = Pick<LegAudio, 'send' | 'flush' | 'clear' | 'queuedMs' | 'closed'>;

/** What a push did with the audio. */
export type PushResult = 'queued' | 'muted' | 'full';

/** How often a waiting mark checks the played position: one frame. */
const MARK_POLL_MS = 20;

export class ExternalPlayout {
  /** Samples handed to the sink since the call began (partial frames padded at marks). */
  #queuedSamples = 0;
  readonly #marks: { name: string; at: number }[] = [];
  #timer: NodeJS.Timeout | null = null;
  #muted = false;

  constructor(
    private readonly sink: Sink,
    /** A mark was reached (`cleared`: its audio was dropped instead). */
    private readonly onMark: (name: string, cleared: boolean) => void,
    private readonly maxPlayoutMs: number = externalLimits.maxPlayoutMs,
  ) {}

  /** Milliseconds queued for the caller. */
  get queuedMs(): number {
    return this.sink.queuedMs;
  }

  get pendingMarks(): number {
    return this.#marks.length;
  }

  /** Queues 8 kHz PCM for the caller; refused past `maxPlayoutMs` queued; dropped when muted. */
  push(pcm: Int16Array): PushResult {
    if (this.#muted) return 'muted';
    if (this.sink.queuedMs + pcm.length / 8 > this.maxPlayoutMs) return 'full';
    this.sink.send(pcm);
    this.#queuedSamples += pcm.length;
    return 'queued';
  }

  /** Answers `name` once what was queued before it has played. */
  mark(name: string): void {
    // A trailing partial frame goes out padded, so the mark's audio is all on the wire.
    const partial = this.#queuedSamples % 160;
    if (partial) {
      this.sink.flush();
      this.#queuedSamples += 160 - partial;
    }
    this.#marks.push({ name, at: this.#queuedSamples });
    this.#check();
  }

  /** Drops everything queued; waiting marks come back cleared. */
  clear(): void {
    this.sink.clear();
    // The sink dropped its partial frame too: what follows starts on a frame boundary.
    this.#queuedSamples = Math.ceil(this.#queuedSamples / 160) * 160;
    this.#answerAll(true);
  }

  setMuted(muted: boolean): void {
    this.#muted = muted;
    if (muted) this.clear();
  }

  /** Stops answering marks (the call ended or the agent was handed over). */
  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#marks.length = 0;
  }

  #check(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const played = this.sink.closed ? this.#queuedSamples : this.#queuedSamples - this.sink.queuedMs * 8;
    while (this.#marks.length && this.#marks[0]!.at <= played) this.onMark(this.#marks.shift()!.name, false);
    if (this.#marks.length) this.#timer = setTimeout(() => this.#check(), MARK_POLL_MS);
  }

  #answerAll(cleared: boolean): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const m of this.#marks.splice(0)) this.onMark(m.name, cleared);
  }
}
