/**
 * The drachtio control connection alone, in-process against loopback TCP, side by side in one
 * process: the embedded server's `ControlServer` (the real one) and a client speaking the wire
 * protocol (`authenticate`, then `ping` frames, each answered `OK|pong`), a window of frames in
 * flight as call control has at a burst. Rounds alternate the two channels, so a drift in the
 * machine's load reaches both. Prints, per channel, the CPU (user + system) and the wall time per
 * round trip (a frame each way), and the ratio.
 *
 *   npm run bench -- control-channel [trips=20000] [window=8] [rounds=4]
 */
import net from 'node:net';
import { createLogger } from '../config/logger.js';
import { ControlServer } from '../engine/sip/drachtio/control-server.js';
import { encodeFrame, FrameDecoder } from '../engine/sip/drachtio/frame.js';
import { keyValues } from './lib/args.js';
import { median } from './lib/stats.js';

type Channel = 'in-process' | 'tcp';

interface Figures {
  cpuUs: number;
  userUs: number;
  sysUs: number;
  wallUs: number;
}

async function roundTrips(socket: net.Socket, trips: number, window: number): Promise<Figures> {
  const decoder = new FrameDecoder();
  let sent = 0;
  let answered = 0;
  let seq = 0;
  const send = (body: string) => socket.write(encodeFrame(`${++seq}|${body}`));
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let authenticated = false;
  socket.on('data', (chunk: Buffer) => {
    for (const _ of decoder.push(chunk)) {
      if (!authenticated) {
        authenticated = true;
        continue;
      }
      answered++;
      if (answered === trips) return done();
      if (sent < trips) {
        sent++;
        send('ping');
      }
    }
  });
  send('authenticate|bench|');
  await new Promise((r) => setTimeout(r, 50));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (; sent < Math.min(window, trips); sent++) send('ping');
  await finished;
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  socket.destroy();
  return { cpuUs: (cpu.user + cpu.system) / trips, userUs: cpu.user / trips, sysUs: cpu.system / trips, wallUs: (wall * 1000) / trips };
}

async function open(server: ControlServer, port: number, channel: Channel): Promise<net.Socket> {
  if (channel === 'in-process') return server.openInProcess();
  const s = net.connect(port, '127.0.0.1');
  s.setNoDelay(true);
  await new Promise((r) => s.once('connect', r));
  return s;
}

export async function run(argv: string[]): Promise<void> {
  const a = keyValues(argv);
  const trips = Number(a.trips ?? 20_000);
  const window = Number(a.window ?? 8);
  const rounds = Number(a.rounds ?? 4);
  const log = createLogger({ level: 'silent', pretty: false });
  const server = new ControlServer('bench', { hostports: () => 'udp/127.0.0.1:5060', onSip: () => {}, onProxy: () => {}, onClosed: () => {} }, log);
  const port = await server.listen('127.0.0.1', 0);
  const results: Record<Channel, Figures[]> = { 'in-process': [], tcp: [] };
  // A warm-up round each, not counted.
  for (const channel of ['in-process', 'tcp'] as const) await roundTrips(await open(server, port, channel), Math.min(trips, 2000), window);
  for (let r = 0; r < rounds; r++) {
    const order: Channel[] = r % 2 ? ['tcp', 'in-process'] : ['in-process', 'tcp'];
    for (const channel of order) {
      const f = await roundTrips(await open(server, port, channel), trips, window);
      results[channel].push(f);
      console.log(`round=${r + 1} channel=${channel} trips=${trips} window=${window} cpu µs/trip=${f.cpuUs.toFixed(2)} user=${f.userUs.toFixed(2)} sys=${f.sysUs.toFixed(2)} wall µs/trip=${f.wallUs.toFixed(2)}`);
    }
  }
  await server.close();
  const med = (c: Channel, k: keyof Figures) => median(results[c].map((f) => f[k]));
  console.log(`\ndrachtio control connection, ${trips} round trips (a frame each way) per round, ${window} in flight, ${rounds} rounds: medians`);
  for (const k of ['cpuUs', 'userUs', 'sysUs', 'wallUs'] as const) {
    const i = med('in-process', k);
    const t = med('tcp', k);
    console.log(`  ${k.padEnd(7)} in-process ${i.toFixed(2).padStart(7)} µs   tcp ${t.toFixed(2).padStart(7)} µs   in-process/tcp ${(i / t).toFixed(2)}`);
  }
}
