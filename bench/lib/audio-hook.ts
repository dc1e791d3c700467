/**
 * The benchmark's view into an in-process engine's agent audio, through `legAudioObserver` (every
 * `LegAudio` as it opens): a listener on its `frame` event (the frame as the agent runtime gets it)
 * and on its `paced` event (each packet of ours as it left the agent-audio thread, with its time
 * there). Inbound frames are known by their tag (`audio-tag.ts`), which also names the phone;
 * outbound packets by their RTP sequence number, on the seam of that phone. Every time is
 * `process.hrtime`'s monotonic clock, in every thread and process.
 */
import { legAudioObserver, type LegAudio } from '../../media/audio/leg-audio.js';
import { monoMs, readTag } from './audio-tag.js';

/** Calls are told apart by the tag's high bits: `index * 2^20 + frame`. */
export const tagCallShift = 2 ** 20;

export interface AudioSeam {
  /** The phone's call index, once one of its tagged frames has arrived. */
  call: number | null;
  /** Agent packets as they left the thread: [RTP sequence, time]. */
  sent: [number, number][];
}

export class AudioHook {
  /** Tag -> arrival time of the frame at the agent (ms, monotonic). */
  readonly arrived = new Map<number, number>();
  readonly seams: AudioSeam[] = [];
  #on = false;

  /** Starts watching seams opened from now on (call before the engine starts). */
  constructor() {
    legAudioObserver.on('open', (audio) => this.#seam(audio));
  }

  /** Records only while on (between runs the maps are cleared). */
  start(): void {
    this.arrived.clear();
    this.seams.length = 0;
    this.#on = true;
  }

  stop(): void {
    this.#on = false;
  }

  #seam(audio: LegAudio): void {
    const seam: AudioSeam = { call: null, sent: [] };
    if (this.#on) this.seams.push(seam);
    audio.on('frame', (f) => {
      if (!this.#on) return;
      const at = monoMs();
      const tag = readTag(f.payload);
      if (tag === null) return;
      this.arrived.set(tag, at);
      seam.call ??= Math.floor(tag / tagCallShift);
    });
    audio.on('paced', (sequence, at) => {
      if (this.#on) seam.sent.push([sequence, at]);
    });
  }
}
