/**
 * The engine's long-lived parts below the API: the database, the media worker pool, the embedded
 * SIP stack and health. Later parts (call control, agents) are composed here too. `close()` tears
 * down in reverse order of start and is idempotent.
 */
import type { Logger } from '../config/logger.js';
import type { Config } from '../config/schema.js';
import { MediaService } from '../media/media-service.js';
import { WorkerPool } from '../media/worker-pool.js';
import { EventLog } from './events/event-log.js';
import { Health } from './health/health.js';
import { SipStack } from './sip/sip-stack.js';
import { stackOptionsFromConfig } from './sip/stack-options.js';
import { closeDatabase, currentVersion, openDatabase, type Db } from './store/database.js';
import { Store } from './store/store.js';

export const engineVersion = '0.1.0';

export class Engine {
  readonly health = new Health(engineVersion);
  readonly store: Store;
  readonly events: EventLog;
  /** SIP call legs (RTP on mediasoup) over the worker pool. */
  readonly mediaService: MediaService;
  #closed = false;

  private constructor(
    readonly config: Config,
    readonly log: Logger,
    readonly db: Db,
    readonly media: WorkerPool,
    /** The embedded SIP stack; null when `sip.server` is `external`. */
    readonly sip: SipStack | null,
  ) {
    this.store = new Store(db);
    this.events = new EventLog(db, log.child({ component: 'events' }));
    this.mediaService = new MediaService(media, config.rtp, log);
    const ping = db.prepare('SELECT 1');
    const schemaVersion = currentVersion(db);
    this.health.register('database', () => {
      const t0 = performance.now();
      ping.get();
      return { status: 'up', latencyMs: +(performance.now() - t0).toFixed(3), schemaVersion };
    });
    this.health.register('media', () => {
      const s = media.stats();
      const up = s.alive === s.expected;
      return {
        status: up ? 'up' : 'down',
        ...(up ? {} : { error: `${s.expected - s.alive} of ${s.expected} workers down` }),
        workers: s,
      };
    });
    if (sip) this.health.register('sip', () => sip.health());
  }

  static async start(config: Config, log: Logger): Promise<Engine> {
    const db = openDatabase(config.database.path, log);
    let media: WorkerPool;
    try {
      media = await WorkerPool.create(config, log);
    } catch (e) {
      closeDatabase(db);
      throw e;
    }
    let sip: SipStack | null = null;
    if (config.sip.server === 'embedded') {
      try {
        sip = await SipStack.start(stackOptionsFromConfig(config.sip), log.child({ component: 'sip' }));
      } catch (e) {
        media.close();
        closeDatabase(db);
        throw e;
      }
    }
    return new Engine(config, log, db, media, sip);
  }

  /** Stops work in reverse order of start: SIP, call legs, media workers, then the database (checkpointed). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.sip?.close();
    this.mediaService.close();
    this.media.close();
    closeDatabase(this.db);
    this.log.info('engine closed');
  }
}
