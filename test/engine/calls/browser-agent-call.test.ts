/**
 * A browser calls an agent, end to end: Debian chromium (fake microphone, loopback WebRTC) loads a
 * page served from 127.0.0.1 whose script is sip.js bundled by esbuild at test time. The test
 * asks `POST /api/v1/calls/web` for an identity, the page calls its target over the SIP WebSocket
 * (sip.js answers the 407 itself), the agent greets, and the page hears it: RTCPeerConnection
 * getStats inbound-rtp packets, bytes and audio level, which the engine's leg counters agree
 * with. The page hangs up (BYE) and the call record ends `caller_hangup`. Screenshot saved.
 *
 * The agent cannot transfer, so the call is in Opus (issue 10) and Node decodes and encodes it:
 * the page's microphone plays a 1 kHz tone, and the call's recording (caller left, agent right,
 * 8 kHz) holds that tone on the left and the greeting on the right.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import anyTest, { type TestFn } from 'ava';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { rms, sine } from '../../../media/audio/tone.js';
import { parseWav, writeWav } from '../../../media/audio/wav.js';
import { channel, frames, toneLevel } from '../../helpers/audio.js';
import { browserSkipReason, launchBrowser, screenshot } from '../../helpers/browser.js';
import { tempDir } from '../../helpers/config.js';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, type InboundSetup } from '../../helpers/inbound.js';

const test = anyTest as TestFn;
const GREETING = 'Hello from your agent. This greeting is long enough to be measured in the browser.';
/** What the page's microphone plays: loud, well inside narrowband Opus and G.711's band. */
const micHz = 1000;
/** Its peak in sample units (a quarter of full scale). */
const micAmplitude = 8192;

/** The page's script: sip.js's UserAgent and Inviter, bundled for the browser. */
const entry = `
import { Inviter, SessionState, UserAgent } from 'sip.js';
window.states = [];
window.softphone = {
  async call(cfg) {
    const ua = new UserAgent({
      uri: UserAgent.makeURI(cfg.sip.uri),
      authorizationUsername: cfg.sip.username,
      authorizationPassword: cfg.sip.password,
      transportOptions: { server: cfg.websocketUrl },
      sessionDescriptionHandlerFactoryOptions: { peerConnectionConfiguration: { iceServers: cfg.iceServers } },
      logBuiltinEnabled: false,
    });
    await ua.start();
    // The tone as it is: no noise suppression, gain control or echo cancellation on a steady sine.
    const audio = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
    const session = new Inviter(ua, UserAgent.makeURI(cfg.target), { sessionDescriptionHandlerOptions: { constraints: { audio, video: false } } });
    window.ua = ua;
    window.session = session;
    session.stateChange.addListener((s) => {
      window.states.push(s);
      if (s !== SessionState.Established) return;
      const pc = session.sessionDescriptionHandler.peerConnection;
      const stream = new MediaStream();
      for (const r of pc.getReceivers()) if (r.track) stream.addTrack(r.track);
      const audio = document.getElementById('remote');
      audio.srcObject = stream;
      audio.play().catch(() => undefined);
    });
    await session.invite();
  },
  async inbound() {
    const pc = window.session?.sessionDescriptionHandler?.peerConnection;
    let out = { packetsReceived: 0, bytesReceived: 0, audioLevel: 0, totalAudioEnergy: 0, connectionState: pc ? pc.connectionState : 'none', mimeType: '' };
    if (!pc) return out;
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        const codec = s.codecId ? stats.get(s.codecId) : undefined;
        out = { packetsReceived: s.packetsReceived || 0, bytesReceived: s.bytesReceived || 0, audioLevel: s.audioLevel || 0, totalAudioEnergy: s.totalAudioEnergy || 0, connectionState: pc.connectionState, mimeType: codec ? codec.mimeType : '' };
      }
    });
    return out;
  },
  async hangup() {
    await window.session.bye();
  },
  dtmf(digits) {
    const sender = window.session.sessionDescriptionHandler.peerConnection.getSenders().find((s) => s.dtmf);
    sender.dtmf.insertDTMF(digits, 100, 70);
  },
  states() { return window.states; },
};
`;

