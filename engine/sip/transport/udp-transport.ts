/**
 * SIP over UDP (RFC 3261 §18): one bound datagram socket, each datagram one message.
 *
 * §18.1.1 asks a client to switch to TCP when a request is "within 200 bytes of the path MTU, or
 * ... larger than 1300 bytes". This transport is simplified: it sends any message that fits in a
 * datagram (65,507 bytes) and refuses larger ones with a `too-large` error; the choice of TCP is
 * left to whoever picks the target.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from '../../../config/logger.js';
import { TypedEmitter } from '../../../lib/typed-emitter.js';
import { TransportError, normalizeAddress, type Destination, type Endpoint, type SentInfo, type Transport, type TransportEvents } from './types.js';

/** The largest UDP payload over IPv4 (65,535 - 8 byte UDP header - 20 byte IP header). */
const MAX_DATAGRAM = 65_507;

export class UdpTransport extends TypedEmitter<TransportEvents> implements Transport {
  readonly protocol = 'udp' as const;
  readonly reliable = false;
  #closed: Promise<void> | undefined;
  #listening = true;

  private constructor(
    private readonly socket: dgram.Socket,
    readonly local: Endpoint,
    private readonly log: Logger,
  ) {
    super((event, error) => log.error({ err: error, event }, 'udp transport listener failed'));
    socket.on('message', (raw, rinfo) => {
      this.emit('message', raw, {
        protocol: 'udp',
        remote: { address: normalizeAddress(rinfo.address), port: rinfo.port },
        local: this.local,
        connectionId: null,
      });
    });
    socket.on('error', (err) => log.warn({ err }, 'udp socket error'));
    socket.on('close', () => (this.#listening = false));
  }

  /** Binds `host:port` (port 0: any free port; read it from `local`). */
  static listen(host: string, port: number, log: Logger): Promise<UdpTransport> {
    const socket = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        socket.close();
        reject(err);
      };
      socket.once('error', onError);
      socket.bind(port, host, () => {
        socket.off('error', onError);
        const a = socket.address();
        resolve(new UdpTransport(socket, { address: normalizeAddress(a.address), port: a.port }, log));
      });
    });
  }

  send(data: Buffer, dest: Destination): Promise<SentInfo> {
    if (this.#closed) return Promise.reject(new TransportError('closed', 'udp transport closed'));
    if (data.length > MAX_DATAGRAM) {
      return Promise.reject(new TransportError('too-large', `message of ${data.length} bytes does not fit in a UDP datagram`));
    }
    return new Promise((resolve, reject) => {
      this.socket.send(data, dest.port, dest.address, (err) => {
        if (err) reject(new TransportError('send', `udp send to ${dest.address}:${dest.port} failed: ${err.message}`));
        else {
          resolve({
            protocol: 'udp',
            remote: { address: dest.address, port: dest.port },
            local: this.local,
            raw: data,
            bytes: data.length,
            connectionId: null,
            sentAt: new Date(),
          });
        }
      });
    });
  }

  get listening(): boolean {
    return this.#listening;
  }

  isOpen(): boolean {
    return false;
  }

  connectionCount(): number {
    return 0;
  }

  closeConnection(): boolean {
    return false;
  }

  closeFrom(): number {
    return 0;
  }

  close(): Promise<void> {
    this.#closed ??= new Promise((resolve) => {
      this.removeAllListeners();
      this.socket.close(() => resolve());
    });
    return this.#closed;
  }
}
