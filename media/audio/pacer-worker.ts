/**
 * The agent-audio thread (see `pacer-thread.ts`, its owner on the main thread). It owns every
 * agent stream's clock: a `FramePacer` per stream, its SSRC, sequence numbers, timestamps, marker
 * bits and RFC 4733 event packets, and sends the RTP over one UDP socket on loopback into each
 * stream's mediasoup PlainTransport (connected to this socket, so only it is accepted). The same
 * transport's Consumer of the peer's audio sends here too: packets are told apart by the port they
 * come from, one per stream. Running here keeps the 20 ms clock and the per-packet socket work off
 * the engine's event loop, which call set-up and the REST API keep busy.
 *
 * Messages are `PacerCommand` in and `PacerReport` out (`pacer-messages.ts`). What was sent and
 * what arrived go to the main thread batched (`pacer-batch.ts`, one buffer per batch): at the end
 * of the turn when the last batch left at least `batchGapMs` ago, else when that gap is up, so a
 * busy thread posts at most one message per gap (at 150 agent calls, 15,000 packets a second
 * become 500 messages) and an idle one adds no delay.
 */
import dgram from 'node:dgram';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort } from 'node:worker_threads';
import { writeRtpPacket } from '../rtp/packet.js';
import { eventPackets, type DtmfTiming } from './dtmf.js';
import { FramePacer } from './pacer.js';
import { BatchWriter } from './pacer-batch.js';
import type { PacerCommand, PacerReport } from './pacer-messages.js';

/** One 20 ms G.711 frame. */
const frameBytes = 160;

/** The least time between two batches to the main thread. */
const batchGapMs = 2;

/**
 * This thread's nice value: above the rest of the engine, so that its 20 ms clock keeps time when
 * the cores are busy with call set-up (measured: the p99 gap between our packets as sent went from
 * 23.1-24.1 ms to 21.5-21.7 ms under 100 calls/s of SIPp set-up, 21.0-21.8 ms without load).
 * Linux applies `setpriority` to the calling thread only. Raising a priority needs CAP_SYS_NICE
 * (or an RLIMIT_NICE that allows it); without it the thread runs at the process's priority, and
 * the engine logs that once.
 */
const niceValue = -10;

/** The longest hold (`hold`) the thread keeps, whatever it is asked. */
const maxHoldMs = 1000;

/** Socket receive buffer: a second of every stream's packets at 150 calls, should the thread stall. */
const receiveBufferBytes = 4 * 1024 * 1024;

/**
 * 20 ms of silence per payload type (the first packet of a stream must be audio, see
 * `playDigits`): G.711 per law, and for Opus a 20 ms CELT frame of digital silence (TOC 0xF8,
 * RFC 6716 §3.1, then the two bytes libopus writes for silence).
 */
const silence = { 0: Buffer.alloc(160, 0xff), 8: Buffer.alloc(160, 0xd5), 111: Buffer.from([0xf8, 0xff, 0xfe]) } as Record<number, Buffer>;

class Stream {
  pacer: FramePacer;
  sequence: number;
  /** Frames received from the main thread and no longer queued here (sent or cleared). */
  consumed = 0;
  received = 0;
  /** True once a packet of the audio payload type went out: mediasoup drops others before. */
  started = false;
  dtmf: Promise<unknown> = Promise.resolve();
  readonly closing = new AbortController();
  #holdTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: number,
    readonly ssrc: number,
    public port: number,
    public payloadType: number,
    sequence: number,
    public clockRate: number,
  ) {
    this.sequence = sequence;
    this.pacer = this.#pacer();
  }

  /** Timestamp units per millisecond. */
  get perMs(): number {
    return this.clockRate / 1000;
  }

  #pacer(): FramePacer {
    return new FramePacer((f) => {
      const sequence = this.send(f.payload, f.marker, f.timestamp);
      this.consumed++;
      report(this).sent(this.id, f.payload, f.timestamp, sequence, monoMs());
    }, 20, 20 * this.perMs);
  }

  /** A new codec: its payload type, and a new clock when the rate changed (the queue is dropped). */
  recode(payloadType: number, clockRate: number): void {
    this.payloadType = payloadType;
    this.started = false;
    if (clockRate !== this.clockRate) {
      this.clockRate = clockRate;
      this.pacer.close();
      this.pacer = this.#pacer();
    }
    this.clear();
  }

  /** Sends one packet; returns its sequence number. */
  send(payload: Buffer, marker: boolean, timestamp: number, payloadType = this.payloadType): number {
    const sequence = this.sequence;
    const packet = writeRtpPacket({ marker, payloadType, sequence, timestamp, ssrc: this.ssrc }, payload);
    this.sequence = (sequence + 1) & 0xffff;
    if (payloadType === this.payloadType) this.started = true;
    socket.send(packet, this.port, host);
    return sequence;
  }

  /** RFC 4733 events, as `LegAudio.sendDtmf` documents; audio waits meanwhile. */
  async playDigits(digits: string, timing: DtmfTiming, payloadType: number): Promise<void> {
    const signal = this.closing.signal;
    const until = async (at: number) => {
      const wait = at - performance.now();
      if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
      signal.throwIfAborted();
    };
    signal.throwIfAborted();
    this.pacer.pause('events');
    try {
      let start = performance.now();
      if (!this.started) {
        // One frame of silence first: mediasoup creates our stream on the audio codec only.
        const ts = this.pacer.clock(start);
        this.send(silence[this.payloadType] ?? silence[0]!, true, ts);
        this.pacer.advance(ts + 20 * this.perMs, start + 20);
        start += 20;
      }
      const period = timing.toneMs + timing.gapMs;
      for (const [i, digit] of [...digits].entries()) {
        const at = start + i * period;
        await until(at);
        // All packets of one event share the timestamp of its start (RFC 4733 §2.5.1.2).
        const timestamp = this.pacer.clock(at);
        for (const p of eventPackets(digit, timing.toneMs)) {
          await until(at + p.atMs);
          this.send(p.payload, p.marker, timestamp, payloadType);
        }
        this.pacer.advance(timestamp + timing.toneMs * this.perMs, at + timing.toneMs);
      }
    } finally {
      this.pacer.resume('events');
    }
  }

  /**
   * Holds the agent's audio (the caller may be starting to talk over it), queue kept, until
   * `release`, `clear`, or `ms` pass: a hold the main thread never ends does not silence the agent.
   */
  hold(ms: number): void {
    clearTimeout(this.#holdTimer);
    this.pacer.pause('onset');
    this.#holdTimer = setTimeout(() => this.release(), Math.min(maxHoldMs, Math.max(0, ms)));
  }

  release(): void {
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    this.pacer.resume('onset');
  }

  /** Drops what is queued, and any hold (what the agent says next plays). */
  clear(): void {
    this.pacer.clear();
    this.consumed = this.received;
    this.release();
    report(this);
  }

  close(): void {
    this.closing.abort();
    clearTimeout(this.#holdTimer);
    this.pacer.close();
  }
}

function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

const host = '127.0.0.1';
const streams = new Map<number, Stream>();
/** Streams by the port of their PlainTransport. */
const byPort = new Map<number, Stream>();
const batch = new BatchWriter();
/** Streams whose queue moved in this batch: each gets a `consumed` record when it is posted. */
const touched = new Set<Stream>();
/** The next batch: not due, posted at the end of this turn, or on a timer (`batchGapMs` after the last). */
let due: 'none' | 'turn' | 'timer' = 'none';
let lastBatch = 0;
const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: receiveBufferBytes });
socket.on('message', (packet, from) => {
  // Anything from a port that is not a stream's is dropped. The stream's RTCP (rtcp-mux: a report
  // every few seconds) goes on with its RTP, and the main thread's RTP reader drops it there.
  const s = byPort.get(from.port);
  if (!s) return;
  schedule();
  batch.received(s.id, packet);
});
// A send error (ENOBUFS, …) is one lost packet, not the end of every agent's audio.
socket.on('error', () => undefined);
await new Promise<void>((resolve) => socket.bind(0, host, () => resolve()));

