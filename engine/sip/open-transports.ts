/** Opens the listening transports a stack is configured with. */
import type { Logger } from '../../config/logger.js';
import type { SourceGuard } from './abuse/source-guard.js';
import type { SipStackOptions } from './stack-options.js';
import { StreamTransport } from './transport/stream-transport.js';
import type { Transport } from './transport/types.js';
import { WsTransport } from './transport/ws-transport.js';
import { UdpTransport } from './transport/udp-transport.js';

/**
 * Binds UDP and TCP on one port number (retrying a free pair for port 0), then TLS, then the
 * WebSocket transport (which binds nothing itself: see WsGateway). With a
 * guard, stream listeners refuse connections from banned sources.
 */
export async function openTransports(o: SipStackOptions, log: Logger, guard?: SourceGuard): Promise<Transport[]> {
  const streamOpts = (port: number) => ({
    host: o.host,
    port,
    limits: o.limits,
    idleMs: o.connectionIdleMs,
    partialMessageMs: o.partialMessageMs,
    connectTimeoutMs: o.connectTimeoutMs,
    maxConnections: o.maxConnections,
    maxWriteBuffer: o.maxWriteBuffer,
    ...(guard ? { admit: (address: string) => guard.admitConnection(address) } : {}),
    ...(o.tls ? { tls: { cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, rejectUnauthorized: o.tls.rejectUnauthorized ?? true } } : {}),
  });
  const plain = o.transports.filter((p): p is 'udp' | 'tcp' => p === 'udp' || p === 'tcp');
  const opened: Transport[] = [];
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        let port = o.port;
        for (const p of plain) {
          const t = p === 'udp' ? await UdpTransport.listen(o.host, port, log) : await StreamTransport.listen('tcp', streamOpts(port), log);
          opened.push(t);
          port = t.local.port;
        }
        break;
      } catch (e) {
        await Promise.all(opened.splice(0).map((t) => t.close()));
        if (o.port !== 0 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 10) throw e;
      }
    }
    if (o.transports.includes('tls')) {
      if (!o.tls) throw new Error('sip: tls transport needs a certificate and key');
      opened.push(await StreamTransport.listen('tls', streamOpts(o.tlsPort), log));
    }
    // SIP over WebSocket: the HTTP server accepts the sockets and hands them over (WsGateway).
    if (o.transports.includes('ws')) opened.push(new WsTransport(log));
    return opened;
  } catch (e) {
    await Promise.all(opened.map((t) => t.close()));
    throw e;
  }
}

