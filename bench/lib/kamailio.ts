/**
 * Kamailio (Debian) as the C peer of SIP benchmarks: bench/peers/kamailio.cfg, which answers
 * INVITE, ACK and BYE statelessly, on UDP 127.0.0.1:<port>, in the foreground (-DD) with one
 * receiving child per core.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './proc.js';
import { answersOptions } from './sip-options.js';

const cfg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bench/peers/kamailio.cfg');

interface Kamailio {
  child: ChildProcess;
  pid: number;
  port: number;
  stop(): Promise<void>;
}

export async function startKamailio(): Promise<Kamailio> {
  const port = await freePort();
  const children = String(os.availableParallelism());
  const child = spawn('kamailio', ['-f', cfg, '-l', `udp:127.0.0.1:${port}`, '-DD', '-E', '-n', children, '-m', '256'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-10_000)));
  // Ready when it answers an OPTIONS.
  const end = Date.now() + 10_000;
  while (!(await answersOptions(port))) {
    if (child.exitCode !== null) throw new Error(`kamailio exited ${child.exitCode}: ${err}`);
    if (Date.now() > end) throw new Error(`kamailio not answering on ${port}: ${err}`);
  }
  return {
    child,
    pid: child.pid!,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