let priorityError: string | null = null;
try {
  os.setPriority(niceValue);
} catch (err) {
  priorityError = err instanceof Error ? err.message : String(err);
}

/** The batch, for news of stream `s` that moves its queue (a frame sent, a clear, DTMF done). */
function report(s: Stream): BatchWriter {
  touched.add(s);
  schedule();
  return batch;
}

/** Posts the batch at the end of this turn, or when `batchGapMs` since the last is up. */
function schedule(): void {
  if (due !== 'none') return;
  const wait = lastBatch + batchGapMs - performance.now();
  if (wait <= 0) {
    due = 'turn';
    setImmediate(flush);
  } else {
    due = 'timer';
    setTimeout(flush, wait);
  }
}

function flush(): void {
  due = 'none';
  lastBatch = performance.now();
  for (const s of touched) batch.consumed(s.id, s.consumed);
  touched.clear();
  const bytes = batch.take();
  parentPort!.postMessage({ type: 'batch', bytes } satisfies PacerReport, [bytes.buffer as ArrayBuffer]);
}

function post(m: PacerReport): void {
  parentPort!.postMessage(m);
}

function handle(m: PacerCommand): void {
  if (m.op === 'open') {
    const s = new Stream(m.id, m.ssrc, m.port, m.payloadType, m.sequence, m.clockRate);
    streams.set(m.id, s);
    byPort.set(m.port, s);
    return;
  }
  const s = streams.get(m.id);
  if (!s) return;
  switch (m.op) {
    case 'frames': {
      const sizes = m.sizes ?? Array.from({ length: Math.floor(m.frames.byteLength / frameBytes) }, () => frameBytes);
      let at = 0;
      for (const size of sizes) {
        if (at + size > m.frames.byteLength) break;
        s.pacer.push(Buffer.from(m.frames.buffer, m.frames.byteOffset + at, size));
        s.received++;
        at += size;
      }
      return;
    }
    case 'clear':
      return s.clear();
    case 'hold':
      return s.hold(m.ms);
    case 'release':
      return s.release();
    case 'codec':
      return s.recode(m.payloadType, m.clockRate);
    case 'dtmf': {
      const run = s.dtmf.then(() => s.playDigits(m.digits, m.timing, m.payloadType));
      s.dtmf = run.catch(() => undefined);
      run.then(
        () => report(s).dtmf(s.id, m.req, true),
        () => report(s).dtmf(s.id, m.req, false),
      );
      return;
    }
    case 'close':
      s.close();
      streams.delete(s.id);
      if (byPort.get(s.port) === s) byPort.delete(s.port);
      return;
  }
}

parentPort!.on('message', (m: PacerCommand) => {
  try {
    handle(m);
  } catch (err) {
    // A bad command fails its stream, not the thread (and with it every other agent's audio).
    post({ type: 'failed', id: 'id' in m ? m.id : -1, message: String(err) });
  }
});
post({ type: 'ready', port: socket.address().port, ...(priorityError ? { priorityError } : {}) });
