/**
 * Each connection's writes of one turn of the loop leave together (`turn-batch.ts`), on the real
 * app: SSE blocks of a turn as one HTTP chunk, WebSocket frames in publish order with command
 * replies in between, the turn's events before a close, and a property over random interleavings
 * of publishes, commands, client closes and turns. The app's log is captured: nothing may throw
 * out of a flush.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import test from 'ava';
import fc from 'fast-check';
import { startApp, type App } from '../../../api/app.js';
import { createLogger } from '../../../config/logger.js';
import { testConfig } from '../../helpers/config.js';
import { waitFor } from '../../helpers/http.js';
import { mintKey, seedTenant } from '../../helpers/tenant.js';
import { agentUpdated, callRinging, sleep, type Scope } from './fixtures.js';
import { WsClient, type Frame } from './ws-client.js';

const lines: { level: number; msg: string }[] = [];
let app: App;
let key: string;
let scope: Scope;

/** Starts an app whose log lines (info and up) land in `into`. */
async function loggedApp(into: typeof lines): Promise<App> {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) into.push(JSON.parse(l) as (typeof lines)[number]);
      done();
    },
  });
  const config = testConfig({ log: { level: 'info' } });
  return startApp(config, createLogger(config.log, sink));
}

/** A tenant and a key whose budget the commands below cannot exhaust (subscribe spends it). */
async function tenantOf(a: App): Promise<{ key: string; scope: Scope }> {
  const t = await seedTenant(a);
  return { key: mintKey(a, t.tenantId, { rateLimit: 1_000_000 }), scope: { tenantId: t.tenantId, mode: 'live' } };
}

test.before(async () => {
  app = await loggedApp(lines);
  ({ key, scope } = await tenantOf(app));
});
test.after.always(() => app?.close());

/** Errors (level 50 and up) the app logged: a flush that threw, a send that threw. */
const errorsLogged = (from = lines) => from.filter((l) => l.level >= 50).map((l) => l.msg);

const turn = () => new Promise<void>((r) => setImmediate(r));

/** The last event id published on the file's app (a fresh client resumes after it when it has none). */
let lastId = 0;

/** Publishes `n` events in this turn (one synchronous run); returns their ids. */
function publish(a: App, s: Scope, n: number): number[] {
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push(agentUpdated(a, s, `agent-${i}`).id);
  if (a === app) lastId = ids.at(-1) ?? lastId;
  return ids;
}

/**
 * An SSE stream read off a bare socket, keeping the HTTP/1.1 chunks as they came: uWS makes one
 * chunk of each `write()`, whatever TCP does with it, so a chunk is one write of the server.
 */
