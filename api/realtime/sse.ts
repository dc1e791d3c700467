/**
 * Server-Sent Events: `GET /api/v1/events` for the dashboard, and the tickets that let a browser's
 * EventSource (which cannot send headers) authenticate.
 *
 * The stream (`text/event-stream`), one block per event:
 *
 *     id: 42
 *     event: call.answered
 *     data: {"id":42,"type":"call.answered","tenantId":"…","mode":"live","callId":"…",…}
 *
 * - First a `retry:` line (the reconnection delay), then, with `Last-Event-ID` (header, as
 *   EventSource sends it on reconnection) or `?lastEventId=` (for a new EventSource), the events
 *   after that id from the log, then live ones: no gap, no duplicate (see `event-feed.ts`).
 * - Only the caller's tenant and mode (a test key sees test events); `callId`, `agentId` and
 *   `types` (comma-separated) narrow it further, all given must hold.
 * - A comment line (`: heartbeat`) every `realtime.heartbeatMs` (15 s), at which the caller is
 *   checked again: a revoked key or disabled user has its stream ended.
 * - The blocks of one turn of the loop leave as one chunk (`turn-batch.ts`), in publish order; a
 *   heartbeat or the end of the stream first writes what the turn queued.
 * - A client more than `realtime.maxBufferedBytes` behind after a chunk is dropped with a log
 *   line; so is one that takes nothing for ~10 s while data waits (uWS's timeout). It reconnects
 *   and resumes.
 */
import { z } from 'zod';
import type { Logger } from '../../config/logger.js';
import { emittedEventTypes, realtimeEventSchema } from '../../engine/events/schemas.js';
import { AppError, zodDetails } from '../http/errors.js';
import { Reply, route, type AuthContext, type RouteDef } from '../http/route.js';
import type { ResponseStream } from '../http/stream.js';
import { callerRef, currentCaller, type CallerRef } from './caller.js';
import type { Connection } from './connections.js';
import type { RealtimeContext } from './context.js';
import { EventFeed } from './event-feed.js';
import type { HubEvent } from './event-hub.js';
import { eventTypeSchema, filterSelector, selectsNothing, type StreamFilter } from './selection.js';
import type { EventTickets } from './tickets.js';
import { BATCH_HIGH_WATER, type TurnBatch } from './turn-batch.js';

export const SSE_PATH = '/api/v1/events';
const TICKETS_PATH = '/api/v1/events/tickets';

/** How long EventSource waits before reconnecting (its `retry:` field). */
const RETRY_MS = 2000;

/** The access both routes need: any role, and `events:read` for scoped keys. */
const eventsRead = { scope: 'events:read' } as const;

const eventIdText = z.string().regex(/^\d{1,15}$/, 'must be an event id (a non-negative integer)');

const streamQuery = z.object({
  ticket: z.string().optional().meta({ description: 'A ticket from `POST /api/v1/events/tickets`, for clients that cannot send headers' }),
  lastEventId: eventIdText.optional().meta({ description: 'Resume after this event id (the `Last-Event-ID` header wins when both are sent)' }),
  callId: z.string().max(64).optional().meta({ description: "Only this call's events" }),
  agentId: z.string().max(64).optional().meta({ description: "Only this agent's events" }),
  types: z
    .string()
    .transform((s) => s.split(',').map((t) => t.trim()).filter(Boolean))
    .pipe(z.array(eventTypeSchema).min(1))
    .optional()
    .meta({
      description: `Only these event types, comma-separated (e.g. \`call.started,call.ended\`): ${emittedEventTypes.join(', ')}. Reserved types (documented, not sent yet) are a validation_error`,
    }),
});

const ticketSchema = z
  .object({
    ticket: z.string().meta({ description: 'Pass as `?ticket=` to `GET /api/v1/events`; good once' }),
    expiresAt: z.iso.datetime(),
    expiresIn: z.number().int().meta({ description: 'Seconds' }),
  })
  .meta({ id: 'EventTicket' });

