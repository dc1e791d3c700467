/**
 * One WebSocket connection's protocol (see `ws-frames.ts` for the frames): authentication,
 * topics and their feed, requests and their answers, and the bounds a connection lives within.
 * The uWS wiring is in `ws-server.ts`; this class sees the socket only through `WsSocket`.
 *
 * - Not authenticated by the upgrade's header: the first frame must be `auth`, within
 *   `realtime.wsAuthTimeoutMs`; anything else, a bad credential or the time running out is an
 *   `error` frame, then close 4401 `authentication_error`. Frames sent right behind `auth` wait
 *   for it.
 * - A frame that is not JSON, is binary or does not match its schema gets an `error` frame
 *   (`validation_error`, with the id when it could be read); the connection stays open.
 * - Every frame leaves through the connection's batch for the turn (`turn-batch.ts`), written in
 *   one `cork()`: events, replayed events, replies and errors keep the order they were made in.
 * - More than `realtime.maxBufferedBytes` unread after a batch: close 1008 `slow_consumer` and a
 *   log line.
 * - Every frame but `auth` and `ping` counts against the caller's rate limit, the same budget as
 *   its REST requests; past it, the frame gets an `error` frame (`rate_limit_exceeded`, with the
 *   seconds to wait) and is not carried out.
 * - On every heartbeat the caller is checked again: a revoked key, disabled user, suspended tenant,
 *   signed-out session or expired access token closes 4401.
 */
import type { Logger } from '../../config/logger.js';
import type { Authenticator } from '../http/adapter.js';
import { authorize } from '../http/authorize.js';
import { AppError, toErrorResponse } from '../http/errors.js';
import { callerKey, rateLimitError } from '../middleware/rate-limit.js';
import type { AuthContext, RequestInfo } from '../http/route.js';
import { callerRef, currentCaller, type CallerRef } from './caller.js';
import { runCommand, type CommandDeps } from './commands.js';
import type { Connection } from './connections.js';
import type { RealtimeContext } from './context.js';
import { EventFeed } from './event-feed.js';
import type { HubEvent } from './event-hub.js';
import { TopicSet } from './selection.js';
import { BATCH_HIGH_WATER, type TurnBatch } from './turn-batch.js';
import { closeCodes, readClientFrame, serverFrameSchema, type ClientFrame, type ReplyResult, type ServerFrame } from './ws-frames.js';

/** The socket as the session uses it. */
interface WsSocket {
  /**
   * Sends the frames in one `cork()`. uWS's worst status: 1 all sent, 0 sent but some buffered
   * (the client is behind), 2 one dropped (and none after it sent).
   */
  send(texts: string[]): number;
  bufferedAmount(): number;
  end(code: number, reason: string): void;
}

type RequestId = string | number;

/** An event as its WebSocket frame (`WsEventFrame`); made once per event for every connection (`HubEvent.as`). */
const eventFrame = (e: HubEvent) => `{"type":"event","event":${e.json}}`;

/** A replay waits while more than this is unread (and its page would only add to it). */
const REPLAY_LOW_WATER = 64 * 1024;

interface SessionOptions {
  ctx: RealtimeContext;
  socket: WsSocket;
  /** Set when the upgrade request's header authenticated the connection. */
  auth: AuthContext | null;
  /** The upgrade request's Authorization header, if any (a user's session is checked on heartbeats). */
  authorization: string | undefined;
  authenticate: Authenticator;
  commands: CommandDeps;
  /** Check every outgoing frame but events against its schema (tests, development). */
  validate: boolean;
  log: Logger;
  requestId: string;
}

export class WsSession implements Connection {
  #auth: AuthContext | null;
  /** Who to check again on each heartbeat. */
  #caller: CallerRef | null = null;
  #authing: Promise<void> | null = null;
  #authTimer: NodeJS.Timeout | undefined;
  #topics = TopicSet.empty;
  #feed: EventFeed | null = null;
  #waiters: (() => void)[] = [];
  /** This turn's frames, written together. */
  readonly #out: TurnBatch;
  /** At most `REPLAY_LOW_WATER` was unread after the last batch (or drain). */
  #keepingUp = true;
  #closed = false;
  #log: Logger;

  constructor(private readonly o: SessionOptions) {
    this.#auth = o.auth;
    this.#log = o.log;
    this.#out = o.ctx.turns.batch((texts) => this.#write(texts));
  }

  /** The socket is open. */
  opened(): void {
    this.o.ctx.connections.add(this);
    if (this.#auth) {
      this.#authenticated(this.#auth, this.o.authorization);
      this.#send({ type: 'ready', tenantId: this.#auth.tenantId, mode: this.#auth.mode, role: this.#auth.role });
      return;
    }
    const ms = this.o.ctx.settings.wsAuthTimeoutMs;
    this.#authTimer = setTimeout(() => this.#fail(null, new AppError('authentication_error', `No auth frame within ${ms} ms`)), ms);
  }

