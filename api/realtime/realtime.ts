/**
 * The real-time surface: the event hub, the SSE stream and its tickets, the WebSocket endpoint,
 * and their part of the OpenAPI document. `app.ts` builds one and wires it into the HTTP server.
 */
import type { TemplatedApp } from 'uWebSockets.js';
import type { Logger } from '../../config/logger.js';
import type { Config } from '../../config/schema.js';
import type { EventLog } from '../../engine/events/event-log.js';
import type { Store } from '../../engine/store/store.js';
import type { Authenticator } from '../http/adapter.js';
import type { RouteDef } from '../http/route.js';
import type { CommandDeps } from './commands.js';
import { Connections } from './connections.js';
import type { RealtimeContext } from './context.js';
import { EventHub } from './event-hub.js';
import { wsRoute } from './openapi-realtime.js';
import { SSE_PATH, sseRoutes } from './sse.js';
import type { RateLimiter } from '../middleware/rate-limit.js';
import { EventTickets } from './tickets.js';
import { TurnBatches } from './turn-batch.js';
import { mountWebSocket } from './ws-server.js';

interface RealtimeOptions {
  events: EventLog;
  store: Store;
  /** Call commands (hangup, say, dtmf, mute, transfer), shared with the REST call actions. */
  commands: CommandDeps;
  /** The REST authenticator (headers). */
  authenticate: Authenticator;
  settings: Config['realtime'];
  defaultRateLimit: number;
  /** The REST API's rate limiter, so WebSocket requests count against the same budgets. */
  limiter: RateLimiter;
  /** Check outgoing frames and events against their schemas (tests, development). */
  validate: boolean;
  log: Logger;
}

export class Realtime {
  readonly hub: EventHub;
  readonly tickets: EventTickets;
  readonly connections: Connections;
  readonly #ctx: RealtimeContext;
  #closed = false;

  constructor(private readonly o: RealtimeOptions) {
    const log = o.log.child({ component: 'realtime' });
    this.hub = new EventHub(o.events, log, o.validate);
    this.tickets = new EventTickets(o.store, o.settings.ticketTtlSeconds, o.defaultRateLimit);
    this.connections = new Connections(o.settings.heartbeatMs);
    this.#ctx = {
      hub: this.hub,
      events: o.events,
      store: o.store,
      connections: this.connections,
      turns: new TurnBatches(log),
      settings: o.settings,
      defaultRateLimit: o.defaultRateLimit,
      limiter: o.limiter,
      log,
    };
  }

  /** The SSE stream, its tickets, and the WebSocket endpoint's answer to a plain GET. */
  routes(): RouteDef[] {
    return [...sseRoutes(this.#ctx, this.tickets), wsRoute()];
  }

  /** The authenticator for the HTTP adapter: the REST one, plus `?ticket=` on the SSE stream. */
  authenticator(): Authenticator {
    return this.tickets.authenticator(this.o.authenticate, new Set([SSE_PATH]));
  }

  /** Mounts the WebSocket endpoint; call before the adapter's catch-all. */
  mount(app: TemplatedApp): void {
    mountWebSocket(app, {
      ctx: this.#ctx,
      authenticate: this.o.authenticate,
      commands: this.o.commands,
      validate: this.o.validate,
    });
  }

  /** Ends every WebSocket (1001) and SSE stream, and stops listening to the log. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.connections.close();
    this.hub.close();
  }
}
