/**
 * Phones for the agent-audio benchmark, in their own process (their event loop is not the
 * engine's): N callers that each set up a real SIP call over UDP to an agent's number (INVITE
 * with a PCMU offer -> 200 -> ACK) and carry its media on a raw RTP socket, like
 * `sip-callers.ts` does for echo calls. Each phone streams a 20 ms frame every 20 ms: near-silent
 * frames that carry a numbered tag (so the engine's hook can time each one's arrival), then, when
 * told to barge in, real speech (flite) that the agent's voice activity detection must catch.
 * Every packet the agent sends is kept with its arrival time. A floor stream runs beside them:
 * one more socket that sends the same frames to a raw Node UDP echo in the engine's process.
 *
 * All times are CLOCK_MONOTONIC milliseconds (`process.hrtime`), the same clock in every process
 * on the machine, so the engine's hook and the phones compare times directly.
 *
 * Input: JSON as argv[2] (`Input`). IPC: `{ type: 'up', failed }` once every call is answered,
 * then `{ type: 'done' }` after writing the figures (`Output`) to `input.out`.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { g711Decode, g711Encode } from '../../media/audio/g711.js';
import { rms } from '../../media/audio/tone.js';
import { speech8k } from '../../test/helpers/speech.js';
import { readRtpHeader } from '../../media/rtp/packet.js';
import { monoMs, tagFrame } from '../lib/audio-tag.js';

export interface Input {
  target: string;
  user: string;
  calls: number;
  setupCps: number;
  /** Milliseconds to stream after every call is up (the measured window). */
  seconds: number;
  /** Each call barges in once, at the end of the window (staggered over `bargeSpreadMs`). */
  bargeIn: boolean;
  bargeSpreadMs: number;
  /** The engine process's raw UDP echo, for the floor. */
  floorPort: number;
  out: string;
}

/** One received agent packet: sequence, arrival (ms), marker, loud (RMS > 300). */
export type Heard = [seq: number, at: number, marker: 0 | 1, loud: 0 | 1];

export interface CallOut {
  index: number;
  up: boolean;
  /** Tag -> send time of every tagged frame, as pairs. */
  sent: [tag: number, at: number][];
  heard: Heard[];
  /** Send time of the first speech frame (the barge-in), or null. */
  bargeAt: number | null;
}

export interface Output {
  calls: CallOut[];
  /** Floor: [sent, echo received (engine process), echo sent, received back]. */
  floor: [number, number, number, number][];
  windowFrom: number;
  windowTo: number;
}

interface Call {
  index: number;
  callId: string;
  tag: string;
  rtp: dgram.Socket;
  rtpPort: number;
  state: 'inviting' | 'up' | 'failed' | 'byeing' | 'done';
  invite: string;
  inviteAt: number;
  retries: number;
  toTag?: string;
  remoteTarget?: string;
  media?: { ip: string; port: number };
  frame: number;
  seq: number;
  speech: Int16Array[];
  out: CallOut;
}

const input = JSON.parse(process.argv[2]!) as Input;
const [host, portText] = input.target.split(':') as [string, string];
const port = Number(portText);
const run = randomBytes(4).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The caller's barge-in: flite speech, from its first loud frame (flite writes leading silence). */
const bargeFrames = (() => {
  const pcm = speech8k('Hello? Sorry to interrupt, I have a question about my account.');
  const frames: Int16Array[] = [];
  for (let i = 0; i + 160 <= pcm.length; i += 160) frames.push(pcm.slice(i, i + 160));
  return frames.slice(Math.max(0, frames.findIndex((f) => rms(f) > 500)));
})();

const sip = dgram.createSocket('udp4');
await new Promise<void>((r) => sip.bind(0, '127.0.0.1', () => r()));
const sipPort = sip.address().port;

