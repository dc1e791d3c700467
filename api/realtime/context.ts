/** What the WebSocket and SSE endpoints share: built once by `Realtime`. */
import type { Logger } from '../../config/logger.js';
import type { Config } from '../../config/schema.js';
import type { EventLog } from '../../engine/events/event-log.js';
import type { Store } from '../../engine/store/store.js';
import type { RateLimiter } from '../middleware/rate-limit.js';
import type { Connections } from './connections.js';
import type { EventHub } from './event-hub.js';
import type { TurnBatches } from './turn-batch.js';

export interface RealtimeContext {
  hub: EventHub;
  events: EventLog;
  store: Store;
  connections: Connections;
  /** Each connection's writes of a turn, flushed together (`turn-batch.ts`). */
  turns: TurnBatches;
  settings: Config['realtime'];
  /** Requests per minute of callers without their own limit (for re-checked callers). */
  defaultRateLimit: number;
  /** The callers' request budgets, shared with the REST API: WebSocket requests spend them too. */
  limiter: RateLimiter;
  log: Logger;
}
