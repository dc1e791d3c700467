/**
 * Load generator for media benchmarks: one UDP socket per call, each sending a 20 ms G.711 packet
 * to its leg's port every 20 ms and timing the echo. Runs in its own process so its CPU is not
 * counted as the engine's. Input: JSON `{ ports, seconds, warmup }` as argv[2]. Packets of the
 * first `warmup` seconds (calls latching) are not counted; the line `measuring` on stdout marks
 * the start of the measured part, and a JSON line its figures.
 */
import dgram from 'node:dgram';

interface Call {
  socket: dgram.Socket;
  port: number;
  sent: Map<number, number>;
  seq: number;
}

const { ports, seconds, warmup } = JSON.parse(process.argv[2]!) as { ports: number[]; seconds: number; warmup: number };
const rtts: number[] = [];
let sent = 0;
let received = 0;
let measuring = false;

const calls: Call[] = await Promise.all(
  ports.map(
    (port) =>
      new Promise<Call>((resolve) => {
        const socket = dgram.createSocket('udp4');
        const call: Call = { socket, port, sent: new Map(), seq: 0 };
        socket.on('message', (msg) => {
          // The first 4 payload bytes carry our counter; mediasoup's header extension may precede them.
          const cc = msg[0]! & 0x0f;
          let off = 12 + cc * 4;
          if (msg[0]! & 0x10) off += 4 + msg.readUInt16BE(off + 2) * 4;
          const n = msg.readUInt32BE(off);
          const at = call.sent.get(n);
          if (at === undefined) return;
          call.sent.delete(n);
          if (!measuring) return;
          received++;
          rtts.push(performance.now() - at);
        });
        socket.bind(0, '127.0.0.1', () => resolve(call));
      }),
  ),
);

const ssrcBase = 0x10000;
const start = performance.now();
let tick = 0;
await new Promise<void>((resolve) => {
  const step = () => {
    const now = performance.now();
    if (now - start > (warmup + seconds) * 1000) return resolve();
    if (!measuring && now - start >= warmup * 1000) {
      measuring = true;
      process.stdout.write('measuring\n');
    }
    for (const [i, c] of calls.entries()) {
      // A buffer per datagram: dgram sends asynchronously and must not see it change.
      const packet = Buffer.alloc(12 + 160, 0xff);
      packet[0] = 0x80;
      packet[1] = 0;
      packet.writeUInt16BE(c.seq & 0xffff, 2);
      packet.writeUInt32BE((c.seq * 160) >>> 0, 4);
      packet.writeUInt32BE(ssrcBase + i, 8);
      packet.writeUInt32BE(c.seq, 12);
      if (measuring) {
        c.sent.set(c.seq, now);
        sent++;
      }
      c.seq++;
      c.socket.send(packet, c.port, '127.0.0.1');
    }
    tick++;
    setTimeout(step, Math.max(0, start + tick * 20 - performance.now()));
  };
  step();
});
await new Promise((r) => setTimeout(r, 300));
for (const c of calls) c.socket.close();
rtts.sort((a, b) => a - b);
const q = (p: number) => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))] ?? NaN;
process.stdout.write(JSON.stringify({ sent, received, rttP50: q(0.5), rttP99: q(0.99) }) + '\n');