async function openCall(index: number): Promise<Call> {
  const rtp = dgram.createSocket('udp4');
  await new Promise<void>((r) => rtp.bind(0, '127.0.0.1', () => r()));
  const call: Call = {
    index,
    callId: `${run}-${index}@127.0.0.1`,
    tag: `a${run}${index}`,
    rtp,
    rtpPort: rtp.address().port,
    state: 'inviting',
    invite: '',
    inviteAt: 0,
    retries: 0,
    frame: 0,
    seq: 0,
    speech: [],
    out: { index, up: false, sent: [], heard: [], bargeAt: null },
  };
  rtp.on('message', (msg) => {
    const at = monoMs();
    const h = readRtpHeader(msg);
    if (!h || h.payloadType !== 0) return;
    const payload = msg.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength);
    call.out.heard.push([h.sequence, at, h.marker ? 1 : 0, rms(g711Decode('PCMU', payload)) > 300 ? 1 : 0]);
  });
  return call;
}

const calls = await Promise.all(Array.from({ length: input.calls }, (_, i) => openCall(i)));
const byCallId = new Map(calls.map((c) => [c.callId, c]));

function request(c: Call, method: 'INVITE' | 'ACK' | 'BYE', cseq: number, body = ''): string {
  const uri = method === 'INVITE' ? `sip:${input.user}@${host}:${port}` : (c.remoteTarget ?? `sip:${input.user}@${host}:${port}`);
  return [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${sipPort};branch=z9hG4bK${run}${c.index}${method[0]}${cseq};rport`,
    'Max-Forwards: 70',
    `From: <sip:+15550100@127.0.0.1:${sipPort}>;tag=${c.tag}`,
    `To: <sip:${input.user}@${host}:${port}>${c.toTag ? `;tag=${c.toTag}` : ''}`,
    `Call-ID: ${c.callId}`,
    `CSeq: ${cseq} ${method}`,
    `Contact: <sip:bench@127.0.0.1:${sipPort}>`,
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

const offer = (c: Call) =>
  ['v=0', `o=bench ${c.index} 1 IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${c.rtpPort} RTP/AVP 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=ptime:20', 'a=sendrecv', ''].join('\r\n');

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
      c.retries = Infinity; // RFC 3261 §17.1.1.2: a provisional response stops INVITE retransmissions
      return;
    }
    if (status >= 300) {
      if (c.state === 'inviting') c.state = 'failed';
      return;
    }
    c.toTag ??= /;tag=([^;>\s]+)/.exec(header(msg, 'To') ?? '')?.[1];
    c.remoteTarget ??= /<([^>]+)>/.exec(header(msg, 'Contact') ?? '')?.[1];
    send(request(c, 'ACK', 1));
    if (c.state !== 'inviting') return;
    const body = msg.slice(msg.indexOf('\r\n\r\n') + 4);
    const ip = /^c=IN IP4 (\S+)/m.exec(body)?.[1];
    const mport = Number(/^m=audio (\d+)/m.exec(body)?.[1]);
    if (!ip || !mport) return void (c.state = 'failed');
    c.media = { ip, port: mport };
    c.state = 'up';
    c.out.up = true;
  } else if (method === 'BYE' && status >= 200) {
    c.state = 'done';
  }
});

/** In-dialog requests from the engine (a BYE): 200 OK. */
function answerRequest(msg: string): void {
  const method = msg.slice(0, msg.indexOf(' '));
  if (method === 'ACK') return;
  const vias = msg.split('\r\n').filter((l) => /^Via:/i.test(l));
  send(['SIP/2.0 200 OK', ...vias, `From: ${header(msg, 'From')}`, `To: ${header(msg, 'To')}`, `Call-ID: ${header(msg, 'Call-ID')}`, `CSeq: ${header(msg, 'CSeq')}`, 'Content-Length: 0', '', ''].join('\r\n'));
  const c = byCallId.get(header(msg, 'Call-ID') ?? '');
  if (method === 'BYE' && c) c.state = 'done';
}

