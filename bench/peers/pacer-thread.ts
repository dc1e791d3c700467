/**
 * The pacing probe's worker thread (see `lib/pacer-probe.ts`): a `FramePacer` on this thread's
 * own event loop that sends G.711 RTP over its own UDP socket into a mediasoup PlainTransport,
 * and two receiving sockets that time what mediasoup forwards: the stream paced here, and the
 * stream paced on the engine's main thread. Receiving here keeps the measurement off both the
 * engine's loop and the phones' process.
 *
 * workerData: `{ to }` (the PlainTransport's port). Messages in: `{ cmd: 'start', frames }`,
 * `{ cmd: 'stop' }`. Out: `{ type: 'ports', thread, main }`, then `{ type: 'heard', thread, main }`
 * with [sequence, arrival ms] per packet.
 */
import dgram from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { FramePacer } from '../../media/audio/pacer.js';
import { writeRtpPacket } from '../../media/rtp/packet.js';
import { monoMs } from '../lib/audio-tag.js';

const { to } = workerData as { to: number };
const bind = async () => {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
};
const out = await bind();
const heard = { thread: [] as [number, number][], main: [] as [number, number][] };
const listen = async (list: [number, number][]) => {
  const s = await bind();
  s.on('message', (msg) => {
    if (msg.length >= 12 && (msg[1]! & 0x7f) === 0) list.push([msg.readUInt16BE(2), monoMs()]);
  });
  return s;
};
const rThread = await listen(heard.thread);
const rMain = await listen(heard.main);
let seq = 0;
const pacer = new FramePacer((f) => {
  out.send(writeRtpPacket({ marker: f.marker, payloadType: 0, sequence: seq++ & 0xffff, timestamp: f.timestamp, ssrc: 0x7ead }, f.payload), to, '127.0.0.1');
});
parentPort!.postMessage({ type: 'ports', thread: rThread.address().port, main: rMain.address().port });
parentPort!.on('message', (m: { cmd: string; frames?: number }) => {
  if (m.cmd === 'start') for (let i = 0; i < m.frames!; i++) pacer.push(Buffer.alloc(160, 0xff));
  if (m.cmd === 'stop') {
    pacer.close();
    parentPort!.postMessage({ type: 'heard', ...heard });
    for (const s of [out, rThread, rMain]) s.close();
    parentPort!.close();
  }
});
