/**
 * Property tests with fast-check against the running engine (embedded SIP server and drachtio-srf
 * call control): valid requests broken in the ways of test/helpers/sip-mutations.ts are sent over
 * UDP and over TCP, and after every case the engine must still answer an OPTIONS with 200 (over
 * TCP on a fresh connection too, since a bad frame may rightly close its own). What the engine
 * does with each case is judged against RFC 3261 with our parser as the reference:
 *
 * - a request the parser and validator accept (not ACK) gets a final response (§8.2, §17.2);
 * - a request that fails them but whose headers could be read gets 400 or 505 (§21.4.1,
 *   §21.5.6) or, when even its Via is unusable, nothing;
 * - anything else (responses, junk) gets nothing over UDP; over TCP a stream that cannot be
 *   framed is closed (§18.3);
 * - whatever comes back parses as a SIP response with a status in 100-699.
 *
 * Then the drachtio control port: junk before and after authentication must not stop the
 * server, and call control (a drachtio-srf app on the same port) keeps answering.
 *
 * Runs per property: SIP_PROPERTY_RUNS (default 150), printed with the time taken.
 */
import net from 'node:net';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { encodeFrame, FrameDecoder } from '../../../engine/sip/drachtio/frame.js';
import { SipParseError } from '../../../engine/sip/message/errors.js';
import type { SipMessage } from '../../../engine/sip/message/message.js';
import { DEFAULT_LIMITS, parseMessage } from '../../../engine/sip/message/parser.js';
import { StreamFramer } from '../../../engine/sip/message/stream-framer.js';
import { validateMessage } from '../../../engine/sip/message/validate.js';
import { inboundSetup, type InboundSetup } from '../../helpers/inbound.js';
import { torture } from '../../helpers/rfc4475.js';
import { liveness, optionsOn, optionsRequest } from '../../helpers/sip-probe.js';
import { mutate, mutation, uniqueSeed, type Mutation } from '../../helpers/sip-mutations.js';
import { TcpPeer, UdpPeer } from '../../helpers/sip-peer.js';
import { requestText, SDP_150 } from '../../helpers/sip-text.js';
import { sleep } from '../../helpers/timing.js';

const RUNS = Number(process.env.SIP_PROPERTY_RUNS ?? 150);
const SECRET = 'property-secret';

let s: InboundSetup;
test.before(async () => {
  s = await inboundSetup({ sip: { drachtioSecret: SECRET } });
});
test.after.always(() => s?.close());

/** Valid requests to the engine: each gets a final response (none is answered 2xx to INVITE: no media is set up). */
function seeds(transport: 'UDP' | 'TCP'): Buffer[] {
  const r = (method: string, extra: Partial<Parameters<typeof requestText>[0]> = {}) =>
    Buffer.from(requestText({ method, uri: 'sip:nobody@127.0.0.1', branch: 'z9hG4bKseed', callId: 'seed@127.0.0.1', viaPort: 5060, transport, rport: true, ...extra }));
  return [
    r('OPTIONS', { uri: 'sip:service@127.0.0.1' }),
    r('INVITE', { extra: ['Content-Type: application/sdp'], body: SDP_150 }),
    r('REGISTER', { uri: 'sip:127.0.0.1' }),
    r('BYE', { toTag: 'gone' }),
    r('MESSAGE', { extra: ['Content-Type: text/plain'], body: 'hello' }),
    r('FROBNICATE'),
    ...['wsinv', 'intmeth', 'esc01', 'lwsdisp', 'semiuri', 'transports', 'mpart01', 'zeromf', 'inv2543'].map(torture),
  ];
}

type Duty = 'final' | 'maybe-400' | 'none';

/** What RFC 3261 asks of the server for one message, judged by our parser and validator. */
function duty(msg: SipMessage | null, error: SipParseError | null): Duty {
  if (msg) {
    if (msg.kind === 'response' || msg.method === 'ACK') return 'none';
    return validateMessage(msg) ? 'maybe-400' : 'final';
  }
  return error?.partial?.isRequest && !/^ACK /.test(error.partial.startLine) ? 'maybe-400' : 'none';
}

