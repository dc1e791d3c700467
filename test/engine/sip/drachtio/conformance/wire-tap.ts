/**
 * A logging TCP proxy on the control connection, as the traces were recorded: the app connects
 * to the tap, the tap to the server; bytes pass unchanged and every frame is logged with its
 * connection number (in accept order) and direction.
 */
import net from 'node:net';
import { FrameDecoder } from '../../../../../engine/sip/drachtio/frame.js';
import type { TracedFrame } from './trace-file.js';

export class WireTap {
  readonly frames: TracedFrame[] = [];
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #conn = 0;

  private constructor(target: number) {
    this.#server = net.createServer((app) => this.#accept(app, target));
  }

  /** Listens on 127.0.0.1 (ephemeral port) and forwards to the control port `target`. */
  static async start(target: number): Promise<{ tap: WireTap; port: number }> {
    const tap = new WireTap(target);
    const port = await new Promise<number>((resolve) => tap.#server.listen(0, '127.0.0.1', () => resolve((tap.#server.address() as net.AddressInfo).port)));
    return { tap, port };
  }

  #accept(app: net.Socket, target: number): void {
    const conn = ++this.#conn;
    const server = net.connect(target, '127.0.0.1');
    for (const s of [app, server]) {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    const pipe = (from: net.Socket, to: net.Socket, dir: TracedFrame['dir']) => {
      const decoder = new FrameDecoder();
      from.on('data', (chunk: Buffer) => {
        for (const body of decoder.push(chunk)) this.frames.push({ conn, dir, body });
        to.write(chunk);
      });
      // A FIN on one side is passed on, as the recording proxy did.
      from.on('end', () => to.end());
    };
    pipe(app, server, 'app->server');
    pipe(server, app, 'server->app');
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
