/**
 * The system under test, as the engine composes it (engine/engine.ts) but without the engine's
 * call control: a SipStack on 127.0.0.1 port 0 with drachtio-server's ways (`rport: 'always'`,
 * `tryingMs: null`, `answerCancelledInvite: true`) and a DrachtioServer on an ephemeral control
 * port. drachtio-srf apps connect to it as they would to the docker testbed's `drachtio-sut`, by
 * default over the in-process channel the engine uses in `embedded` mode.
 */
import Srf from 'drachtio-srf';
import { connectInProcess } from '../../../../../engine/calls/srf-in-process.js';
import { DrachtioServer } from '../../../../../engine/sip/drachtio/drachtio-server.js';
import { SipStack } from '../../../../../engine/sip/sip-stack.js';
import { stackOptionsFromConfig } from '../../../../../engine/sip/stack-options.js';
import { testConfig, testLogger } from '../../../../helpers/config.js';
import type { SrfApp } from './srf-app.js';

/** drachtio-srf's test/config/test.json secret. */
export const SECRET = 'cymru';

export interface SutOptions {
  /** RFC 3261 T1 in ms (default 500, the RFC's): timers B, F, H and the 2xx ACK wait are 64*T1. */
  t1?: number;
  /**
   * How apps reach the server: `in-process` (default), as the engine's call control does in
   * `embedded` mode, or `tcp` to the control port, as drachtio-srf reaches any server. The
   * trace replays (trace-shapes.test.ts) always use TCP through their wire tap.
   */
  channel?: 'in-process' | 'tcp';
}

export class Sut {
  readonly #apps: SrfApp[] = [];

  private constructor(
    readonly stack: SipStack,
    readonly server: DrachtioServer,
    readonly controlPort: number,
    readonly channel: 'in-process' | 'tcp',
  ) {}

  static async start(opts: SutOptions = {}): Promise<Sut> {
    const config = testConfig();
    const log = testLogger(config);
    const t1 = opts.t1 ?? 500;
    const stack = await SipStack.start(
      {
        ...stackOptionsFromConfig(config.sip),
        // T2 = 8*T1 and T4 = 10*T1 keep RFC 3261's ratios (4 s and 5 s at T1 = 500 ms).
        timers: { t1, t2: 8 * t1, t4: 10 * t1 },
        rport: 'always',
        tryingMs: null,
        answerCancelledInvite: true,
      },
      log.child({ component: 'sut-sip' }),
    );
    const server = new DrachtioServer(stack, SECRET, log.child({ component: 'sut-drachtio' }));
    const controlPort = await server.listen('127.0.0.1', 0);
    return new Sut(stack, server, controlPort, opts.channel ?? 'in-process');
  }

  /** The SUT's SIP address, `127.0.0.1:<port>` (UDP and TCP share it). */
  get sipHostport(): string {
    const udp = this.stack.listening().find((l) => l.protocol === 'udp');
    return `127.0.0.1:${udp?.port ?? 0}`;
  }

  /** drachtio-srf's connect options for this SUT (test.json's `drachtio-sut`, with our port). */
  get connectOptions(): { host: string; port: number; secret: string } {
    return { host: '127.0.0.1', port: this.controlPort, secret: SECRET };
  }

  /** A new drachtio-srf app connected to this SUT; resolves on its `connect` event. */
  async connect(tags?: string | string[]): Promise<SrfApp> {
    const srf = (tags === undefined ? new Srf() : new Srf(tags)) as unknown as SrfApp;
    this.#apps.push(srf);
    await new Promise<void>((resolve, reject) => {
      srf.on('connect', (err: Error | null) => (err ? reject(err) : resolve()));
      if (this.channel === 'tcp') srf.connect(this.connectOptions);
      else connectInProcess(srf as unknown as Srf, { secret: SECRET }, () => this.server.control.openInProcess());
    });
    return srf;
  }

  /** Disconnects every app still connected, then closes the server and the stack. */
  async close(): Promise<void> {
    for (const app of this.#apps) {
      try {
        app.disconnect();
      } catch {
        // already disconnected
      }
    }
    await this.server.close();
    await this.stack.close();
  }
}
