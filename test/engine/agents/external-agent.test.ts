/**
 * Bring your own agent over WebSocket, end to end on loopback: SIPp places the call to a number
 * whose agent is of kind `websocket`, the test's phone carries the caller's media, and a real
 * `ws` server (test/helpers/ws-agent.ts) is the agent. What the agent receives (start, the
 * caller's audio, keys) and what the phone hears (decoded, by tone) are what is checked.
 */
import net from 'node:net';
import anyTest, { type TestFn } from 'ava';
import { DtmfReceiver } from '../../../media/audio/dtmf.js';
import { g711Decode, g711Encode } from '../../../media/audio/g711.js';
import { rms, sine } from '../../../media/audio/tone.js';
import { toneLevel } from '../../helpers/audio.js';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, scenario, sippCall, type InboundSetup } from '../../helpers/inbound.js';
import { Phone } from '../../helpers/phone.js';
import { ENGINE_BYE } from '../../helpers/transfer.js';
import { speech8k } from '../../helpers/speech.js';
import { WsAgentServer } from '../../helpers/ws-agent.js';
import '../../helpers/allow-loopback.js';

const test = anyTest as TestFn<{ s: InboundSetup; agent: WsAgentServer }>;

test.before(async (t) => {
  t.context.s = await inboundSetup();
  t.context.agent = await WsAgentServer.open();
});
test.after.always(async (t) => {
  await t.context.agent?.close();
  await t.context.s?.close();
});

/** A frame "holds" a tone when its Goertzel level passes this (tones are sent at 8192 peak). */
const TONE_LEVEL = 3000;

async function useWebsocketAgent(s: InboundSetup, websocket: Record<string, unknown>): Promise<void> {
  const res = await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: s.tenant.headers, body: { config: { kind: 'websocket', websocket } } });
  if (res.status !== 200) throw new Error(`agent: ${res.status} ${JSON.stringify(res.body)}`);
}

/** Places the call; resolves with the live call, the phone streaming to its leg, and SIPp's outcome. */
async function placeCall(s: InboundSetup, byeTimeoutMs = 30_000) {
  const phone = await Phone.open();
  const sipp = sippCall(s, scenario('agent-call.xml', { rtpPort: phone.port, byeTimeoutMs }));
  const live = await waitFor(() => [...s.app.engine.calls.calls.values()].find((c) => c.parts.leg && c.state === 'answered'), 10_000);
  const started = performance.now();
  phone.start(Number(/m=audio (\d+)/.exec(live.parts.leg!.answerSdp)![1]));
  return { phone, sipp, live, started };
}

async function endedCall(s: InboundSetup, id: string, timeoutMs = 15_000) {
  return waitFor(async () => {
    const c = await request<{ endReason: string | null; hangupBy: string; transcript: { role: string; text: string }[] }>(s.base, 'GET', `/api/v1/calls/${id}`, { headers: s.tenant.headers });
    return c.body.endReason ? c.body : undefined;
  }, timeoutMs);
}

/** `ms` of a tone as PCMU, for the agent to send. */
const pcmuTone = (hz: number, ms: number) => g711Encode('PCMU', sine(hz, ms, { amplitude: 0.25 }));
/** Milliseconds the phone heard the `hz` tone since `since`. */
const toneMs = (phone: Phone, since: number, hz: number) => phone.heard(since).filter((f) => toneLevel(f.pcm, hz) > TONE_LEVEL).length * 20;

