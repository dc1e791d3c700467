/**
 * The agent-audio pacing thread (see `pacer-thread.ts`, its owner on the main thread). It owns
 * every agent stream's clock: a `FramePacer` per stream, its SSRC, sequence numbers, timestamps,
 * marker bits and RFC 4733 event packets, and sends the RTP over one UDP socket on loopback into
 * each stream's mediasoup PlainTransport (connected to this socket, so only it is accepted).
 * Running here keeps the 20 ms clock off the engine's event loop, which call set-up, the REST API
 * and the incoming audio keep busy.
 *
 * Messages are `PacerCommand` in and `PacerReport` out (`pacer-messages.ts`). What was sent goes
 * back batched, once per turn of this loop.
 */
import dgram from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort } from 'node:worker_threads';
import { writeRtpPacket } from '../rtp/packet.js';
import { eventPackets, type DtmfTiming } from './dtmf.js';
import { FramePacer } from './pacer.js';
import type { PacerCommand, PacerReport, StreamReport } from './pacer-messages.js';

/** One 20 ms G.711 frame. */
const frameBytes = 160;

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
      this.send(f.payload, f.marker, f.timestamp);
      this.consumed++;
      const r = report(this.id);
      r.payloads.push(f.payload);
      r.timestamps.push(f.timestamp);
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

  send(payload: Buffer, marker: boolean, timestamp: number, payloadType = this.payloadType): void {
    const packet = writeRtpPacket({ marker, payloadType, sequence: this.sequence, timestamp, ssrc: this.ssrc }, payload);
    this.sequence = (this.sequence + 1) & 0xffff;
    if (payloadType === this.payloadType) this.started = true;
    socket.send(packet, this.port, host);
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
    this.pacer.pause();
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
      this.pacer.resume();
    }
  }

  clear(): void {
    this.pacer.clear();
    this.consumed = this.received;
    report(this.id);
  }

  close(): void {
    this.closing.abort();
    this.pacer.close();
  }
}

const host = '127.0.0.1';
const socket = dgram.createSocket('udp4');
// mediasoup's receiver reports come back here; nothing to do with them.
socket.on('message', () => undefined);
// A send error (ENOBUFS, …) is one lost packet, not the end of every agent's audio.
socket.on('error', () => undefined);
await new Promise<void>((resolve) => socket.bind(0, host, () => resolve()));

const streams = new Map<number, Stream>();
/** A report as it is gathered: the payloads are packed into one buffer when it is posted. */
type Gathering = Omit<StreamReport, 'sent' | 'sizes'> & { payloads: Buffer[] };
let pending = new Map<number, Gathering>();
let flushing = false;

/** This turn's report for stream `id`, posted at the end of the turn. */
function report(id: number): Gathering {
  let r = pending.get(id);
  if (!r) pending.set(id, (r = { id, consumed: 0, payloads: [], timestamps: [], dtmf: [] }));
  if (!flushing) {
    flushing = true;
    setImmediate(flush);
  }
  return r;
}

function flush(): void {
  flushing = false;
  const out = pending;
  pending = new Map();
  const reports: StreamReport[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const { payloads, ...r } of out.values()) {
    const sizes = payloads.map((p) => p.length);
    const sent = new Uint8Array(sizes.reduce((a, b) => a + b, 0));
    let at = 0;
    for (const p of payloads) {
      sent.set(p, at);
      at += p.length;
    }
    transfer.push(sent.buffer);
    reports.push({ ...r, consumed: streams.get(r.id)?.consumed ?? r.consumed, sent, sizes });
  }
  parentPort!.postMessage({ type: 'batch', streams: reports } satisfies PacerReport, transfer);
}

function post(m: PacerReport): void {
  parentPort!.postMessage(m);
}

function handle(m: PacerCommand): void {
  if (m.op === 'open') {
    streams.set(m.id, new Stream(m.id, m.ssrc, m.port, m.payloadType, m.sequence, m.clockRate));
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
    case 'codec':
      return s.recode(m.payloadType, m.clockRate);
    case 'dtmf': {
      const run = s.dtmf.then(() => s.playDigits(m.digits, m.timing, m.payloadType));
      s.dtmf = run.catch(() => undefined);
      run.then(
        () => report(s.id).dtmf.push({ req: m.req, ok: true }),
        () => report(s.id).dtmf.push({ req: m.req, ok: false }),
      );
      return;
    }
    case 'close':
      s.close();
      streams.delete(s.id);
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
post({ type: 'ready', port: socket.address().port });
