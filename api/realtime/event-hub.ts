/**
 * The one subscriber of the event log on behalf of every WebSocket and SSE client. It listens
 * once and hands each event only to the clients of its tenant and mode, so an event costs the
 * clients that may see it, not every open connection. Each event is serialised once here, and each
 * text a transport makes of it (the WebSocket frame, the SSE block) is made once too: the same
 * string goes to every client, and uWS flattens and copies it once, not once per client.
 */
import type { Logger } from '../../config/logger.js';
import type { EventLog } from '../../engine/events/event-log.js';
import { realtimeEventSchema, type StoredEvent } from '../../engine/events/schemas.js';
import type { Mode } from '../../engine/store/mode.js';

/** How a transport writes an event (a WebSocket frame, an SSE block). A module-level function: it is the cache key. */
export type EventFormat = (e: HubEvent) => string;

/** An event with its JSON text, and the texts made of it, each made once for all clients. */
export class HubEvent {
  /** Texts made by `as`, by format. Most events meet one or two formats. */
  readonly #texts = new Map<EventFormat, string>();

  constructor(
    readonly event: StoredEvent,
    readonly json: string = JSON.stringify(event),
  ) {}

  /** `format(this)`, made on first use and the same string for every later client. */
  as(format: EventFormat): string {
    let text = this.#texts.get(format);
    if (text === undefined) this.#texts.set(format, (text = format(this)));
    return text;
  }
}

type HubListener = (e: HubEvent) => void;

const scopeKey = (tenantId: string, mode: Mode) => `${mode}:${tenantId}`;

export class EventHub {
  readonly #byScope = new Map<string, Set<HubListener>>();
  readonly #unsubscribe: () => void;
  #size = 0;

  constructor(
    events: EventLog,
    private readonly log: Logger,
    /** Check each event against its published schema before it leaves (tests, development). */
    private readonly validate: boolean,
  ) {
    this.#unsubscribe = events.subscribe((e) => this.#dispatch(e));
  }

  /** Clients listening now, over all tenants (leak checks). */
  get size(): number {
    return this.#size;
  }

  /** Hears the tenant's events of one mode from now on. Returns the function that stops it. */
  add(tenantId: string, mode: Mode, listener: HubListener): () => void {
    const key = scopeKey(tenantId, mode);
    let set = this.#byScope.get(key);
    if (!set) this.#byScope.set(key, (set = new Set()));
    set.add(listener);
    this.#size++;
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      set.delete(listener);
      this.#size--;
      if (set.size === 0 && this.#byScope.get(key) === set) this.#byScope.delete(key);
    };
  }

  /** Stops listening to the log. Clients are closed by their own transports. */
  close(): void {
    this.#unsubscribe();
  }

  #dispatch(event: StoredEvent): void {
    // Events without a tenant are the system's own, never sent to clients.
    if (!event.tenantId) return;
    const set = this.#byScope.get(scopeKey(event.tenantId, event.mode));
    if (!set) return;
    if (this.validate) {
      const check = realtimeEventSchema.safeParse(event);
      if (!check.success) {
        this.log.error({ eventId: event.id, type: event.type, issues: check.error.issues }, 'event does not match its published schema');
        return;
      }
    }
    const e = new HubEvent(event);
    // A copy: a listener may remove itself (a client dropped for being slow).
    for (const listener of [...set]) {
      try {
        listener(e);
      } catch (err) {
        this.log.error({ err, eventId: event.id }, 'realtime listener threw');
      }
    }
  }
}