test.serial('the agent gets start, the caller’s audio and keys; its audio, marks and clear reach the caller; its hangup ends the call', async (t) => {
  const { s, agent } = t.context;
  await useWebsocketAgent(s, { url: agent.url, headers: { Authorization: 'Bearer agent-secret' } });
  const n = agent.connections.length;
  const { phone, sipp, live, started } = await placeCall(s);
  t.teardown(() => phone.close());
  const conn = await agent.connection(n);
  t.is(conn.headers.authorization, 'Bearer agent-secret');
  const start = (await conn.next('start')).msg;
  t.like(start, { type: 'start', version: 1, reconnect: false, callId: live.id, agentId: s.agentId, direction: 'inbound', from: '+15550100', to: 'service' });
  t.deepEqual(start.media, { format: 'pcmu', sampleRate: 8000, channels: 1, frameMs: 20, frameBytes: 160 });
  t.is((start.variables as { sip: Record<string, string> }).sip.x_customer_tier, 'gold');

  // The caller speaks, then presses 5: the agent receives 20 ms PCMU frames, some with sound, and the key.
  const sayAt = performance.now();
  phone.say(speech8k('Hello, I would like to check my balance.'));
  await waitFor(() => conn.frames.filter((f) => f.at >= sayAt && rms(g711Decode('PCMU', f.data)) > 300).length >= 25, 10_000);
  const sizes = new Set(conn.frames.map((f) => f.data.length));
  const loud = conn.frames.filter((f) => rms(g711Decode('PCMU', f.data)) > 300).length;
  t.log(`agent received ${conn.frames.length} frames (sizes ${[...sizes].join(',')}), ${loud} with sound`);
  t.deepEqual([...sizes], [160]);
  phone.press('5');
  const dtmf = (await conn.next('dtmf')).msg;
  t.is(dtmf.digit, '5');

  // REST actions: say is the agent's own business (409); DTMF to the caller works (202).
  const say = await request<{ error: { code: string; message: string } }>(s.base, 'POST', `/api/v1/calls/${live.id}/say`, { headers: s.tenant.headers, body: { text: 'hi' } });
  t.is(say.status, 409);
  t.regex(say.body.error.message, /speaks for itself/);
  const dtmfOut = await request(s.base, 'POST', `/api/v1/calls/${live.id}/dtmf`, { headers: s.tenant.headers, body: { digits: '1' } });
  t.is(dtmfOut.status, 202);

  // One second of 1 kHz, sent in one go, then a mark: the caller hears it whole, and the mark comes back after it.
  const sentAt = performance.now();
  for (let i = 0; i < 50; i++) conn.sendAudio(pcmuTone(1000, 1000).subarray(i * 160, (i + 1) * 160));
  conn.sendJson({ type: 'mark', name: 'greeting' });
  const mark = await conn.next('mark', (m) => m.name === 'greeting');
  t.is(mark.msg.cleared, undefined);
  const beep = phone.heard(sentAt).filter((f) => toneLevel(f.pcm, 1000) > TONE_LEVEL);
  const lastBeep = beep.at(-1)!.at;
  t.log(`1 kHz heard ${beep.length * 20} ms of 1000; mark came ${(mark.at - sentAt).toFixed(0)} ms after the audio was sent, ${(mark.at - lastBeep).toFixed(0)} ms after its last frame reached the phone`);
  t.true(beep.length >= 48, `${beep.length} frames`);
  t.true(mark.at - sentAt >= 900, `mark after ${(mark.at - sentAt).toFixed(0)} ms`);
  t.true(mark.at >= lastBeep - 60, 'the mark came after its audio played');

  // Ten seconds of 600 Hz; half a second in, clear: playout stops, the mark queued behind it comes back cleared.
  const musicAt = performance.now();
  conn.sendAudio(pcmuTone(600, 10_000));
  conn.sendJson({ type: 'mark', name: 'after-music' });
  await waitFor(() => toneMs(phone, musicAt, 600) >= 500, 10_000, 10);
  const clearAt = performance.now();
  conn.sendJson({ type: 'clear' });
  const cleared = await conn.next('mark', (m) => m.name === 'after-music');
  t.is(cleared.msg.cleared, true);
  await new Promise((r) => setTimeout(r, 500));
  const music = phone.heard(musicAt).filter((f) => toneLevel(f.pcm, 600) > TONE_LEVEL);
  const stopMs = music.at(-1)!.at - clearAt;
  t.log(`600 Hz heard ${music.length * 20} ms of 10000; its last frame ${stopMs.toFixed(0)} ms after clear was sent; cleared mark back after ${(cleared.at - clearAt).toFixed(0)} ms`);
  t.true(stopMs < 250, `playout stopped ${stopMs.toFixed(0)} ms after clear`);
  t.true(music.length * 20 <= 1500);

  // The agent hangs up: SIPp gets the BYE, the call ends agent_hangup, the agent gets stop.
  conn.sendJson({ type: 'hangup', reason: 'done' });
  const r = await sipp;
  t.is(r.code, 0, r.errors);
  const call = await endedCall(s, live.id);
  t.is(call.endReason, 'agent_hangup');
  t.is(call.hangupBy, 'agent');
  t.deepEqual(call.transcript.map((e) => `${e.role}: ${e.text}`), ['system: hangup: done']);
  const stop = await conn.next('stop');
  t.is(stop.msg.reason, 'agent_hangup');
  await waitFor(() => conn.closedAt !== null, 3000);
  t.log(`whole call ${((performance.now() - started) / 1000).toFixed(1)} s`);
});