const streamDescription = [
  'Server-Sent Events: the same events as the WebSocket, as `text/event-stream`. Each event is',
  'a block `id: <log id>`, `event: <type>`, `data: <the event as JSON>` (schema below); a comment',
  `line \`: heartbeat\` comes every 15 s. Send \`Last-Event-ID\` (or \`?lastEventId=\`) to get the events`,
  'after that id first, then live ones, with no gap and no duplicate.',
  '',
  'Authenticate with `X-API-Key` or `Authorization: Bearer`, or (browsers: EventSource cannot',
  'send headers) with `?ticket=` from `POST /api/v1/events/tickets`. A ticket is good once, for',
  'one minute: when EventSource reconnects with a spent ticket it gets 401; get a new ticket and',
  'open a new EventSource with `?ticket=…&lastEventId=<last id seen>`.',
  '',
  'A client too far behind (1 MiB unread by default) is disconnected; it resumes the same way. So',
  'is a stream whose caller is revoked, disabled or signed out, or whose access token expired.',
].join('\n');

export function sseRoutes(ctx: RealtimeContext, tickets: EventTickets): RouteDef[] {
  return [
    route({
      method: 'get',
      path: SSE_PATH,
      auth: eventsRead,
      summary: "Stream the tenant's events (Server-Sent Events)",
      description: streamDescription,
      tags: ['Real time'],
      operationId: 'streamEvents',
      query: streamQuery,
      response: realtimeEventSchema,
      produces: 'text/event-stream',
      handler: ({ auth, query, req, log }) => {
        const after = resumePoint(req.headers['last-event-id'], query.lastEventId);
        const filter: StreamFilter = { callId: query.callId, agentId: query.agentId, types: query.types };
        const caller = tickets.callerOf(auth) ?? callerRef(auth, req.headers['authorization']);
        return Reply.stream('text/event-stream; charset=utf-8', (stream) => openStream(ctx, auth, caller, stream, filter, after, log), ':\n', {
          // Proxies (nginx) must not buffer the stream.
          'x-accel-buffering': 'no',
        });
      },
    }),
    route({
      method: 'post',
      path: TICKETS_PATH,
      auth: eventsRead,
      summary: 'Get a one-minute, single-use ticket for the event stream',
      description: 'For browsers: `new EventSource("/api/v1/events?ticket=" + ticket)`. Never put an API key or token in a URL.',
      tags: ['Real time'],
      operationId: 'createEventTicket',
      status: 201,
      response: ticketSchema,
      handler: ({ auth, req }) => tickets.issue(auth, req.headers['authorization']),
    }),
  ];
}

/** The id to resume after: the header (EventSource's reconnection) wins over the query. */
function resumePoint(header: string | undefined, query: string | undefined): number | null {
  if (header !== undefined && header.trim() !== '') {
    const r = eventIdText.safeParse(header.trim());
    if (!r.success) throw new AppError('validation_error', 'Invalid Last-Event-ID', zodDetails(r.error, 'headers.last-event-id'));
    return Number(r.data);
  }
  return query === undefined ? null : Number(query);
}

function openStream(
  ctx: RealtimeContext,
  auth: AuthContext,
  caller: CallerRef,
  stream: ResponseStream,
  filter: StreamFilter,
  after: number | null,
  log: Logger,
): void {
  const client = new SseClient(ctx, auth, caller, stream, log);
  client.start(filter, after);
}

/** One event as an SSE block; made once per event for every stream (`HubEvent.as`). */
const eventBlock = (e: HubEvent) => `id: ${e.event.id}\nevent: ${e.event.type}\ndata: ${e.json}\n\n`;

/** One open stream: its feed, heartbeats and the bound on how far behind it may fall. */
class SseClient implements Connection {
  readonly #feed: EventFeed;
  readonly #log: Logger;
  /** This turn's blocks, written as one chunk. */
  readonly #out: TurnBatch;
  /** Ended or dropped by the server (not a stall that uWS cut off). */
  #endedHere = false;

