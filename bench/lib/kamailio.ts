/**
 * Kamailio (Debian) as the C peer of SIP benchmarks: bench/peers/kamailio.cfg, which answers
 * INVITE, ACK and BYE statelessly, on UDP 127.0.0.1:<port>, in the foreground (-DD) with one
 * receiving child per core.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './proc.js';

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

function answersOptions(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 300);
    s.on('message', (m) => done(m.toString().startsWith('SIP/2.0 200')));
    s.bind(0, '127.0.0.1', () => {
      const lp = s.address().port;
      const msg = [
        `OPTIONS sip:ping@127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${lp};branch=z9hG4bK-ping${Date.now()}`,
        'Max-Forwards: 70',
        `From: <sip:bench@127.0.0.1:${lp}>;tag=ping`,
        `To: <sip:ping@127.0.0.1:${port}>`,
        `Call-ID: ping-${Date.now()}@127.0.0.1`,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      s.send(msg, port, '127.0.0.1');
    });
  });
}