test.serial('L16 framing: 320-byte frames both ways, the caller hears the agent’s audio', async (t) => {
  const { s, agent } = t.context;
  await useWebsocketAgent(s, { url: agent.url, audio: 'l16' });
  const n = agent.connections.length;
  const { phone, sipp, live } = await placeCall(s);
  t.teardown(() => phone.close());
  const conn = await agent.connection(n);
  const start = (await conn.next('start')).msg;
  t.deepEqual(start.media, { format: 'l16', sampleRate: 8000, channels: 1, frameMs: 20, frameBytes: 320 });
  const sayAt = performance.now();
  phone.say(speech8k('Testing one two three.'));
  const l16 = (b: Buffer) => new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  await waitFor(() => conn.frames.filter((f) => f.at >= sayAt && rms(l16(f.data)) > 300).length >= 10, 10_000);
  t.deepEqual([...new Set(conn.frames.map((f) => f.data.length))], [320]);
  const tone = sine(1000, 500, { amplitude: 0.25 });
  const sentAt = performance.now();
  conn.sendAudio(Buffer.from(tone.buffer, tone.byteOffset, tone.byteLength));
  // An odd length cannot be L16: an error, and the call goes on.
  conn.sendAudio(Buffer.alloc(3));
  const err = await conn.next('error');
  t.is(err.msg.code, 'bad_audio');
  await waitFor(() => toneMs(phone, sentAt, 1000) >= 460, 10_000);
  t.log(`1 kHz heard ${toneMs(phone, sentAt, 1000)} ms of 500 sent as L16`);
  // The agent's dtmf command: telephone events on the caller's RTP, decoded as a phone would.
  const dtmfAt = performance.now();
  conn.sendJson({ type: 'dtmf', digits: '#9' });
  // A second send while the first runs is refused, not queued (one run of events at a time).
  const refusedAt = performance.now();
  conn.sendJson({ type: 'dtmf', digits: '1' });
  t.like((await conn.next('error', (m) => m.code === 'refused', 5000, refusedAt)).msg, { message: 'DTMF is being sent: wait for it to finish' });
  const digits = await waitFor(() => {
    const rx = new DtmfReceiver();
    const got = phone.peer.received.filter((r) => r.at >= dtmfAt && r.header.payloadType === 101).flatMap((r) => rx.receive(r.header.timestamp, r.payload)?.digit ?? []);
    return got.length >= 2 ? got : undefined;
  }, 5000);
  t.deepEqual(digits, ['#', '9']);
  // Bad digits are a bad message, answered; the call goes on.
  conn.sendJson({ type: 'dtmf', digits: 'xyz' });
  t.like((await conn.next('error', (m) => m.code === 'bad_message')).msg, { message: 'digits: Must be 1 to 32 of 0-9, *, #, A-D' });
  conn.sendJson({ type: 'hangup' });
  const r = await sipp;
  t.is(r.code, 0, r.errors);
  t.is((await endedCall(s, live.id)).endReason, 'agent_hangup');
});

