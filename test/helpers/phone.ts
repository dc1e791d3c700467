/**
 * The media side of a phone for agent tests, on a real UDP socket: it streams 20 ms frames to
 * the engine like a handset does (silence, or speech it is given), presses keys as RFC 4733
 * telephone events in that stream, and keeps what it hears, decoded, for the test to measure.
 */
import { g711Decode, g711Encode } from '../../media/audio/g711.js';
import { rms } from '../../media/audio/tone.js';
import { writeRtpPacket } from '../../media/rtp/packet.js';
import { RtpPeer } from './rtp-peer.js';

const digitCodes: Record<string, number> = { '*': 10, '#': 11, A: 12, B: 13, C: 14, D: 15 };

export class Phone {
  #timer: NodeJS.Timeout | null = null;
  #seq = 100;
  #ts = 16000;
  #queue: Buffer[] = [];
  #speech: Int16Array[] = [];
  #start = 0;
  #sent = 0;

  private constructor(
    readonly peer: RtpPeer,
    readonly payloadType = 0,
    readonly eventPt = 101,
  ) {}

  static async open(): Promise<Phone> {
    return new Phone(await RtpPeer.open());
  }

  get port(): number {
    return this.peer.port;
  }

  /** Starts sending one frame every 20 ms to `to` (silence unless speech is queued). */
  start(to: number): void {
    this.#start = performance.now();
    const tick = () => {
      const due = Math.floor((performance.now() - this.#start) / 20) + 1;
      while (this.#sent < due) {
        this.#sendNext(to);
        this.#sent++;
      }
      this.#timer = setTimeout(tick, this.#start + this.#sent * 20 - performance.now());
    };
    tick();
  }

  /** Speaks `pcm` (8 kHz) into the call, in 20 ms frames, instead of silence. */
  say(pcm: Int16Array): void {
    for (let i = 0; i < pcm.length; i += 160) {
      const f = new Int16Array(160);
      f.set(pcm.subarray(i, i + 160));
      this.#speech.push(f);
    }
  }

  /** Presses `digit` for `ms` (RFC 4733: same timestamp, growing duration, three end packets). */
  press(digit: string, ms = 100): void {
    const code = digitCodes[digit] ?? Number(digit);
    const frames = Math.max(1, Math.round(ms / 20));
    for (let i = 1; i <= frames + 2; i++) {
      const end = i >= frames;
      const duration = Math.min(i, frames) * 160;
      this.#queue.push(Buffer.from([code, (end ? 0x80 : 0) | 10, duration >> 8, duration & 0xff]));
    }
  }

  #sendNext(to: number): void {
    const event = this.#queue.shift();
    if (event) {
      const first = event[1]! < 0x80 && event.readUInt16BE(2) === 160;
      const packet = writeRtpPacket({ marker: first, payloadType: this.eventPt, sequence: this.#seq++ & 0xffff, timestamp: this.#eventTs(first), ssrc: 0x5eed }, event);
      this.peer.send(to, packet);
      return;
    }
    this.#eventStart = null;
    const pcm = this.#speech.shift() ?? new Int16Array(160);
    const packet = writeRtpPacket({ marker: false, payloadType: this.payloadType, sequence: this.#seq++ & 0xffff, timestamp: this.#ts, ssrc: 0x5eed }, g711Encode('PCMU', pcm));
    this.#ts = (this.#ts + 160) >>> 0;
    this.peer.send(to, packet);
  }

  #eventStart: number | null = null;
  #eventTs(first: boolean): number {
    if (first || this.#eventStart === null) this.#eventStart = this.#ts;
    this.#ts = (this.#ts + 160) >>> 0;
    return this.#eventStart;
  }

  /** What the phone heard: each received PCMU frame decoded, with when it arrived. */
  heard(since = 0): { pcm: Int16Array; at: number }[] {
    return this.peer.received.filter((r) => r.at >= since && r.header.payloadType === 0).map((r) => ({ pcm: g711Decode('PCMU', r.payload), at: r.at }));
  }

  /** Milliseconds of received audio louder than `level` (RMS of a 16-bit frame). */
  loudMs(since = 0, level = 300): number {
    return this.heard(since).filter((f) => rms(f.pcm) > level).length * 20;
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.peer.close();
  }
}
