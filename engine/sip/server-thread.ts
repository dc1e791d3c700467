/**
 * Worker-thread entry of the embedded SIP server (`sip.server = thread`): the same SIP stack and
 * drachtio wire-protocol server as in-process, on their own event loop. Call control, on the
 * engine's loop, connects to it over TCP loopback exactly as it would to an external
 * drachtio-server (the in-process channel of `embedded` mode needs one event loop). Messages
 * with the engine: `{ type: 'listening', port }` or `{ type: 'failed', message }` once started;
 * `health` and `metrics` requests and the answers; `stop`.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../config/logger.js';
import type { Config } from '../../config/schema.js';
import { startEmbeddedSipServer } from './drachtio/embedded-server.js';
import type { ThreadReply, ThreadRequest } from './sip-thread.js';
import { serveWsBridge, type WsToThread } from './transport/ws-bridge.js';
import { WsTransport } from './transport/ws-transport.js';

const { sip, log: logSettings } = workerData as { sip: Config['sip']; log: Config['log'] };
const port = parentPort!;
const log = createLogger(logSettings).child({ thread: 'sip' });
const post = (m: ThreadReply) => port.postMessage(m);
/** Sampling period of the loop-delay histogram: prom-client's default for the engine's loop. */
const LOOP_DELAY_RESOLUTION_MS = 10;

try {
  // The same server as in-process (see embedded-server.ts), on this thread's event loop.
  const server = await startEmbeddedSipServer(sip, log);
  post({ type: 'listening', port: server.control.port });
  // This thread's event-loop delay, for the metrics endpoint (the engine's own loop is measured there).
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  loopDelay.enable();
  const ws = server.stack.transport.transport('ws');
  const onWs = ws instanceof WsTransport ? serveWsBridge(ws, (m, transfer) => port.postMessage(m satisfies ThreadReply, transfer ?? [])) : undefined;
  port.on('message', (m: ThreadRequest) => {
    if (m.type.startsWith('ws-')) {
      onWs?.(m as WsToThread);
    } else if (m.type === 'health') {
      post({ type: 'health', id: m.id, health: { ...server.stack.health(), apps: server.drachtio.stats().apps } });
    } else if (m.type === 'metrics') {
      // Figures since the previous scrape. Node's histogram holds whole sampling intervals
      // (resolution + delay): the resolution is taken off, so an idle loop reports 0.
      const delay = (ns: number) => Math.max(0, ns / 1e9 - LOOP_DELAY_RESOLUTION_MS / 1000);
      const d = loopDelay.count ? { p50: delay(loopDelay.percentile(50)), p99: delay(loopDelay.percentile(99)), max: delay(loopDelay.max) } : { p50: 0, p99: 0, max: 0 };
      loopDelay.reset();
      post({ type: 'metrics', id: m.id, metrics: { ...server.stack.metrics(), threadLoopDelay: d } });
    } else if (m.type === 'stop') {
      void server.close().finally(() => log.flush(() => port.close()));
    }
  });
} catch (err) {
  post({ type: 'failed', message: (err as Error).message });
  port.close();
}