/** One frame to the call's engine port: speech when the phone is barging in, else a tagged near-silence. */
function sendFrame(c: Call): void {
  if (c.state !== 'up' || !c.media) return;
  const speech = c.speech.shift();
  let payload: Buffer;
  if (speech) {
    payload = g711Encode('PCMU', speech);
    c.out.bargeAt ??= monoMs();
  } else {
    const tag = c.index * 2 ** 20 + c.frame;
    payload = tagFrame(tag);
    c.out.sent.push([tag, monoMs()]);
  }
  const packet = Buffer.alloc(12 + payload.length);
  packet[0] = 0x80;
  packet[1] = 0;
  packet.writeUInt16BE(c.seq & 0xffff, 2);
  packet.writeUInt32BE((c.seq * 160) >>> 0, 4);
  packet.writeUInt32BE(0x30000 + c.index, 8);
  payload.copy(packet, 12);
  c.frame++;
  c.seq++;
  c.rtp.send(packet, c.media.port, c.media.ip);
}

/** Places every call at `setupCps`, retransmitting INVITEs (T1 = 500 ms, doubling); 10 s to answer. */
async function setUp(): Promise<void> {
  const start = performance.now();
  for (const [k, c] of calls.entries()) {
    const due = start + (k * 1000) / input.setupCps;
    if (due > performance.now()) await sleep(due - performance.now());
    c.invite = request(c, 'INVITE', 1, offer(c));
    c.inviteAt = performance.now();
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

/** Sub-ticks of the 20 ms frame time: call i sends in sub-tick i % phases, as independent phones do. */
const phases = 4;
const floorSock = dgram.createSocket('udp4');
await new Promise<void>((r) => floorSock.bind(0, '127.0.0.1', () => r()));
const floor: Output['floor'] = [];
floorSock.on('message', (msg) => {
  const at = monoMs();
  if (msg.length < 184) return;
  floor.push([msg.readDoubleBE(160), msg.readDoubleBE(168), msg.readDoubleBE(176), at]);
});

let streaming = true;
/** Frames for every live call (and the floor stream) until `streaming` goes false. */
async function stream(): Promise<void> {
  const start = performance.now();
  const step = 20 / phases;
  let tick = 0;
  while (streaming) {
    for (let i = tick % phases; i < calls.length; i += phases) sendFrame(calls[i]!);
    if (tick % phases === phases - 1) {
      // Floor: 160 bytes of frame, then the send time; the echo appends its receive and send times.
      const p = Buffer.alloc(184, 0xff);
      p.writeDoubleBE(monoMs(), 160);
      floorSock.send(p, input.floorPort, '127.0.0.1');
    }
    tick++;
    await sleep(Math.max(0, start + tick * step - performance.now()));
  }
}

async function tearDown(): Promise<void> {
  for (const c of calls) {
    if (c.state !== 'up') continue;
    c.state = 'byeing';
    send(request(c, 'BYE', 2));
    await sleep(5);
  }
  const end = performance.now() + 5000;
  while (calls.some((c) => c.state === 'byeing') && performance.now() < end) await sleep(100);
}

// Media starts with the first answer (the engine starts the agent once the caller's RTP latches).
const streaming$ = stream();
await setUp();
process.send?.({ type: 'up', failed: calls.filter((c) => c.state !== 'up').length });
const windowFrom = monoMs() + 1000;
await sleep(1000 + input.seconds * 1000);
const windowTo = monoMs();
if (input.bargeIn) {
  calls.forEach((c, k) => setTimeout(() => c.speech.push(...bargeFrames.map((f) => f.slice())), (k * input.bargeSpreadMs) / Math.max(1, calls.length)));
  await sleep(input.bargeSpreadMs + 2000);
}
streaming = false;
await streaming$;
await tearDown();
for (const c of calls) c.rtp.close();
sip.close();
floorSock.close();
fs.writeFileSync(input.out, JSON.stringify({ calls: calls.map((c) => c.out), floor, windowFrom, windowTo } satisfies Output));
process.send?.({ type: 'done' });
process.disconnect?.();
