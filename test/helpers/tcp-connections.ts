/** Established TCP connections as the kernel lists them, for tests that must see which channel is in use. */
import fs from 'node:fs';

/** Established TCP connections with `port` at either end, from /proc/net/tcp and tcp6. */
export function tcpConnectionsOn(port: number): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').slice(1) : [];
    for (const line of lines) {
      const [, local, remote, state] = line.trim().split(/\s+/);
      if (state === '01' && (local?.endsWith(hex) || remote?.endsWith(hex))) n++;
    }
  }
  return n;
}