  constructor(
    private readonly ctx: RealtimeContext,
    auth: AuthContext,
    /** Who to check again on each heartbeat. */
    private readonly caller: CallerRef,
    private readonly stream: ResponseStream,
    log: Logger,
  ) {
    this.#log = log.child({ component: 'sse', tenantId: auth.tenantId, mode: auth.mode });
    this.#out = ctx.turns.batch((texts) => this.#write(texts.length === 1 ? texts[0]! : texts.join('')));
    this.#feed = new EventFeed({
      hub: ctx.hub,
      events: ctx.events,
      tenantId: auth.tenantId,
      mode: auth.mode,
      maxHeld: ctx.settings.maxPendingEvents,
      target: {
        send: (e) => this.#queue(e.as(eventBlock)),
        caughtUp: () => {
          this.#out.flush();
          return stream.caughtUp();
        },
        overflow: (reason) => this.#drop(reason),
      },
    });
    ctx.connections.add(this);
    stream.onClose(() => {
      this.#out.drop();
      // uWS closed a client that took nothing for its timeout while data waited.
      if (!this.#endedHere && stream.bufferedBytes > 0) this.#log.warn({ bufferedBytes: stream.bufferedBytes }, 'sse client stalled; dropped');
      this.#feed.close();
      ctx.connections.delete(this);
      this.#log.debug('sse client gone');
    });
  }

  start(filter: StreamFilter, after: number | null): void {
    this.#out.push(`retry: ${RETRY_MS}\n\n`);
    const selector = filterSelector(filter);
    const done = after === null ? this.#feed.select(selector) : this.#feed.select(selector, { after, added: selector, before: selectsNothing });
    done.then(
      (replayed) => this.#log.debug({ after, replayed }, 'sse client live'),
      (err: unknown) => {
        this.#log.error({ err }, 'sse replay failed');
        this.stream.close();
      },
    );
  }

  heartbeat(): void {
    try {
      currentCaller(this.ctx.store, this.caller, this.ctx.defaultRateLimit);
    } catch (err) {
      this.#log.info({ why: (err as Error).message }, 'sse caller no longer valid; stream ended');
      this.#end();
      return;
    }
    // Behind what the turn queued, in the same chunk.
    this.#out.push(': heartbeat\n\n');
    this.#out.flush();
  }

  shutdown(): void {
    this.#end();
  }

  /** Queues for the turn's chunk; false when the client is behind or the chunk is full (a replay then waits). */
  #queue(block: string): boolean {
    if (this.stream.closed) return false;
    this.#out.push(block);
    return this.stream.bufferedBytes === 0 && this.#out.chars <= BATCH_HIGH_WATER;
  }

  /** Writes a chunk, and drops the client once it is more than the bound behind; a write that throws closes it. */
  #write(chunk: string): void {
    if (this.stream.closed) return;
    let ok: boolean;
    try {
      ok = this.stream.write(chunk);
    } catch (err) {
      this.#log.error({ err }, 'sse write threw; closed');
      this.#endedHere = true;
      this.#close();
      return;
    }
    if (!ok && this.stream.bufferedBytes > this.ctx.settings.maxBufferedBytes) {
      this.#drop(`more than ${this.ctx.settings.maxBufferedBytes} bytes unread`);
    }
  }

  /** Ends the stream cleanly, after what the turn queued. */
  #end(): void {
    this.#out.flush();
    this.#endedHere = true;
    this.stream.end();
  }

  #drop(reason: string): void {
    if (this.stream.closed) return;
    this.#log.warn({ reason, bufferedBytes: this.stream.bufferedBytes }, 'sse client too slow; dropped');
    this.#endedHere = true;
    this.#close();
  }

  #close(): void {
    this.#out.drop();
    try {
      this.stream.close();
    } catch (err) {
      this.#log.debug({ err }, 'sse close threw (already closed)');
    }
  }
}