  /** A frame arrived. `data` is only valid during this call. */
  message(data: ArrayBuffer, isBinary: boolean): void {
    if (this.#closed) return;
    const read = readClientFrame(data, isBinary);
    if (!read.ok) {
      this.#error(read.id, read.error);
      return;
    }
    if (this.#authing) this.#authing.then(() => this.#dispatch(read.frame)).catch((err: unknown) => this.#crashed(err));
    else this.#dispatch(read.frame);
  }

  /** uWS drained some of what it buffered. */
  drained(): void {
    if (this.o.socket.bufferedAmount() > REPLAY_LOW_WATER) return;
    this.#keepingUp = true;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** The socket closed (either side). Releases everything. */
  closed(code: number): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#authTimer);
    this.#out.drop();
    this.#feed?.close();
    for (const w of this.#waiters) w();
    this.#waiters = [];
    this.o.ctx.connections.delete(this);
    this.#log.debug({ code }, 'ws closed');
  }

  heartbeat(): void {
    if (!this.#auth || this.#closed) return;
    try {
      currentCaller(this.o.ctx.store, this.#caller ?? callerRef(this.#auth), this.o.ctx.defaultRateLimit);
    } catch (err) {
      this.#log.info({ why: (err as Error).message }, 'ws caller no longer valid; closed');
      this.#fail(null, err);
    }
  }

  shutdown(): void {
    this.#end(closeCodes.going_away, 'going_away');
  }

  #dispatch(frame: ClientFrame): void {
    if (this.#closed) return;
    if (!this.#auth) {
      if (frame.type === 'auth') this.#authenticate(frame.id, frame.apiKey, frame.token);
      else this.#fail(frame.id, new AppError('authentication_error', 'Authenticate first: send {"type":"auth","id":…,"apiKey":…} or {"type":"auth","id":…,"token":…}'));
      return;
    }
    const auth = this.#auth;
    try {
      // Requests spend the caller's REST budget; pings (keep-alives) are free.
      if (frame.type !== 'ping') {
        const v = this.o.ctx.limiter.take(callerKey(auth), auth.rateLimit);
        if (!v.allowed) throw rateLimitError(v);
      }
      switch (frame.type) {
        case 'auth':
          throw new AppError('conflict', 'Already authenticated');
        case 'ping':
          return this.#reply(frame.id, { pong: true, time: new Date().toISOString() });
        case 'subscribe':
        case 'unsubscribe':
          return this.#subscription(auth, frame);
        default:
          return this.#reply(frame.id, runCommand(this.o.commands, auth, frame));
      }
    } catch (err) {
      this.#error(frame.id, err);
    }
  }

  #authenticate(id: RequestId, apiKey: string | undefined, token: string | undefined): void {
    clearTimeout(this.#authTimer);
    const headers: Record<string, string> = apiKey !== undefined ? { 'x-api-key': apiKey } : { authorization: `Bearer ${token ?? ''}` };
    const req: RequestInfo = { method: 'GET', url: '/api/v1/ws', query: '', headers, ip: '', requestId: this.o.requestId };
    const ok = (auth: AuthContext) => {
      if (this.#closed) return;
      this.#authenticated(auth, headers['authorization']);
      this.#reply(id, { tenantId: auth.tenantId, mode: auth.mode, role: auth.role });
    };
    const failed = (err: unknown) => this.#fail(id, err);
    try {
      const r = this.o.authenticate(req);
      if (r instanceof Promise) this.#authing = r.then(ok, failed).catch((err: unknown) => this.#crashed(err)).finally(() => (this.#authing = null));
      else ok(r);
    } catch (err) {
      failed(err);
    }
  }

  #authenticated(auth: AuthContext, authorization: string | undefined): void {
    this.#auth = auth;
    this.#caller = callerRef(auth, authorization);
    this.#log = this.#log.child({ tenantId: auth.tenantId, mode: auth.mode });
    this.#log.debug({ kind: auth.kind }, 'ws authenticated');
  }

  #subscription(auth: AuthContext, frame: Extract<ClientFrame, { type: 'subscribe' | 'unsubscribe' }>): void {
    authorize(auth, { scope: 'events:read' });
    const before = this.#topics;
    const next = frame.type === 'subscribe' ? before.with(frame.topics, frame.types) : before.without(frame.topics);
    this.#topics = next;
    const feed = (this.#feed ??= this.#newFeed(auth));
    const resume =
      frame.type === 'subscribe' && frame.lastEventId !== undefined
        ? { after: frame.lastEventId, added: TopicSet.empty.with(frame.topics, frame.types).selector, before: before.selector }
        : undefined;
    feed
      .select(next.selector, resume)
      .then(
        (replayed) => this.#reply(frame.id, { topics: next.topics, replayed }),
        // A replay cut short would leave a gap: close, so the client resumes from what it has.
        (err: unknown) => this.#fail(frame.id, err),
      )
      .catch((err: unknown) => this.#crashed(err));
  }

  #newFeed(auth: AuthContext): EventFeed {
    return new EventFeed({
      hub: this.o.ctx.hub,
      events: this.o.ctx.events,
      tenantId: auth.tenantId,
      mode: auth.mode,
      maxHeld: this.o.ctx.settings.maxPendingEvents,
      target: {
        // The frame is made once for every client (the hub checked the event against its schema).
        send: (e) => this.#sendText(e.as(eventFrame)),
        caughtUp: () => {
          this.#out.flush();
          return this.#closed || this.o.socket.bufferedAmount() <= REPLAY_LOW_WATER ? Promise.resolve() : new Promise((r) => this.#waiters.push(r));
        },
        overflow: (reason) => this.#slow(reason),
      },
    });
  }

  #reply(id: RequestId, result: ReplyResult): void {
    this.#send({ type: 'reply', id, result });
  }

  /** Answers a failed request with an error frame; internal errors are logged, never detailed. */
  #error(id: RequestId | null, err: unknown): void {
    const out = toErrorResponse(err);
    if (out.internal) this.#log.error({ err }, 'ws request failed');
    this.#send({ type: 'error', id, error: out.body.error });
  }

  /** An error frame, then close with the error's code (4000 + its HTTP status). */
  #fail(id: RequestId | null, err: unknown): void {
    if (this.#closed) return;
    this.#error(id, err);
    const out = toErrorResponse(err);
    this.#end(4000 + out.status, out.body.error.code);
  }

  #send(frame: ServerFrame): void {
    if (this.o.validate) {
      const check = serverFrameSchema.safeParse(frame);
      if (!check.success) {
        this.#log.error({ frame: frame.type, issues: check.error.issues }, 'outgoing frame does not match its schema');
        this.#fail(null, new Error('outgoing frame does not match its schema'));
        return;
      }
    }
    this.#sendText(JSON.stringify(frame));
  }

  /** Queues for the turn's batch; false when the client is behind or the batch is full (a replay then waits). */
  #sendText(text: string): boolean {
    if (this.#closed) return false;
    this.#out.push(text);
    return this.#keepingUp && this.#out.chars <= BATCH_HIGH_WATER;
  }

  /** Writes a batch in one `cork()`. Past the bound, the client is dropped; a send that throws closes it. */
  #write(texts: string[]): void {
    if (this.#closed) return;
    let status: number;
    let buffered: number;
    try {
      status = this.o.socket.send(texts);
      buffered = this.o.socket.bufferedAmount();
    } catch (err) {
      // A socket uWS already closed, or a bug: the client cannot be sent more.
      this.#log.error({ err }, 'ws send threw; closed');
      this.#out.drop();
      this.#end(closeCodes.internal_error, 'internal_error');
      return;
    }
    this.#keepingUp = buffered <= REPLAY_LOW_WATER;
    if (status === 2 || buffered > this.o.ctx.settings.maxBufferedBytes) {
      this.#slow(`more than ${this.o.ctx.settings.maxBufferedBytes} bytes unread`);
    }
  }

  /** A continuation threw after its own boundary: logged, and the connection closed 4500. */
  #crashed(err: unknown): void {
    this.#log.error({ err }, 'ws session continuation threw');
    this.#end(closeCodes.internal_error, 'internal_error');
  }

  #slow(reason: string): void {
    if (this.#closed) return;
    let bufferedBytes: number | undefined;
    try {
      bufferedBytes = this.o.socket.bufferedAmount();
    } catch {
      // The socket is gone; closing below says so.
    }
    this.#log.warn({ reason, bufferedBytes }, 'ws client too slow; dropped');
    // What it has not been sent yet stays unsent: it resumes from its last id.
    this.#out.drop();
    this.#end(closeCodes.slow_consumer, 'slow_consumer');
  }

  /** Closes with `code`: the turn's frames first (an error frame before its close), then the close frame. */
  #end(code: number, reason: string): void {
    if (this.#closed) return;
    this.#out.flush();
    // The flush found the client too slow or its socket gone, and closed it.
    if (this.#closed) return;
    try {
      // uWS runs the close handler (and so `closed`) from inside end().
      this.o.socket.end(code, reason);
    } catch (err) {
      this.#log.debug({ err }, 'ws end threw (already closed)');
    }
    this.closed(code);
  }
}
