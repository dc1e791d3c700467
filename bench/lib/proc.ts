/** Starts a server process for a benchmark and waits until it answers. */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/**
 * SIPp's media ports: `-mp` for audio, +2 for video (each with its RTCP, +1). They come from
 * 6000-9999, a range no engine under test uses (their RTP blocks are 20000-59999, SIP ports are
 * ephemeral), and are probed free over UDP first: a SIPp that cannot bind them exits before its
 * first INVITE ("Unable to bind video RTP socket ... Address already in use").
 */
export async function sippMediaPort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 6000 + 4 * Math.floor(Math.random() * 999);
    if (await udpFree(host, [base, base + 1, base + 2, base + 3])) return base;
  }
  throw new Error('no free media port block for SIPp in 6000-9999');
}

async function udpFree(host: string, ports: number[]): Promise<boolean> {
  const bound: dgram.Socket[] = [];
  try {
    for (const port of ports) {
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind({ address: host, port, exclusive: true }, () => resolve());
      });
      bound.push(sock);
    }
    return true;
  } catch {
    return false;
  } finally {
    for (const sock of bound) sock.close();
  }
}

export interface Server {
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startServer(cmd: string, args: string[], env: Record<string, string>, readyUrl: string): Promise<Server> {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const end = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${cmd} ${args.join(' ')} exited: ${err}`);
    try {
      if ((await fetch(readyUrl)).ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > end) throw new Error(`${readyUrl} not ready: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
