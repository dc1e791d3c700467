/** Runs the real engine process (`dist/api/main.js`) for tests that need signals and exit codes. */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const mainJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../api/main.js');

export interface EngineProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnEngine(env: Record<string, string>): EngineProcess {
  const child = spawn(process.execPath, [mainJs], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AS_OUTBOUND_ALLOW_PRIVATE_NETWORKS: 'true', ...inherited(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** A TCP port that was free a moment ago (for a child process that cannot report port 0). */
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

/** Variables the engine legitimately takes from its environment. */
function inherited(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['MEDIASOUP_WORKER_BIN', 'XDG_CACHE_HOME']) {
    const v = process.env[name];
    if (v) out[name] = v;
  }
  return out;
}