function judgeDatagram(bytes: Buffer): { duty: Duty; callId: string | null } {
  try {
    const msg = parseMessage(bytes, { stream: false, limits: DEFAULT_LIMITS });
    return { duty: duty(msg, null), callId: safeCallId(msg) };
  } catch (e) {
    if (!(e instanceof SipParseError)) throw e;
    return { duty: duty(null, e), callId: e.partial?.headers.get('Call-ID') ?? null };
  }
}

const safeCallId = (m: SipMessage) => {
  try {
    return m.callId;
  } catch {
    return null;
  }
};

/** Runs a property; a failure shows the counterexample and the error it raised. */
async function check<T>(t: ExecutionContext, prop: fc.IAsyncPropertyWithHooks<T>, numRuns: number, examples: T[] = []): Promise<void> {
  // SIP_PROPERTY_SEED and SIP_PROPERTY_PATH replay a failure that a run printed.
  const replay = process.env.SIP_PROPERTY_SEED ? { seed: Number(process.env.SIP_PROPERTY_SEED), path: process.env.SIP_PROPERTY_PATH, endOnFailure: true } : {};
  const r = await fc.check(prop, { numRuns, examples, ...replay });
  if (r.failed) t.fail(`${fc.defaultReportMessage(r)}\n${r.errorInstance instanceof Error ? r.errorInstance.message : String(r.errorInstance)}`);
}

const describe = (seed: number, ms: Mutation[]) => `seed #${seed}, ${ms.map((m) => JSON.stringify(m, (_, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v))).join(' then ')}`;

const caseArb = (maxHuge: number, count: number) => fc.tuple(fc.nat({ max: count - 1 }), fc.array(mutation(maxHuge), { minLength: 0, maxLength: 3 }));

test.serial(`SIP over UDP: mutated requests (${RUNS} cases)`, async (t) => {
  const pool = seeds('UDP');
  let n = 0;
  const tally: Record<Duty | 'answered' | 'silent', number> = { final: 0, 'maybe-400': 0, none: 0, answered: 0, silent: 0 };
  const started = performance.now();
  await check(
    t,
    fc.asyncProperty(caseArb(60_000, pool.length), async ([seedIx, ms]) => {
      n++;
      const bytes = ms.reduce((b, m) => mutate(b, m), uniqueSeed(pool[seedIx]!, n));
      if (bytes.length > 65_000 || bytes.length === 0) return true; // not a datagram
      const judged = judgeDatagram(bytes);
      tally[judged.duty]++;
      const peer = await UdpPeer.open();
      try {
        await peer.send(bytes, s.sipPort);
        const live = optionsRequest('udp');
        const liveId = /Call-ID: (\S+)/.exec(live.toString())![1]!;
        await peer.send(live, s.sipPort);
        await peer.waitFor((m) => m.kind === 'response' && m.headers.get('Call-ID') === liveId && m.status === 200, 1, 5000);
        const forCase = () => peer.received.filter((a) => a.msg.headers.get('Call-ID') !== liveId);
        if (judged.duty === 'final') {
          await peer.waitFor((m) => m.kind === 'response' && m.headers.get('Call-ID') !== liveId && m.status >= 200, 1, 5000).catch(() => undefined);
        } else await sleep(30);
        const got = forCase();
        tally[got.length ? 'answered' : 'silent']++;
        const where = `${describe(seedIx, ms)}: ${got.map((a) => a.msg.startLine).join(' | ') || 'nothing'}`;
        if (peer.unparsed.length) throw new Error(`unparsable datagram back for ${where}: ${JSON.stringify(peer.unparsed[0]!.subarray(0, 300).toString('latin1'))}`);
        if (judged.duty === 'none' && got.length) throw new Error(`answered what must be dropped: ${where}`);
        if (judged.duty === 'maybe-400' && got.some((a) => a.msg.kind !== 'response' || ![400, 505].includes(a.msg.status))) {
          throw new Error(`a malformed request got something else than 400/505: ${where}`);
        }
        if (judged.duty === 'final' && judged.callId !== null && !got.some((a) => a.msg.kind === 'response' && a.msg.status >= 200 && a.msg.headers.get('Call-ID') === judged.callId)) {
          throw new Error(`the final response does not carry the request's Call-ID: ${where}`);
        }
        return true;
      } finally {
        await peer.close();
      }
    }),
    RUNS,
    pool.map((_, i): [[number, Mutation[]]] => [[i, []]]), // every seed as it is, first
  );
  const secs = (performance.now() - started) / 1000;
  t.log(`${RUNS} cases in ${secs.toFixed(1)} s (${(RUNS / secs).toFixed(0)}/s); duty: ${JSON.stringify(tally)}`);
  t.is(await liveness('udp', s.sipPort), 200);
});