interface Inbound {
  packetsReceived: number;
  bytesReceived: number;
  audioLevel: number;
  totalAudioEnergy: number;
  connectionState: string;
  /** The codec of what the page receives (getStats `codec`). */
  mimeType: string;
}

let s: InboundSetup;
let browser: Browser | undefined;
let pageUrl = '';
let server: http.Server | undefined;

test.before(async () => {
  if (browserSkipReason) return;
  s = await inboundSetup();
  // No barge-in: the page's microphone must not cut the greeting short.
  const patched = await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: s.tenant.headers, body: { config: { firstMessage: GREETING, bargeIn: false, recording: true } } });
  if (patched.status !== 200) throw new Error(`greeting: ${patched.status}`);
  const bundle = await build({ stdin: { contents: entry, resolveDir: process.cwd(), loader: 'js' }, bundle: true, format: 'iife', platform: 'browser', write: false, logLevel: 'silent' });
  const js = bundle.outputFiles[0]!.text;
  const html = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Browser call</title><h1>Calling the agent</h1><audio id="remote" autoplay controls></audio><script>${js}</script></html>`;
  server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  pageUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  // A tone for a microphone: the agent does not echo, so the page hears the greeting only, and
  // the recording's caller channel shows what Node decoded of the page's Opus.
  const tone = path.join(tempDir('as-tone-'), 'tone.wav');
  fs.writeFileSync(tone, writeWav({ sampleRate: 8000, channels: 1, samples: sine(micHz, 30_000, { amplitude: micAmplitude / 32767 }) }));
  browser = await launchBrowser({ audioFile: tone });
});
test.after.always(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await s?.close();
});

const maybe = browserSkipReason ? test.serial.skip : test.serial;

maybe(`chromium with sip.js calls the agent with a web identity: the greeting arrives in Opus (getStats), the leg counters agree, the page's BYE ends the call${browserSkipReason}`, async (t) => {
  const web = await request<{ websocketUrl: string; sip: { uri: string }; target: string }>(s.base, 'POST', '/api/v1/calls/web', { headers: s.tenant.headers, body: { agentId: s.agentId } });
  t.is(web.status, 201);
  const page: Page = await browser!.newPage();
  t.teardown(() => page.close());
  await page.goto(pageUrl);
  await page.evaluate(`window.softphone.call(${JSON.stringify(web.body)})`);
  const live = await waitFor(() => [...s.app.engine.calls.calls.values()].find((c) => c.parts.leg && c.state === 'answered'), 15_000);
  // The greeting: packets, bytes and a level at the page.
  let inbound: Inbound = await page.evaluate<Inbound>('window.softphone.inbound()');
  const deadline = Date.now() + 15_000;
  while ((inbound.packetsReceived < 50 || inbound.audioLevel <= 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    inbound = await page.evaluate<Inbound>('window.softphone.inbound()');
  }
  await screenshot(page, 'browser-agent-call');
  const leg = await live.parts.leg!.stats();
  t.log(`page: ${inbound.packetsReceived} ${inbound.mimeType} packets, ${inbound.bytesReceived} bytes, audio level ${inbound.audioLevel.toFixed(3)} (${inbound.connectionState}); leg: ${leg.rtpPacketsOut} packets out, ${leg.rtpPacketsIn} in`);
  t.is(inbound.connectionState, 'connected');
  // An agent that cannot transfer keeps the call: Opus, decoded and encoded in Node (issue 10).
  t.is(inbound.mimeType, 'audio/opus');
  t.is(live.parts.leg!.codec.name, 'opus');
  t.true(inbound.packetsReceived >= 50 && inbound.bytesReceived > 0, `${inbound.packetsReceived} packets`);
  t.true(inbound.audioLevel > 0, 'the greeting is not silence');
  // The engine sent at least what the page counted (a few may still be in flight), and heard the microphone.
  t.true(leg.rtpPacketsOut >= inbound.packetsReceived, `leg out ${leg.rtpPacketsOut} >= page in ${inbound.packetsReceived}`);
  t.true(leg.rtpPacketsIn > 0, 'the fake microphone reached the leg');
  const call = await request<{ direction: string; fromUri: string; agentId: string }>(s.base, 'GET', `/api/v1/calls/${live.id}`, { headers: s.tenant.headers });
  t.like(call.body, { direction: 'web', fromUri: web.body.sip.uri, agentId: s.agentId });
  // The whole greeting is said before the page hangs up.
  const said = await waitFor(async () => {
    const r = await request<{ items: { type: string; data: { text?: string; interrupted?: boolean } }[] }>(s.base, 'GET', `/api/v1/calls/${live.id}/events?limit=100`, { headers: s.tenant.headers });
    return r.body.items.find((e) => e.type === 'call.agent_said');
  }, 20_000);
  t.is(said.data.text, GREETING);
  t.falsy(said.data.interrupted, 'not cut short');
  // The whole greeting reached the page, not only its first second: what the leg sent, the page got.
  await new Promise((r) => setTimeout(r, 500));
  const whole: Inbound = await page.evaluate<Inbound>('window.softphone.inbound()');
  const sent = (await live.parts.leg!.stats()).rtpPacketsOut;
  t.log(`after the greeting: page ${whole.packetsReceived} packets, leg ${sent} out`);
  t.true(sent >= 150, `a greeting of several seconds: ${sent} packets sent`);
  t.true(whole.packetsReceived >= sent * 0.95, `page got ${whole.packetsReceived} of ${sent}`);

  // Keys pressed in the page (RTCDTMFSender: RFC 4733 at the answer's telephone-event type,
  // beside Opus) reach the agent as call.dtmf events.
  await page.evaluate(`window.softphone.dtmf('1#')`);
  const keys = await waitFor(async () => {
    const r = await request<{ items: { type: string; data: { digit: string; durationMs?: number } }[] }>(s.base, 'GET', `/api/v1/calls/${live.id}/events?limit=100`, { headers: s.tenant.headers });
    const d = r.body.items.filter((e) => e.type === 'call.dtmf').map((e) => e.data);
    return d.length >= 2 ? d : undefined;
  }, 5000);
  t.log(`keys: ${keys.map((k) => `${k.digit} (${k.durationMs ?? '?'} ms)`).join(', ')}`);
  t.deepEqual(keys.map((k) => k.digit), ['1', '#']);

  await page.evaluate('window.softphone.hangup()');
  const ended = await waitFor(async () => {
    const c = await request<{ endReason: string | null; hangupBy: string | null }>(s.base, 'GET', `/api/v1/calls/${live.id}`, { headers: s.tenant.headers });
    return c.body.endReason ? c.body : undefined;
  }, 10_000);
  t.like(ended, { endReason: 'caller_hangup', hangupBy: 'caller' });
  t.deepEqual(await page.evaluate<string[]>('window.softphone.states()'), ['Establishing', 'Established', 'Terminated']);
  await waitFor(() => s.app.engine.mediaService.legCount === 0, 5000);

  // Both directions went through Opus in Node: the recording hears the page's tone and the agent.
  await waitFor(async () => {
    const c = await request<{ recording: { status: string } | null }>(s.base, 'GET', `/api/v1/calls/${live.id}`, { headers: s.tenant.headers });
    return c.body.recording?.status === 'complete' ? true : undefined;
  }, 10_000);
  const res = await fetch(`${s.base}/api/v1/calls/${live.id}/recording`, { headers: s.tenant.headers });
  t.is(res.status, 200);
  const wav = parseWav(Buffer.from(await res.arrayBuffer()));
  const left = frames(channel(wav.samples, 2, 0));
  const right = frames(channel(wav.samples, 2, 1));
  const toneTicks = left.filter((f) => toneLevel(f, micHz) > micAmplitude / 4).length;
  const agentTicks = right.filter((f) => rms(f) > 200).length;
  const leak = right.filter((f) => toneLevel(f, micHz) > micAmplitude / 4).length;
  t.log(`recording: ${left.length} ticks; the page's ${micHz} Hz tone in ${toneTicks} (left), the agent audible in ${agentTicks} (right), the tone in ${leak} (right)`);
  t.true(toneTicks > left.length / 2, 'the caller channel holds the page\'s tone, decoded from Opus');
  t.true(agentTicks >= 100, 'the agent channel holds the greeting (2 s or more), as sent in Opus');
  // Speech has some energy near 1 kHz: a few of the greeting's ticks may read as the tone.
  t.true(leak <= agentTicks / 20, 'the tone is not on the agent\'s channel');
});
