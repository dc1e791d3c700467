/**
 * Subscribers for the event fan-out benchmark, in their own process (forked, several at once), so
 * their CPU is not the server's: `count` WebSockets (the `ws` package) or SSE streams
 * (`node:http`) to one server. Each event's publish time is read from its text (no JSON parse:
 * the clients must cost little), and publish -> receive goes into a histogram.
 *
 *   node dist/bench/peers/fanout-clients.js '<ClientSpec as JSON>'   (IPC: see lib/fanout-wire.ts)
 */
import http from 'node:http';
import WebSocket from 'ws';
import { forEachStamp, LatencyHistogram, type ClientOrder, type ClientReply } from '../lib/fanout-wire.js';

/** What one client process opens. */
export interface ClientSpec {
  kind: 'ws' | 'sse';
  url: string;
  count: number;
  headers: Record<string, string>;
  /** The engine's WebSocket: wait for `ready`, then subscribe to the tenant's events. */
  subscribe: boolean;
}

/** Connections opened at once: a burst of 1,000 handshakes would time some out on a loaded machine. */
const OPENING = 25;
/** How long one connection may take to open (and subscribe). */
const OPEN_TIMEOUT_MS = 20_000;

const histogram = new LatencyHistogram();
let received = 0;
let unparsed = 0;
let closed = 0;
let live = false;

function onText(text: string): void {
  const now = process.hrtime.bigint();
  const n = forEachStamp(text, (ns) => histogram.add(Number(now - ns) / 1e6));
  received += n;
}

function openWs(spec: ClientSpec): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(spec.url, { headers: spec.headers, perMessageDeflate: false });
    const timer = setTimeout(() => reject(new Error('open timed out')), OPEN_TIMEOUT_MS);
    let ready = !spec.subscribe;
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    ws.on('open', () => {
      if (ready) done();
    });
    ws.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
      if (ready) {
        if (text.startsWith('{"type":"event"')) onText(text);
        else unparsed++;
        return;
      }
      // The engine: `ready` (header auth), then the subscription's reply.
      if (text.startsWith('{"type":"ready"')) ws.send(JSON.stringify({ type: 'subscribe', id: 1, topics: ['tenant'] }));
      else if (text.startsWith('{"type":"reply"')) {
        ready = true;
        done();
      } else reject(new Error(`unexpected frame ${text.slice(0, 200)}`));
    });
    ws.on('error', (err) => reject(err));
    ws.on('close', () => {
      if (live) closed++;
    });
  });
}

function openSse(spec: ClientSpec): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get(spec.url, { headers: spec.headers, agent: false }, (res) => {
      // The open timeout ends here: a stream may be quiet for long (the peer sends no heartbeat).
      req.setTimeout(0);
      if (res.statusCode !== 200) {
        reject(new Error(`status ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      let tail = '';
      res.on('data', (chunk: string) => {
        const text = tail + chunk;
        const cut = text.lastIndexOf('\n\n');
        if (cut < 0) {
          tail = text;
          return;
        }
        tail = text.slice(cut + 2);
        onText(text.slice(0, cut));
      });
      res.on('close', () => {
        if (live) closed++;
      });
      resolve();
    });
    req.setTimeout(OPEN_TIMEOUT_MS, () => req.destroy(new Error('open timed out')));
    req.on('error', reject);
  });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as ClientSpec;
  const send = (m: ClientReply) => process.send!(m);
  const open = spec.kind === 'ws' ? openWs : openSse;
  let opened = 0;
  let failed = 0;
  let firstError: string | null = null;
  let next = 0;
  const opener = async () => {
    while (next < spec.count) {
      next++;
      try {
        await open(spec);
        opened++;
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: OPENING }, opener));
  live = true;
  process.on('message', (m: ClientOrder | { type: 'stop' }) => {
    if (m.type === 'stop') process.exit(0);
    else if (m.type === 'reset') {
      histogram.reset();
      // `closed` is not reset: a subscriber lost between windows still counts.
      received = unparsed = 0;
      send({ type: 'count', received });
    } else if (m.type === 'count') send({ type: 'count', received });
    else send({ type: 'report', received, unparsed, closed, histogram: histogram.sparse() });
  });
  send({ type: 'ready', open: opened, failed, firstError });
}

main().catch((err: unknown) => {
  process.stderr.write(`fanout-clients: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
