/**
 * Load generator for the concurrent-calls benchmark: N callers that each set up a real SIP call
 * over UDP (INVITE with a PCMU offer -> 200 -> ACK), then send a 20 ms G.711 packet every 20 ms
 * to the address the answer's SDP gives, from the port their own SDP offered, and time each
 * packet's echo. After `warmup` seconds (every callee latched) the next `seconds` are measured;
 * then every call ends with BYE. Runs in its own process so its CPU is not the callee's.
 *
 * Input: JSON `{ target, calls, setupCps, warmup, seconds }` as argv[2], target being host:port.
 * Output on stdout: `setup <json>` once every call is answered (or failed), `measuring`, then
 * one JSON line of figures.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';

interface Input {
  target: string;
  calls: number;
  setupCps: number;
  warmup: number;
  seconds: number;
}

interface Call {
  i: number;
  callId: string;
  tag: string;
  rtp: dgram.Socket;
  rtpPort: number;
  state: 'new' | 'inviting' | 'up' | 'failed' | 'byeing' | 'done';
  invite: string;
  inviteAt: number;
  retries: number;
  toTag?: string;
  remoteTarget?: string;
  media?: { ip: string; port: number };
  setupMs?: number;
  seq: number;
  sent: Map<number, number>;
  sentMeasured: number;
  receivedMeasured: number;
}

const input = JSON.parse(process.argv[2]!) as Input;
const [host, portText] = input.target.split(':') as [string, string];
const port = Number(portText);
const sip = dgram.createSocket('udp4');
await new Promise<void>((r) => sip.bind(0, '127.0.0.1', () => r()));
const sipPort = sip.address().port;
const run = randomBytes(4).toString('hex');
const rtts: number[] = [];
let measuring = false;

const calls: Call[] = await Promise.all(
  Array.from({ length: input.calls }, (_, i) => openCall(i)),
);
const byCallId = new Map(calls.map((c) => [c.callId, c]));

function openCall(i: number): Promise<Call> {
  return new Promise((resolve) => {
    const rtp = dgram.createSocket('udp4');
    rtp.bind(0, '127.0.0.1', () => {
      const call: Call = {
        i,
        callId: `${run}-${i}@127.0.0.1`,
        tag: `t${run}${i}`,
        rtp,
        rtpPort: rtp.address().port,
        state: 'new',
        invite: '',
        inviteAt: 0,
        retries: 0,
        seq: 0,
        sent: new Map(),
        sentMeasured: 0,
        receivedMeasured: 0,
      };
      rtp.on('message', (msg) => onRtp(call, msg));
      resolve(call);
    });
  });
}

function onRtp(call: Call, msg: Buffer): void {
  if (msg.length < 16) return;
  // Our counter is the first 4 payload bytes; a header extension added on the way may precede them.
  const cc = msg[0]! & 0x0f;
  let off = 12 + cc * 4;
  if (msg[0]! & 0x10) off += 4 + msg.readUInt16BE(off + 2) * 4;
  if (off + 4 > msg.length) return;
  const n = msg.readUInt32BE(off);
  const at = call.sent.get(n);
  if (at === undefined) return;
  call.sent.delete(n);
  if (!measuring || at < 0) return;
  call.receivedMeasured++;
  rtts.push(performance.now() - at);
}

const via = (branch: string) => `Via: SIP/2.0/UDP 127.0.0.1:${sipPort};branch=z9hG4bK${branch};rport`;

function request(c: Call, method: 'INVITE' | 'ACK' | 'BYE', cseq: number, body = ''): string {
  const uri = method === 'INVITE' ? `sip:service@${host}:${port}` : (c.remoteTarget ?? `sip:service@${host}:${port}`);
  const lines = [
    `${method} ${uri} SIP/2.0`,
    via(`${run}${c.i}${method === 'BYE' ? 'b' : method === 'ACK' ? 'a' : 'i'}`),
    'Max-Forwards: 70',
    `From: <sip:bench@127.0.0.1:${sipPort}>;tag=${c.tag}`,
    `To: <sip:service@${host}:${port}>${c.toTag ? `;tag=${c.toTag}` : ''}`,
    `Call-ID: ${c.callId}`,
    `CSeq: ${cseq} ${method}`,
    `Contact: <sip:bench@127.0.0.1:${sipPort}>`,
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  return lines.join('\r\n');
}

const offer = (c: Call) =>
  ['v=0', `o=bench ${c.i} 1 IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${c.rtpPort} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=ptime:20', 'a=sendrecv', ''].join('\r\n');

const send = (text: string) => sip.send(text, port, host);

const header = (msg: string, name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(msg)?.[1]?.trim();

sip.on('message', (buf) => {
  const msg = buf.toString();
  if (!msg.startsWith('SIP/2.0 ')) return answerRequest(msg);
  const c = byCallId.get(header(msg, 'Call-ID') ?? '');
  if (!c) return;
  const status = Number(msg.slice(8, 11));
  const method = header(msg, 'CSeq')?.split(/\s+/)[1];
  if (method === 'INVITE') {
    if (status < 200) {
      c.retries = Infinity; // a provisional response stops INVITE retransmissions (RFC 3261 §17.1.1.2)
      return;
    }
    if (status >= 300) {
      if (c.state === 'inviting') c.state = 'failed';
      // RFC 3261 §17.1.1.3: the client transaction ACKs a non-2xx final response.
      return;
    }
    c.toTag ??= /;tag=([^;>\s]+)/.exec(header(msg, 'To') ?? '')?.[1];
    c.remoteTarget ??= /<([^>]+)>/.exec(header(msg, 'Contact') ?? '')?.[1];
    send(request(c, 'ACK', 1)); // 2xx retransmissions are ACKed again
    if (c.state !== 'inviting') return;
    const body = msg.slice(msg.indexOf('\r\n\r\n') + 4);
    const ip = /^c=IN IP4 (\S+)/m.exec(body)?.[1];
    const mport = Number(/^m=audio (\d+)/m.exec(body)?.[1]);
    if (!ip || !mport) {
      c.state = 'failed';
      return;
    }
    c.media = { ip, port: mport };
    c.setupMs = performance.now() - c.inviteAt;
    c.state = 'up';
  } else if (method === 'BYE' && status >= 200) {
    c.state = 'done';
  }
});

/** In-dialog requests from the callee (a BYE, an OPTIONS): 200 OK. */
function answerRequest(msg: string): void {
  const method = msg.slice(0, msg.indexOf(' '));
  if (method === 'ACK') return;
  const vias = msg.split('\r\n').filter((l) => /^Via:/i.test(l));
  const reply = [
    'SIP/2.0 200 OK',
    ...vias,
    `From: ${header(msg, 'From')}`,
    `To: ${header(msg, 'To')}`,
    `Call-ID: ${header(msg, 'Call-ID')}`,
    `CSeq: ${header(msg, 'CSeq')}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  send(reply);
  const c = byCallId.get(header(msg, 'Call-ID') ?? '');
  if (method === 'BYE' && c) c.state = 'done';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Places every call at `setupCps`, retransmitting INVITEs (T1 = 500 ms, doubling); 10 s to answer. */
async function setUp(): Promise<void> {
  const start = performance.now();
  for (const [k, c] of calls.entries()) {
    const due = start + (k * 1000) / input.setupCps;
    if (due > performance.now()) await sleep(due - performance.now());
    c.invite = request(c, 'INVITE', 1, offer(c));
    c.inviteAt = performance.now();
    c.state = 'inviting';
    send(c.invite);
  }
  for (;;) {
    const pending = calls.filter((c) => c.state === 'inviting');
    if (!pending.length) return;
    const now = performance.now();
    for (const c of pending) {
      const age = now - c.inviteAt;
      if (age > 10_000) c.state = 'failed';
      else if (c.retries < 6 && age > 500 * (2 ** (c.retries + 1) - 1)) {
        c.retries++;
        send(c.invite);
      }
    }
    await sleep(20);
  }
}

/**
 * Sub-ticks of the 20 ms packet time: call i sends in sub-tick i % phases, so the callers' packets
 * are spread over the period as independent phones' are, not sent in one burst.
 */
const phases = 4;

/** One packet per live call every 20 ms until `until` (performance.now() ms). */
async function stream(until: number, measureFrom: number): Promise<void> {
  const start = performance.now();
  const step = 20 / phases;
  let tick = 0;
  const ssrcBase = 0x20000;
  while (performance.now() < until) {
    const now = performance.now();
    if (!measuring && now >= measureFrom && tick % phases === 0) {
      measuring = true;
      process.stdout.write('measuring\n');
    }
    for (let i = tick % phases; i < calls.length; i += phases) {
      const c = calls[i]!;
      if (c.state !== 'up' || !c.media) continue;
      // A buffer per datagram: dgram sends asynchronously and must not see it change.
      const packet = Buffer.alloc(12 + 160, 0xff);
      packet[0] = 0x80;
      packet[1] = 0;
      packet.writeUInt16BE(c.seq & 0xffff, 2);
      packet.writeUInt32BE((c.seq * 160) >>> 0, 4);
      packet.writeUInt32BE(ssrcBase + c.i, 8);
      packet.writeUInt32BE(c.seq, 12);
      // Packets of the warm-up are matched (and forgotten) but not counted: time -1.
      c.sent.set(c.seq, measuring ? now : -1);
      if (measuring) c.sentMeasured++;
      c.seq++;
      c.rtp.send(packet, c.media.port, c.media.ip);
    }
    tick++;
    await sleep(Math.max(0, start + tick * step - performance.now()));
  }
  measuring = false;
}

async function tearDown(): Promise<void> {
  const up = calls.filter((c) => c.state === 'up');
  for (const [k, c] of up.entries()) {
    c.state = 'byeing';
    send(request(c, 'BYE', 2));
    if (k % Math.max(1, Math.round(input.setupCps / 50)) === 0) await sleep(20);
  }
  const end = performance.now() + 5000;
  let resent = false;
  while (calls.some((c) => c.state === 'byeing') && performance.now() < end) {
    await sleep(100);
    if (!resent && performance.now() > end - 4000) {
      resent = true;
      for (const c of calls) if (c.state === 'byeing') send(request(c, 'BYE', 2));
    }
  }
}

await setUp();
const setup = calls.filter((c) => c.setupMs !== undefined).map((c) => c.setupMs!).sort((a, b) => a - b);
const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;
process.stdout.write(`setup ${JSON.stringify({ up: setup.length, failed: input.calls - setup.length, p50: q(setup, 0.5), p99: q(setup, 0.99) })}\n`);
const t0 = performance.now();
await stream(t0 + (input.warmup + input.seconds) * 1000, t0 + input.warmup * 1000);
await sleep(300);
const sent = calls.reduce((a, c) => a + c.sentMeasured, 0);
const received = calls.reduce((a, c) => a + c.receivedMeasured, 0);
const silent = calls.filter((c) => c.sentMeasured > 0 && c.receivedMeasured === 0).length;
await tearDown();
for (const c of calls) c.rtp.close();
sip.close();
rtts.sort((a, b) => a - b);
process.stdout.write(
  JSON.stringify({
    calls: input.calls,
    up: setup.length,
    sent,
    received,
    silentCalls: silent,
    rttP50: q(rtts, 0.5),
    rttP99: q(rtts, 0.99),
    ended: calls.filter((c) => c.state === 'done').length,
  }) + '\n',
);