test.serial(`SIP over TCP: mutated requests, each on its own connection (${RUNS} cases)`, async (t) => {
  const pool = seeds('TCP');
  let n = 0;
  const tally = { framed: 0, unframeable: 0, incomplete: 0, closed: 0, sameConnectionAlive: 0 };
  const started = performance.now();
  await check(
    t,
    fc.asyncProperty(caseArb(100_000, pool.length), async ([seedIx, ms]) => {
      n++;
      const bytes = ms.reduce((b, m) => mutate(b, m), uniqueSeed(pool[seedIx]!, 1_000_000 + n));
      if (bytes.length === 0) return true;
      const framer = new StreamFramer(DEFAULT_LIMITS);
      const events = framer.push(bytes);
      const first = events.find((e) => e.kind !== 'ping');
      const peer = await TcpPeer.connect(s.sipPort);
      let closed = false;
      void peer.closed.then(() => (closed = true));
      try {
        await peer.send(bytes).catch(() => undefined);
        const where = () => `${describe(seedIx, ms)}: ${peer.received.map((a) => a.msg.startLine).join(' | ') || 'nothing'}${closed ? ', closed' : ''}`;
        if (first?.kind === 'error') {
          tally.unframeable++;
          await Promise.race([peer.closed, sleep(3000)]);
          if (!closed) throw new Error(`a stream that cannot be framed was left open: ${where()}`);
        } else if (first?.kind === 'message') {
          tally.framed++;
          let msg: SipMessage | null = null;
          let error: SipParseError | null = null;
          try {
            msg = parseMessage(first.raw, { stream: true, limits: DEFAULT_LIMITS });
          } catch (e) {
            if (!(e instanceof SipParseError)) throw e;
            error = e;
          }
          const d = duty(msg, error);
          if (d === 'final') await peer.waitFor((m) => m.kind === 'response' && m.status >= 200, 1, 5000).catch(() => undefined);
          else await sleep(30);
          const got = peer.received.map((a) => a.msg);
          if (d === 'final' && !got.some((m) => m.kind === 'response' && m.status >= 200)) throw new Error(`no final response: ${where()}`);
          if (d === 'maybe-400' && got.some((m) => m.kind !== 'response' || (m.status >= 200 && ![400, 505].includes(m.status)))) throw new Error(`not a 400/505: ${where()}`);
          if (d === 'none' && got.length) throw new Error(`answered what must be dropped: ${where()}`);
        } else tally.incomplete++;
        if (peer.unparsed.length) throw new Error(`unparsable bytes back: ${where()}: ${JSON.stringify(peer.unparsed[0]!.subarray(0, 300).toString('latin1'))}`);
        // The same connection still serves a peer whose last message was framed whole.
        if (!closed && first?.kind !== 'error' && framer.pendingBytes === 0) {
          const status = await optionsOn(peer, 5000);
          if (status !== 200 && !closed) throw new Error(`OPTIONS on the same connection got ${status}: ${where()}`);
          if (status === 200) tally.sameConnectionAlive++;
        }
        if (closed) tally.closed++;
        const live = await liveness('tcp', s.sipPort);
        if (live !== 200) throw new Error(`OPTIONS on a fresh connection got ${live} after ${where()}`);
        return true;
      } finally {
        peer.close();
      }
    }),
    RUNS,
    pool.map((_, i): [[number, Mutation[]]] => [[i, []]]),
  );
  const secs = (performance.now() - started) / 1000;
  t.log(`${RUNS} cases in ${secs.toFixed(1)} s (${(RUNS / secs).toFixed(0)}/s); ${JSON.stringify(tally)}`);
  t.pass();
});

