/** Starts a real SipStack on 127.0.0.1, port 0, with short timers, for tests. */
import type { Logger } from '../../config/logger.js';
import { SipStack } from '../../engine/sip/sip-stack.js';
import { stackOptionsFromConfig, type SipStackOptions } from '../../engine/sip/stack-options.js';
import { createLogger } from '../../config/logger.js';
import { testConfig, testLogger } from './config.js';

/** Test timers: T1 = 50 ms keeps every wait short; T2 and T4 keep their RFC ratios roughly. */
const TEST_TIMERS = { t1: 50, t2: 200, t4: 250 };

export async function startStack(overrides: Partial<SipStackOptions> = {}, log?: Logger): Promise<SipStack> {
  const config = testConfig();
  const options: SipStackOptions = {
    ...stackOptionsFromConfig(config.sip),
    timers: TEST_TIMERS,
    tryingMs: null,
    ...overrides,
  };
  return SipStack.start(options, log ?? testLogger(config));
}

/** The stack's UDP port (UDP and TCP share it). */
export function portOf(stack: SipStack, protocol: 'udp' | 'tcp' | 'tls' = 'udp'): number {
  const p = stack.listening().find((l) => l.protocol === protocol);
  if (!p) throw new Error(`stack has no ${protocol} listener`);
  return p.port;
}

/** A logger that keeps the lines at `warn` and above, to assert that nothing went wrong inside. */
export function capturingLogger(): { log: Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const log = createLogger({ level: 'warn', pretty: false }, {
    write: (s: string) => {
      const o = JSON.parse(s) as { level: number; msg: string };
      lines.push({ level: o.level, msg: o.msg });
    },
  });
  return { log, lines };
}
