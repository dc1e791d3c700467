/**
 * One client's feed of events: live events from the hub, and on request a replay from the log
 * first (SSE `Last-Event-ID`, WebSocket `lastEventId`), with no gap and no duplicate between the
 * two.
 *
 * How: from the moment a replay starts, live events the client wants are held, not sent. The
 * replay then reads the log in pages after the client's id (`EventLog.since`) until a page comes
 * back short. The log writes an event before it announces it, so every event is either in a page
 * the replay read, or announced after the replay's last read; held events whose id the replay
 * has already passed are dropped, the others are sent after the replay, in order. While the client
 * is behind, the replay waits for it between events; live events are held meanwhile, up to a
 * bound, past which the client is dropped (it resumes from its last id, losing nothing).
 *
 * Replays and selection changes run one at a time, in the order asked.
 */
import type { EventLog } from '../../engine/events/event-log.js';
import type { StoredEvent } from '../../engine/events/schemas.js';
import { HubEvent, type EventHub } from './event-hub.js';
import { selectsNothing, type Selector } from './selection.js';
import type { Mode } from '../../engine/store/mode.js';

/** Rows read from the log per replay step: big enough to be quick, small enough to yield often. */
const PAGE_SIZE = 500;

/** Where a feed sends: an SSE stream or a WebSocket. */
interface FeedTarget {
  /** Sends one event. Returns false when the client is behind (a replay then waits for it). */
  send(e: HubEvent): boolean;
  /** Resolves when the client has caught up, or is gone. */
  caughtUp(): Promise<void>;
  /** The feed cannot hold more for the client: drop it (it can resume). */
  overflow(reason: string): void;
}

/** What to replay before going live with a new selection. */
interface Resume {
  /** The last event id the client has; events after it are replayed. */
  after: number;
  /** Events to replay: those `added` takes and `before` (the selection already live) does not. */
  added: Selector;
  before: Selector;
}

interface FeedOptions {
  hub: EventHub;
  events: EventLog;
  tenantId: string;
  mode: Mode;
  target: FeedTarget;
  /** Live events held during a replay before the client is dropped. */
  maxHeld: number;
}

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

export class EventFeed {
  #selector: Selector = selectsNothing;
  #held: HubEvent[] | null = null;
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;
  readonly #stop: () => void;

  constructor(private readonly opts: FeedOptions) {
    this.#stop = opts.hub.add(opts.tenantId, opts.mode, (e) => this.#onLive(e));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends what `next` selects from now on; with `resume`, first replays what the client missed.
   * Resolves with the number of events replayed.
   */
  select(next: Selector, resume?: Resume): Promise<number> {
    const run = () => (resume ? this.#replay(next, resume) : ((this.#selector = next), 0));
    const done = this.#chain.then(run);
    this.#chain = done.catch(() => undefined);
    return done;
  }

  /** Stops the feed (the client is gone). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#held = null;
    this.#stop();
  }

  #onLive(e: HubEvent): void {
    if (this.#closed || !this.#selector(e.event)) return;
    if (!this.#held) {
      this.opts.target.send(e);
      return;
    }
    this.#held.push(e);
    if (this.#held.length > this.opts.maxHeld) {
      this.opts.target.overflow(`more than ${this.opts.maxHeld} live events arrived while it replayed`);
    }
  }

  async #replay(next: Selector, { after, added, before }: Resume): Promise<number> {
    if (this.#closed) return 0;
    const { events, tenantId, mode, target } = this.opts;
    const fresh = (e: StoredEvent) => added(e) && !before(e);
    // Hold live events from here on; the first page is read in this same turn of the loop.
    this.#selector = next;
    this.#held = [];
    let cursor = after;
    let replayed = 0;
    try {
      for (;;) {
        const rows = events.since(cursor, tenantId, mode, PAGE_SIZE);
        for (const e of rows) {
          if (this.#closed) return replayed;
          cursor = e.id;
          if (!fresh(e)) continue;
          replayed++;
          if (!target.send(new HubEvent(e))) await target.caughtUp();
        }
        if (rows.length < PAGE_SIZE || this.#closed) break;
        await yieldToLoop();
      }
      const held = this.#held ?? [];
      this.#held = null;
      // Held events the replay passed were sent by it, unless the replay left them to the
      // selection that was already live.
      for (const e of held) if (e.event.id > cursor || before(e.event)) target.send(e);
      return replayed;
    } finally {
      this.#held = null;
    }
  }
}
