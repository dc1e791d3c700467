/**
 * A prototype for pacing the agent's audio off the engine's event loop, measured beside the
 * product's way in the same run. On one router of the engine's pool:
 * - main: a `FramePacer` on the main thread hands packets to a DirectTransport Producer (as
 *   `LegAudio` does), consumed by a PlainTransport that sends them to a socket in a worker thread;
 * - thread: a `FramePacer` in a worker thread sends RTP over its own UDP socket into a
 *   PlainTransport (comedia), whose Producer is consumed the same way.
 * The worker thread receives both streams, so both are timed from one loop that is not the
 * engine's.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { types as ms } from 'mediasoup';
import { FramePacer } from '../../media/audio/pacer.js';
import { writeRtpPacket } from '../../media/rtp/packet.js';
import { routerMediaCodecs } from '../../media/rtp-parameters.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pcmu: ms.RtpParameters = { codecs: [{ mimeType: 'audio/PCMU', payloadType: 0, clockRate: 8000, channels: 1 }], encodings: [{ ssrc: 0 }] };
const params = (ssrc: number): ms.RtpParameters => ({ ...pcmu, encodings: [{ ssrc }] });

export interface ProbeResult {
  /** Inter-arrival of consecutive packets, ms. */
  main: number[];
  thread: number[];
}

export class PacerProbe {
  private constructor(
    private readonly router: ms.Router,
    private readonly worker: Worker,
    private readonly mainPacer: FramePacer,
  ) {}

  static async open(mediaWorker: ms.Worker): Promise<PacerProbe> {
    const router = await mediaWorker.createRouter({ mediaCodecs: routerMediaCodecs });
    const inbound = await router.createPlainTransport({ listenIp: '127.0.0.1', rtcpMux: true, comedia: true });
    const threadProducer = await inbound.produce({ kind: 'audio', rtpParameters: params(0x7ead) });
    const direct = await router.createDirectTransport();
    const mainProducer = await direct.produce({ kind: 'audio', rtpParameters: params(0x3a17) });
    const worker = new Worker(path.join(here, '../peers/pacer-thread.js'), { workerData: { to: inbound.tuple.localPort } });
    const ports = await new Promise<{ thread: number; main: number }>((r) => worker.once('message', r));
    for (const [producer, port] of [[threadProducer, ports.thread], [mainProducer, ports.main]] as const) {
      const t = await router.createPlainTransport({ listenIp: '127.0.0.1', rtcpMux: true, comedia: false });
      await t.connect({ ip: '127.0.0.1', port });
      await t.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    }
    let seq = 0;
    const mainPacer = new FramePacer((f) => mainProducer.send(writeRtpPacket({ marker: f.marker, payloadType: 0, sequence: seq++ & 0xffff, timestamp: f.timestamp, ssrc: 0x3a17 }, f.payload)));
    return new PacerProbe(router, worker, mainPacer);
  }

  /** Starts both streams with `seconds` of frames queued. */
  start(seconds: number): void {
    const frames = seconds * 50;
    this.worker.postMessage({ cmd: 'start', frames });
    for (let i = 0; i < frames; i++) this.mainPacer.push(Buffer.alloc(160, 0xff));
  }

  async stop(): Promise<ProbeResult> {
    this.mainPacer.close();
    const heard = new Promise<{ main: [number, number][]; thread: [number, number][] }>((r) => this.worker.on('message', (m: { type: string }) => m.type === 'heard' && r(m as never)));
    this.worker.postMessage({ cmd: 'stop' });
    const h = await heard;
    this.router.close();
    return { main: gaps(h.main), thread: gaps(h.thread) };
  }
}

function gaps(list: [number, number][]): number[] {
  const out: number[] = [];
  for (let i = 1; i < list.length; i++) if (list[i]![0] === ((list[i - 1]![0] + 1) & 0xffff)) out.push(list[i]![1] - list[i - 1]![1]);
  return out;
}