/** A raw drachtio control client. */
async function controlClient(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => undefined);
  const decoder = new FrameDecoder();
  const frames: string[] = [];
  let closed = false;
  socket.on('data', (d: Buffer) => {
    try {
      frames.push(...decoder.push(d));
    } catch {
      socket.destroy();
    }
  });
  socket.on('close', () => (closed = true));
  const reply = async (msgId: string, ms = 3000) => {
    const end = Date.now() + ms;
    while (Date.now() < end && !closed) {
      const f = frames.find((x) => x.includes(`|response|${msgId}|`));
      if (f) return f;
      await sleep(5);
    }
    return null;
  };
  return { socket, frames, reply, closed: () => closed, write: (b: string | Uint8Array) => socket.write(b), close: () => socket.destroy() };
}

/** Authenticates and pings; the ping's reply proves the control server still serves apps. */
async function controlAlive(port: number): Promise<boolean> {
  const c = await controlClient(port);
  try {
    c.write(encodeFrame(`a1|authenticate|${SECRET}|`));
    if (!(await c.reply('a1'))?.includes('|OK|')) return false;
    c.write(encodeFrame('p1|ping'));
    return (await c.reply('p1'))?.includes('|OK|pong') ?? false;
  } finally {
    c.close();
  }
}

const frameBody = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.tuple(fc.stringMatching(/^[a-z0-9-]{0,12}$/), fc.constantFrom('sip', 'proxy', 'ping', 'authenticate', 'remove_route', 'cdr:attempt', ''), fc.array(fc.string({ maxLength: 20 }), { maxLength: 10 }), fc.string({ unit: 'binary', maxLength: 400 })).map(
    ([id, kind, fields, rest]) => `${id}|${kind}|${fields.join('|')}\r\n${rest}`,
  ),
  // A SIP response for a transaction that does not exist, whole or broken.
  fc.tuple(fc.string({ maxLength: 40 }), fc.nat(200)).map(([txn, cut]) => `r1|sip|${txn}|\r\n${'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\nContent-Length: 0\r\n\r\n'.slice(0, 200 - cut)}`),
);

const wire = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 600 }),
  frameBody.map((b) => encodeFrame(b)),
  fc.tuple(fc.stringMatching(/^[0-9#]{1,10}$/), fc.string({ unit: 'binary', maxLength: 100 })).map(([p, b]) => p + b),
);

test.serial(`drachtio control port: junk before and after authentication (${RUNS} cases each)`, async (t) => {
  const control = s.app.engine.sip!.control.port;
  const started = performance.now();
  let repliesBeforeAuth = 0;
  let closedBeforeAuth = 0;
  await check(
    t,
    fc.asyncProperty(fc.array(wire, { minLength: 1, maxLength: 4 }), async (chunks) => {
      const c = await controlClient(control);
      for (const ch of chunks) if (!c.closed()) c.write(typeof ch === 'string' ? ch : Buffer.from(ch));
      await sleep(20);
      if (c.frames.length) repliesBeforeAuth++;
      if (c.closed()) closedBeforeAuth++;
      c.close();
      return true;
    }),
    RUNS,
  );
  let pingsAfterJunk = 0;
  await check(
    t,
    fc.asyncProperty(fc.array(frameBody, { minLength: 1, maxLength: 4 }), async (bodies) => {
      const c = await controlClient(control);
      try {
        c.write(encodeFrame(`a1|authenticate|${SECRET}|`));
        if (!(await c.reply('a1'))?.includes('|OK|')) throw new Error('authentication refused');
        for (const b of bodies) if (!c.closed()) c.write(encodeFrame(b));
        if (!c.closed()) {
          c.write(encodeFrame('p9|ping'));
          if ((await c.reply('p9', 2000))?.includes('|OK|pong')) pingsAfterJunk++;
        }
        return true;
      } finally {
        c.close();
      }
    }),
    RUNS,
  );
  const secs = (performance.now() - started) / 1000;
  t.log(`${2 * RUNS} connections in ${secs.toFixed(1)} s; before auth: ${repliesBeforeAuth} answered, ${closedBeforeAuth} closed; after auth: ${pingsAfterJunk} still answered a ping`);
  t.true(await controlAlive(control), 'a new app can still authenticate and ping');
  t.is(await liveness('udp', s.sipPort), 200, 'call control (a drachtio-srf app) still answers OPTIONS');
});