test.serial('a dropped socket is reconnected once (start with reconnect: true); a second drop ends the call agent_disconnected', async (t) => {
  const { s, agent } = t.context;
  await useWebsocketAgent(s, { url: agent.url });
  const n = agent.connections.length;
  const { phone, sipp, live } = await placeCall(s);
  t.teardown(() => phone.close());
  const first = await agent.connection(n);
  await first.next('start');
  // Ten seconds of audio and a mark after it, still waiting when the socket drops.
  first.sendAudio(pcmuTone(600, 10_000));
  first.sendJson({ type: 'mark', name: 'after-greeting' });
  await new Promise((r) => setTimeout(r, 200));
  const dropAt = performance.now();
  first.ws.terminate();
  const second = await agent.connection(n + 1);
  const restart = (await second.next('start')).msg;
  t.like(restart, { type: 'start', reconnect: true, callId: live.id });
  // The waiting mark is answered on the new socket, cleared (its audio was dropped), right after start.
  const owed = await second.next('mark');
  t.deepEqual(owed.msg, { type: 'mark', name: 'after-greeting', cleared: true });
  t.is(second.messages.findIndex((m) => m.msg.type === 'mark'), 1, 'the mark comes right after start');
  t.log(`reconnected ${(second.messages[0]!.at - dropAt).toFixed(0)} ms after the drop`);
  // The call goes on: the reconnected agent still hears the caller.
  const since = performance.now();
  await waitFor(() => second.frames.some((f) => f.at >= since), 5000);
  t.is(live.state, 'answered');
  second.ws.close(1011, 'agent crashed');
  const r = await sipp;
  t.is(r.code, 0, r.errors);
  const call = await endedCall(s, live.id);
  t.is(call.endReason, 'agent_disconnected');
  t.is(call.hangupBy, 'system');
  t.is(agent.connections.length, n + 2, 'no third connection');
  const errors = await request<{ items: { code: string }[] }>(s.base, 'GET', `/api/v1/analytics/errors?limit=100&callId=${live.id}`, { headers: s.tenant.headers });
  t.deepEqual(errors.body.items.map((e) => e.code).sort(), ['agent_disconnected', 'agent_dropped']);
});

test.serial('an unreachable agent (connection refused) ends the call agent_unreachable, with a BYE; the engine takes the next call', async (t) => {
  const { s, agent } = t.context;
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  await useWebsocketAgent(s, { url: `ws://127.0.0.1:${port}/nobody` });
  const { phone, sipp, live, started } = await placeCall(s);
  t.teardown(() => phone.close());
  const r = await sipp;
  t.is(r.code, 0, r.errors);
  const call = await endedCall(s, live.id);
  t.log(`call ended ${(performance.now() - started).toFixed(0)} ms after answer`);
  t.is(call.endReason, 'agent_unreachable');
  t.is(call.hangupBy, 'system');
  // The engine is fine: the next call reaches a working agent.
  await useWebsocketAgent(s, { url: agent.url });
  const n = agent.connections.length;
  const next = await placeCall(s);
  t.teardown(() => next.phone.close());
  const conn = await agent.connection(n);
  await conn.next('start');
  conn.sendJson({ type: 'hangup' });
  t.is((await next.sipp).code, 0);
});

test.serial('an agent that accepts TCP but never answers the upgrade is given up after the connect timeout (AS_EXTERNAL_AGENTS_CONNECT_TIMEOUT_MS=1500)', async (t) => {
  const s = await inboundSetup({ externalAgents: { connectTimeoutMs: 1500 } });
  t.teardown(() => s.close());
  const sockets: net.Socket[] = [];
  const silent = net.createServer((sock) => sockets.push(sock));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const sock of sockets) sock.destroy();
    silent.close();
  });
  await useWebsocketAgent(s, { url: `ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}/` });
  const { phone, sipp, live, started } = await placeCall(s);
  t.teardown(() => phone.close());
  const r = await sipp;
  t.is(r.code, 0, r.errors);
  const endedAfter = performance.now() - started;
  const call = await endedCall(s, live.id);
  t.log(`the silent agent was given up ${endedAfter.toFixed(0)} ms after answer (timeout 1500 ms)`);
  t.is(call.endReason, 'agent_unreachable');
  t.is(sockets.length, 1);
  t.true(endedAfter >= 1400 && endedAfter < 4000, `${endedAfter.toFixed(0)} ms`);
});