class ChunkedSse {
  /** Each chunk's text, in order. */
  readonly chunks: string[] = [];
  #buf = Buffer.alloc(0);
  #inBody = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.#onData(d));
    socket.on('error', () => undefined);
  }

  static async open(port: number, apiKey: string, query = ''): Promise<ChunkedSse> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(`GET /api/v1/events${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${apiKey}\r\nAccept: text/event-stream\r\n\r\n`);
    return new ChunkedSse(socket);
  }

  /** Event ids in arrival order, with the index of the chunk each came in. */
  events(): { id: number; chunk: number }[] {
    return this.chunks.flatMap((c, chunk) => [...c.matchAll(/^id: (\d+)$/gm)].map((m) => ({ id: Number(m[1]), chunk })));
  }

  close(): void {
    this.socket.destroy();
  }

  #onData(d: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, d]);
    if (!this.#inBody) {
      const end = this.#buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.#buf.subarray(0, end).toString('latin1');
      if (!/^HTTP\/1\.1 200/.test(head) || !/^transfer-encoding: chunked$/im.test(head)) throw new Error(`not a chunked 200: ${head}`);
      this.#buf = this.#buf.subarray(end + 4);
      this.#inBody = true;
    }
    for (;;) {
      // uWS sends a chunk's closing CRLF with the next write: it leads the next chunk here.
      if (this.#buf.subarray(0, 2).toString('latin1') === '\r\n') this.#buf = this.#buf.subarray(2);
      const eol = this.#buf.indexOf('\r\n');
      if (eol < 0) return;
      const size = parseInt(this.#buf.subarray(0, eol).toString('latin1'), 16);
      if (this.#buf.length < eol + 2 + size) return;
      this.chunks.push(this.#buf.subarray(eol + 2, eol + 2 + size).toString());
      this.#buf = this.#buf.subarray(eol + 2 + size);
    }
  }
}

test.serial('SSE: the events of one turn leave as one chunk, in publish order; the next turn is the next chunk', async (t) => {
  const from = lines.length;
  const sse = await ChunkedSse.open(app.http.port, key);
  await waitFor(() => app.realtime.hub.size === 1);
  const first = publish(app, scope, 5);
  // A later turn (and a timer apart, so the first chunk is out before it).
  await sleep(30);
  const second = publish(app, scope, 3);
  await waitFor(() => sse.events().length >= 8);
  const got = sse.events();
  t.deepEqual(
    got.map((e) => e.id),
    [...first, ...second],
    'in publish order',
  );
  const chunksOf = (ids: number[]) => new Set(got.filter((e) => ids.includes(e.id)).map((e) => e.chunk));
  t.is(chunksOf(first).size, 1, `the first turn's 5 events in one chunk (chunks: ${JSON.stringify(sse.chunks.map((c) => c.length))})`);
  t.is(chunksOf(second).size, 1, "the second turn's 3 events in one chunk");
  t.not([...chunksOf(first)][0], [...chunksOf(second)][0], 'two turns, two chunks');
  sse.close();
  await waitFor(() => app.realtime.hub.size === 0 && app.realtime.connections.size === 0);
  t.deepEqual(errorsLogged(lines.slice(from)), []);
});

test.serial('1,000 events in bursts to 50 WebSocket clients sending commands in between: each gets every event in order, and every reply once, in request order', async (t) => {
  const from = lines.length;
  const CLIENTS = 50;
  const EVENTS = 1000;
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => WsClient.connect(app.http.port, { 'x-api-key': key })));
  await Promise.all(clients.map((c) => c.request({ type: 'subscribe', topics: ['tenant'] })));
  const requests = clients.map(() => [] as string[]);
  const replies: Promise<Frame>[] = [];
  const published: number[] = [];
  let bursts = 0;
  let seed = 7;
  const next = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n) + 1;
  while (published.length < EVENTS) {
    published.push(...publish(app, scope, Math.min(next(25), EVENTS - published.length)));
    bursts++;
    // Some clients ask something (a ping, a no-op subscribe) while the events are in flight.
    for (let i = 0; i < 3; i++) {
      const c = next(CLIENTS) - 1;
      const id = `c${c}-${requests[c]!.length}`;
      requests[c]!.push(id);
      const frame = i === 0 ? { type: 'subscribe', id, topics: ['tenant'] } : { type: 'ping', id };
      replies.push(clients[c]!.request(frame, 30_000));
    }
    await turn();
  }
  await Promise.all(replies);
  await Promise.all(clients.map((c) => c.waitFor(() => c.events().length >= EVENTS, 30_000)));
  const wrong = clients.flatMap((c, i) => {
    const ids = c.events().map((e) => e.id);
    const answered = c.frames.filter((f) => (f.type === 'reply' || f.type === 'error') && String(f.id).startsWith('c')).map((f) => `${f.type}:${String(f.id)}`);
    const problems: string[] = [];
    if (JSON.stringify(ids) !== JSON.stringify(published)) problems.push(`client ${i}: events out of order or missing (${ids.length})`);
    if (JSON.stringify(answered) !== JSON.stringify(requests[i]!.map((id) => `reply:${id}`))) problems.push(`client ${i}: replies ${answered.join(',')}`);
    return problems;
  });
  t.log(`${EVENTS} events in ${bursts} bursts of 1-25, ${replies.length} commands, ${CLIENTS} clients`);
  t.deepEqual(wrong, []);
  await Promise.all(clients.map((c) => c.close()));
  await waitFor(() => app.realtime.hub.size === 0 && app.realtime.connections.size === 0);
  t.deepEqual(errorsLogged(lines.slice(from)), []);
});

test.serial('the events of the turn the server stops in reach each client before its close (WebSocket 1001) or end (SSE)', async (t) => {
  const own: typeof lines = [];
  const a = await loggedApp(own);
  const s = await tenantOf(a);
  const ws = await WsClient.connect(a.http.port, { 'x-api-key': s.key });
  await ws.request({ type: 'subscribe', topics: ['tenant'] });
  const sse = await ChunkedSse.open(a.http.port, s.key);
  await waitFor(() => a.realtime.hub.size === 2);
  const ended = new Promise((r) => sse.socket.once('close', r));
  // Published and stopped in one synchronous run: the events are still queued when the server stops.
  const ids = publish(a, s.scope, 20);
  await a.close();
  t.deepEqual(await ws.closed, { code: 1001, reason: 'going_away' });
  await ended;
  t.deepEqual(
    ws.events().map((e) => e.id),
    ids,
  );
  t.deepEqual(
    sse.events().map((e) => e.id),
    ids,
  );
  t.true(sse.chunks.at(-1) === '', 'the stream ends with its last chunk');
  t.deepEqual(errorsLogged(own), []);
});

