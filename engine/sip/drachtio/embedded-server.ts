/**
 * The embedded SIP server as one unit: the SIP stack configured the way drachtio-server behaves,
 * and the drachtio wire-protocol server in front of it. The engine runs it in-process; a test (or
 * a front node in a scale-out) can run it alone and point engines at it as an external server.
 */
import type { Logger } from '../../../config/logger.js';
import type { Config } from '../../../config/schema.js';
import { SipStack } from '../sip-stack.js';
import { stackOptionsFromConfig } from '../stack-options.js';
import { DrachtioServer } from './drachtio-server.js';

export interface EmbeddedSipServer {
  stack: SipStack;
  drachtio: DrachtioServer;
  /**
   * Where drachtio-srf connects over TCP (a wildcard listen address becomes loopback). In the
   * same process, `drachtio.control.openInProcess()` gives it a connection without TCP.
   */
  control: { host: string; port: number };
  close(): Promise<void>;
}

export async function startEmbeddedSipServer(sip: Config['sip'], log: Logger): Promise<EmbeddedSipServer> {
  // drachtio-server's ways: rport on every received Via, 100 Trying sent at once by the
  // drachtio layer, 487 to a cancelled INVITE.
  const stack = await SipStack.start(
    { ...stackOptionsFromConfig(sip), rport: 'always', tryingMs: null, answerCancelledInvite: true },
    log.child({ component: 'sip' }),
  );
  const drachtio = new DrachtioServer(stack, sip.drachtioSecret, log.child({ component: 'drachtio' }));
  let port: number;
  try {
    port = await drachtio.listen(sip.drachtioHost, sip.drachtioPort);
  } catch (e) {
    await stack.close();
    throw e;
  }
  const wildcard = sip.drachtioHost === '0.0.0.0' || sip.drachtioHost === '::';
  return {
    stack,
    drachtio,
    control: { host: wildcard ? '127.0.0.1' : sip.drachtioHost, port },
    close: async () => {
      await drachtio.close();
      await stack.close();
    },
  };
}