test.serial('the agent’s transfer command: REFER to the caller, NOTIFY 200, the call ends transferred; the agent gets transfer_result then stop', async (t) => {
  const { s, agent } = t.context;
  await useWebsocketAgent(s, { url: agent.url });
  const n = agent.connections.length;
  const caller = sippCall(
    s,
    scenario('transfer-refer-accept.xml', { referTo: '^ *.sip:\\+15551234567@127\\.0\\.0\\.1:[0-9]+;user=phone.$', referredBy: '.*', final: '200 OK', finalState: 'terminated;reason=noresource', tail: ENGINE_BYE, holdMs: 0 }),
  );
  const conn = await agent.connection(n, 20_000);
  const start = (await conn.next('start')).msg;
  conn.sendJson({ type: 'transfer', target: '+15551234567' });
  const result = await conn.next('transfer_result', () => true, 15_000);
  t.deepEqual(result.msg, { type: 'transfer_result', target: '+15551234567', result: 'transferred' });
  const stop = await conn.next('stop');
  t.is(stop.msg.reason, 'transferred');
  t.true(stop.at >= result.at);
  const r = await caller;
  t.is(r.code, 0, r.output + r.errors);
  const call = await endedCall(s, String(start.callId));
  t.is(call.endReason, 'transferred');
  t.is(call.hangupBy, 'agent');
});

test.serial('bounds: past a minute of queued audio the rest is refused (playout_full); a message past 256 KiB drops the socket, which counts as the one reconnection', async (t) => {
  const { s, agent } = t.context;
  await useWebsocketAgent(s, { url: agent.url });
  const n = agent.connections.length;
  const { phone, sipp, live } = await placeCall(s);
  t.teardown(() => phone.close());
  const conn = await agent.connection(n);
  await conn.next('start');
  // 16 s of audio per message (128 KB of PCMU), four times: the fourth would pass 60 s queued.
  const chunk = pcmuTone(600, 16_000);
  for (let i = 0; i < 4; i++) conn.sendAudio(chunk);
  conn.sendJson({ type: 'mark', name: 'queued' });
  const full = await conn.next('error');
  t.is(full.msg.code, 'playout_full');
  t.is(conn.messages.filter((m) => m.msg.type === 'error').length, 1);
  conn.sendJson({ type: 'clear' });
  t.is((await conn.next('mark', (m) => m.name === 'queued')).msg.cleared, true);
  // One message past the 256 KiB cap: the engine closes the socket (1009) and reconnects once.
  conn.sendAudio(Buffer.alloc(256 * 1024 + 1, 0xff));
  const second = await agent.connection(n + 1);
  t.like((await second.next('start')).msg, { reconnect: true, callId: live.id });
  t.not(conn.closedAt, null);
  second.sendJson({ type: 'hangup' });
  const r = await sipp;
  t.is(r.code, 0, r.errors);
  t.is((await endedCall(s, live.id)).endReason, 'agent_hangup');
});

test.serial('an agent that stops reading has its socket cut past 16× the send-buffer bound (a drop: reconnected once): what the engine queues for it stays bounded', async (t) => {
  const s = await inboundSetup({ externalAgents: { maxBufferedBytes: 1024 } });
  t.teardown(() => s.close());
  const agent = await WsAgentServer.open();
  t.teardown(() => agent.close());
  await useWebsocketAgent(s, { url: agent.url });
  const { phone, sipp, live } = await placeCall(s);
  t.teardown(() => phone.close());
  const first = await agent.connection(0);
  await first.next('start');
  // The agent stops reading, and asks for a flood of answers (marks with nothing queued come back at once).
  first.ws.pause();
  const name = 'm'.repeat(200);
  const floodAt = performance.now();
  for (let i = 0; i < 40_000 && first.open; i++) {
    first.sendJson({ type: 'mark', name });
    if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
  }
  const second = await agent.connection(1, 20_000);
  t.like((await second.next('start')).msg, { reconnect: true, callId: live.id });
  t.log(`socket cut and reopened ${(second.messages[0]!.at - floodAt).toFixed(0)} ms after the agent stopped reading`);
  t.is(live.state, 'answered');
  second.sendJson({ type: 'hangup' });
  const stop = await second.next('stop');
  t.log(`caller frames dropped while the agent did not read: ${String(stop.msg.droppedFrames)}`);
  const r = await sipp;
  t.is(r.code, 0, r.errors);
  t.is((await endedCall(s, live.id)).endReason, 'agent_hangup');
});