test.serial('clients gone between a turn’s queueing and its flush drop their batch without an error; the others get the events', async (t) => {
  const from = lines.length;
  const goneWs = await WsClient.connect(app.http.port, { 'x-api-key': key });
  await goneWs.request({ type: 'subscribe', topics: ['tenant'] });
  const goneSse = await ChunkedSse.open(app.http.port, key);
  const stays = await WsClient.connect(app.http.port, { 'x-api-key': key });
  await stays.request({ type: 'subscribe', topics: ['tenant'] });
  await waitFor(() => app.realtime.hub.size === 3);
  // From a timer: the events are queued in the timers phase, uWS sees both connections end in
  // the poll phase after it, and the batches are written in the check phase after that.
  const ids = await new Promise<number[]>((resolve) =>
    setTimeout(() => {
      goneWs.destroy();
      goneSse.close();
      resolve(publish(app, scope, 5));
    }, 0),
  );
  await stays.waitFor(() => stays.events().length >= 5);
  t.deepEqual(
    stays.events().map((e) => e.id),
    ids,
  );
  await waitFor(() => app.realtime.hub.size === 1 && app.realtime.connections.size === 1);
  await stays.close();
  await waitFor(() => app.realtime.hub.size === 0 && app.realtime.connections.size === 0);
  t.deepEqual(errorsLogged(lines.slice(from)), []);
});

/** The two event types the property publishes, and what each client selects of them. */
type Kind = 'agent.updated' | 'call.ringing';
const SELECTIONS: (Kind[] | undefined)[] = [undefined, ['agent.updated'], ['call.ringing'], undefined];

/** What one WebSocket client did, for the checks at the end of a run. */
interface Played {
  ws: WsClient;
  /** The event types it subscribed to (all when undefined). */
  types: Kind[] | undefined;
  /** Request ids sent, in order. */
  sent: string[];
  closedByClient: boolean;
  /** Its resubscriptions, one at a time (as a client would: each resumes from what it has). */
  resubscribing: Promise<unknown>;
}

type Step =
  | { kind: 'publish'; types: Kind[] }
  | { kind: 'turn' }
  | { kind: 'sleep'; ms: number }
  | { kind: 'ping' | 'resubscribe' | 'close' | 'destroy'; client: number }
  | { kind: 'close-sse' };

const stepArb = (clients: number): fc.Arbitrary<Step> =>
  fc.oneof(
    { arbitrary: fc.array(fc.constantFrom<Kind>('agent.updated', 'call.ringing'), { minLength: 1, maxLength: 12 }).map((types) => ({ kind: 'publish' as const, types })), weight: 5 },
    { arbitrary: fc.constant({ kind: 'turn' as const }), weight: 3 },
    { arbitrary: fc.integer({ min: 1, max: 4 }).map((ms) => ({ kind: 'sleep' as const, ms })), weight: 1 },
    { arbitrary: fc.nat(clients - 1).map((client) => ({ kind: 'ping' as const, client })), weight: 3 },
    { arbitrary: fc.nat(clients - 1).map((client) => ({ kind: 'resubscribe' as const, client })), weight: 2 },
    { arbitrary: fc.nat(clients - 1).map((client) => ({ kind: 'close' as const, client })), weight: 1 },
    { arbitrary: fc.nat(clients - 1).map((client) => ({ kind: 'destroy' as const, client })), weight: 1 },
    { arbitrary: fc.constant({ kind: 'close-sse' as const }), weight: 1 },
  );

const CLIENTS = SELECTIONS.length;
const RUNS = 300;
const MAX_STEPS = 60;

/** Checks one client's events: exactly `expected` while open, a prefix of it once it went. */
function checkEvents(who: string, ids: number[], expected: number[], closed: boolean): void {
  const want = closed ? expected.slice(0, ids.length) : expected;
  if (JSON.stringify(ids) !== JSON.stringify(want)) throw new Error(`${who}${closed ? ' (closed)' : ''}: got ${ids.join(',')}, expected ${want.join(',')}`);
}

