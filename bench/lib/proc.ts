/** Starts a server process for a benchmark and waits until it answers. */
import { spawn, type ChildProcess } from 'node:child_process';
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