/** Plays `plan` against `clients`, then checks what each got; throws on the first wrong client. Returns the events published. */
async function play(plan: Step[], clients: Played[], sse: { stream: ChunkedSse; closed: boolean }): Promise<number> {
  const events: { id: number; type: Kind }[] = [];
  const before = lastId;
  const pending: Promise<unknown>[] = [];
  const ask = (p: Played, frame: Record<string, unknown>) => {
    const id = `r${p.sent.length}`;
    p.sent.push(id);
    return p.ws.request({ ...frame, id }, 10_000);
  };
  // Resume after the last event seen before the unsubscribe's reply: every event sent before
  // that reply has arrived before it, or the replay would send it twice.
  const resubscribe = (p: Played) => () =>
    ask(p, { type: 'unsubscribe', topics: ['tenant'] }).then(() => {
      const last = p.ws.events().at(-1)?.id ?? before;
      return p.closedByClient ? null : ask(p, { type: 'subscribe', topics: ['tenant'], types: p.types, lastEventId: last });
    });
  for (const step of plan) {
    if (step.kind === 'publish') {
      for (const type of step.types) events.push({ id: (type === 'agent.updated' ? agentUpdated(app, scope, 'a') : callRinging(app, scope, 'c')).id, type });
      lastId = events.at(-1)!.id;
    } else if (step.kind === 'close-sse') {
      sse.closed = true;
      sse.stream.close();
    } else if (step.kind === 'turn') await turn();
    else if (step.kind === 'sleep') await sleep(step.ms);
    else {
      const p = clients[step.client]!;
      if (p.closedByClient) continue;
      if (step.kind === 'ping') pending.push(ask(p, { type: 'ping' }));
      else if (step.kind === 'resubscribe') pending.push((p.resubscribing = p.resubscribing.then(resubscribe(p), () => null)));
      else {
        p.closedByClient = true;
        if (step.kind === 'close') void p.ws.close();
        else p.ws.destroy();
      }
    }
  }
  // Requests of clients closed meanwhile may go unanswered.
  await Promise.allSettled(pending);
  const expected = (types: Kind[] | undefined) => events.filter((e) => !types || types.includes(e.type)).map((e) => e.id);
  const open = clients.filter((p) => !p.closedByClient);
  await Promise.all(open.map((p) => p.ws.waitFor(() => p.ws.events().length >= expected(p.types).length, 10_000).catch(() => null)));
  if (!sse.closed) await waitFor(() => sse.stream.events().length >= events.length, 10_000, 2).catch(() => null);
  for (const [i, p] of clients.entries()) {
    checkEvents(`client ${i} (${p.types?.join(',') ?? 'all'})`, p.ws.events().map((e) => e.id), expected(p.types), p.closedByClient);
    if (p.closedByClient) continue;
    const answered = p.ws.frames.filter((f) => f.type === 'reply' || f.type === 'error').map((f) => `${f.type}:${String(f.id)}`);
    if (JSON.stringify(answered) !== JSON.stringify(p.sent.map((id) => `reply:${id}`))) throw new Error(`client ${i}: answers ${answered.join(',')} to ${p.sent.join(',')}`);
  }
  checkEvents('sse client', sse.stream.events().map((e) => e.id), expected(undefined), sse.closed);
  await Promise.all(open.map((p) => p.ws.close()));
  return events.length;
}

test.serial(`property: random publishes, commands, client closes and turns; each open client gets exactly its events, in publish order, and each reply once (${RUNS} runs × ${CLIENTS} WebSocket clients with their own types + 1 SSE, ≤ ${MAX_STEPS} steps)`, async (t) => {
  const from = lines.length;
  const started = Date.now();
  let steps = 0;
  let published = 0;
  let firstFailure: string | undefined;
  await fc
    .assert(
      fc.asyncProperty(fc.array(stepArb(CLIENTS), { minLength: 1, maxLength: MAX_STEPS, size: 'max' }), async (plan) => {
        steps += plan.length;
        try {
          const clients: Played[] = await Promise.all(
            SELECTIONS.map(async (types) => {
              const ws = await WsClient.connect(app.http.port, { 'x-api-key': key });
              await ws.request({ type: 'subscribe', id: 's0', topics: ['tenant'], types });
              return { ws, types, sent: ['s0'], closedByClient: false, resubscribing: Promise.resolve() };
            }),
          );
          const sse = { stream: await ChunkedSse.open(app.http.port, key), closed: false };
          await waitFor(() => app.realtime.hub.size === CLIENTS + 1, 5000, 2);
          try {
            published += await play(plan, clients, sse);
          } finally {
            for (const p of clients) p.ws.destroy();
            sse.stream.close();
          }
          await waitFor(() => app.realtime.hub.size === 0 && app.realtime.connections.size === 0, 5000, 2);
        } catch (err) {
          firstFailure ??= `${(err as Error).message}\nplan: ${JSON.stringify(plan)}`;
          throw err;
        }
      }),
      { numRuns: RUNS },
    )
    .catch((err: unknown) => {
      t.log(`first failure: ${firstFailure}`);
      throw err;
    });
  const ms = Date.now() - started;
  t.log(`${RUNS} runs, ${steps} steps, ${published} events published, ${ms} ms (${(ms / RUNS).toFixed(0)} ms a run)`);
  t.deepEqual(errorsLogged(lines.slice(from)), []);
});
