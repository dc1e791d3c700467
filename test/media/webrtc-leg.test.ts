import test from 'ava';
import type { Browser } from 'playwright-core';
import { WebRtcLeg, webRtcCloseReasons } from '../../media/webrtc-leg.js';
import { browserSkipReason, launchBrowser } from '../helpers/browser.js';
import { mediaRig, sleep, until, type MediaRig } from '../helpers/media.js';
import { rms, sine } from '../../media/audio/tone.js';
import { SdpError } from '../../media/errors.js';
import { chromiumOffer } from './fixtures/webrtc-offers.js';
import {
  openPeerPage,
  pageAnswers,
  pageHangsUp,
  pageInbound,
  pageOffer,
  pageReoffers,
  pageRestartsIce,
  pageRollsBack,
  pageServer,
  pageStopsSending,
  pageTakesAnswer,
  type InboundAudio,
} from '../helpers/webrtc-page.js';

let rig: MediaRig;
let browser: Browser | undefined;
test.before(async () => {
  rig = await mediaRig();
  if (!browserSkipReason) browser = await launchBrowser();
});
test.after.always(async () => {
  await browser?.close();
  rig?.close();
});

const maybe = browserSkipReason ? test.serial.skip : test.serial;

/** Polls the page's inbound audio until `cond` holds (or fails after `ms`). */
async function inboundUntil(page: import('playwright-core').Page, cond: (s: InboundAudio) => boolean, ms: number): Promise<InboundAudio> {
  let s = await pageInbound(page);
  const deadline = Date.now() + ms;
  while (!cond(s) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    s = await pageInbound(page);
  }
  return s;
}

maybe(`answerer: chromium's offer gets a WebRTC leg, PCMU, and its microphone comes back as echo${browserSkipReason}`, async (t) => {
  const page = await openPeerPage(browser!, await pageServer(t));
  t.teardown(() => page.close());
  const offer = await pageOffer(page);
  t.regex(offer, /UDP\/TLS\/RTP\/SAVPF/);
  const leg = await rig.media.createLeg(offer);
  t.teardown(() => leg.close());
  t.true(leg instanceof WebRtcLeg, 'a WebRTC offer gets a WebRtcLeg');
  t.is(leg.codec.name, 'PCMU', 'PCMU chosen over Opus');
  t.regex(leg.answerSdp, /a=ice-lite/);
  t.regex(leg.answerSdp, /a=setup:passive/);
  t.regex(leg.answerSdp, /a=rtcp-mux/);
  t.regex(leg.answerSdp, /a=group:BUNDLE 0/);
  await leg.echo();
  const t0 = Date.now();
  await pageTakesAnswer(page, leg.answerSdp);
  await leg.whenActive();
  const connectMs = Date.now() - t0;
  const s = await inboundUntil(page, (x) => x.packetsReceived > 50 && x.audioLevel > 0, 8000);
  t.true(s.packetsReceived > 50, `page received ${s.packetsReceived} packets`);
  t.true(s.bytesReceived > 0);
  t.true(s.audioLevel > 0, `audioLevel ${s.audioLevel}`);
  t.is(s.codec, 'audio/PCMU');
  // lastRtpAt comes from the leg's activity poll (its transport's stats, once per poll period),
  // which a loaded machine may not have run yet with the first packets counted.
  let stats = await leg.stats();
  for (const deadline = Date.now() + 5000; stats.lastRtpAt === null && Date.now() < deadline; stats = await leg.stats()) await new Promise((r) => setTimeout(r, 100));
  t.true(stats.rtpPacketsIn > 0 && stats.rtpPacketsOut > 0, `leg in ${stats.rtpPacketsIn} out ${stats.rtpPacketsOut}`);
  t.true(stats.rtpPacketsOut >= s.packetsReceived - 5, 'the leg sent at least what the page counted');
  t.truthy(stats.lastRtpAt);
  t.log(`connected in ${connectMs} ms; page got ${s.packetsReceived} packets / ${s.bytesReceived} B, audioLevel ${s.audioLevel.toFixed(3)}; leg in ${stats.rtpPacketsIn} out ${stats.rtpPacketsOut}`);
});

maybe(`offerer: our WebRTC offer, chromium answers, its audio flows both ways${browserSkipReason}`, async (t) => {
  const page = await openPeerPage(browser!, await pageServer(t));
  t.teardown(() => page.close());
  const leg = await rig.media.createWebRtcLeg(null);
  t.teardown(() => leg.close());
  const offer = leg.offerSdp();
  t.regex(offer, /a=setup:actpass/);
  await leg.echo();
  const answer = await pageAnswers(page, offer);
  await leg.updateRemote(answer);
  await leg.whenActive();
  t.is(leg.remoteWebRtc?.setup, 'active', 'chromium takes the DTLS client role');
  const s = await inboundUntil(page, (x) => x.packetsReceived > 50 && x.audioLevel > 0, 8000);
  t.true(s.packetsReceived > 50, `page received ${s.packetsReceived}`);
  t.true(s.audioLevel > 0, `audioLevel ${s.audioLevel}`);
  const stats = await leg.stats();
  t.true(stats.rtpPacketsIn > 0 && stats.rtpPacketsOut > 0, `leg in ${stats.rtpPacketsIn} out ${stats.rtpPacketsOut}`);
  t.log(`page got ${s.packetsReceived} packets (${s.codec}), audioLevel ${s.audioLevel.toFixed(3)}; leg in ${stats.rtpPacketsIn} out ${stats.rtpPacketsOut}`);
});

maybe(`the page hanging up (pc.close) ends the leg dtls_closed; a closed tab ends it within the disconnect grace${browserSkipReason}`, async (t) => {
  const url = await pageServer(t);
  for (const how of ['pc.close', 'tab closed'] as const) {
    const page = await openPeerPage(browser!, url);
    const leg = await rig.media.createWebRtcLeg(await pageOffer(page), { disconnectGraceMs: 2000 });
    t.teardown(() => leg.close());
    await leg.echo();
    await pageTakesAnswer(page, leg.answerSdp);
    await leg.whenActive();
    await inboundUntil(page, (x) => x.packetsReceived > 10, 5000);
    const closed = new Promise<string>((resolve) => leg.once('close', resolve));
    const t0 = Date.now();
    if (how === 'pc.close') await pageHangsUp(page);
    await page.close();
    const reason = await closed;
    const ms = Date.now() - t0;
    t.true(([webRtcCloseReasons.dtlsClosed, webRtcCloseReasons.iceDisconnected] as string[]).includes(reason), `${how}: ${reason}`);
    if (how === 'pc.close') t.is(reason, webRtcCloseReasons.dtlsClosed);
    t.true(ms < 4000, `${how}: leg closed ${reason} after ${ms} ms`);
    t.log(`${how}: leg closed ${reason} after ${ms} ms`);
    t.is(leg.state, 'closed');
    // Closed by the page, before anyone read them: the counters are kept for the call's record.
    const after = await leg.stats();
    t.true(after.rtpPacketsIn > 10 && after.rtpPacketsOut > 10, `${how}: counters after the close ${JSON.stringify(after)}`);
  }
  await until(() => rig.media.legCount === 0, 2000, 'legs gone');
});

/** A page in an echo call with a fresh answerer leg, both closed when the test ends. */
async function echoCall(t: import('ava').ExecutionContext, opts: { disconnectGraceMs?: number } = {}) {
  const page = await openPeerPage(browser!, await pageServer(t));
  t.teardown(() => page.close());
  const leg = await rig.media.createWebRtcLeg(await pageOffer(page), opts);
  t.teardown(() => leg.close());
  await leg.echo();
  await pageTakesAnswer(page, leg.answerSdp);
  await leg.whenActive();
  await inboundUntil(page, (x) => x.packetsReceived > 10, 5000);
  return { page, leg };
}

maybe(`re-offers from the page: hold stops what it hears, resume brings it back; an ICE restart is refused (SdpError) and the call goes on${browserSkipReason}`, async (t) => {
  const { page, leg } = await echoCall(t);
  const holdAnswer = await leg.updateRemote(await pageReoffers(page, 'sendonly'));
  t.regex(holdAnswer, /a=recvonly/);
  await pageTakesAnswer(page, holdAnswer);
  await sleep(300);
  const held = (await pageInbound(page)).packetsReceived;
  await sleep(600);
  const stillHeld = (await pageInbound(page)).packetsReceived;
  t.true(stillHeld - held <= 2, `on hold the page got ${stillHeld - held} packets in 600 ms`);
  const resumeAnswer = await leg.updateRemote(await pageReoffers(page, 'sendrecv'));
  t.regex(resumeAnswer, /a=sendrecv/);
  await pageTakesAnswer(page, resumeAnswer);
  const resumed = await inboundUntil(page, (x) => x.packetsReceived > stillHeld + 20, 3000);
  t.true(resumed.packetsReceived > stillHeld + 20, `after resume ${resumed.packetsReceived - stillHeld} more packets`);

  const restart = await pageRestartsIce(page);
  const e = await t.throwsAsync(leg.updateRemote(restart), { instanceOf: SdpError });
  t.regex(e!.message, /ICE restart/);
  await pageRollsBack(page);
  t.is(leg.state, 'active');
  const after = (await pageInbound(page)).packetsReceived;
  const goes = await inboundUntil(page, (x) => x.packetsReceived > after + 10, 3000);
  t.true(goes.packetsReceived > after + 10, 'audio still flows after the refused restart');
  // A new feed mid-call (the echo's Consumer replaced by the agent's, with another SSRC) still reaches the page.
  const audio = await leg.openAudio();
  for (let i = 0; i < 2; i++) audio.send(sine(440, 1000, { amplitude: 8000 }));
  const fed = goes.packetsReceived;
  const agent = await inboundUntil(page, (x) => x.packetsReceived > fed + 25, 4000);
  t.true(agent.packetsReceived > fed + 25, `after the feed changed: +${agent.packetsReceived - fed}`);
  t.log(`hold: ${stillHeld - held} packets in 600 ms; resume: +${resumed.packetsReceived - stillHeld}; after refused restart: +${goes.packetsReceived - after}; new feed: +${agent.packetsReceived - fed}`);
});

maybe(`openAudio on a browser's leg: its microphone arrives as decoded frames and what we send reaches it (the agent seam)${browserSkipReason}`, async (t) => {
  const page = await openPeerPage(browser!, await pageServer(t));
  t.teardown(() => page.close());
  const leg = await rig.media.createWebRtcLeg(await pageOffer(page));
  t.teardown(() => leg.close());
  const audio = await leg.openAudio();
  const levels: number[] = [];
  audio.on('frame', (f) => levels.push(rms(f.pcm)));
  await pageTakesAnswer(page, leg.answerSdp);
  await leg.whenActive();
  for (let i = 0; i < 3; i++) audio.send(sine(440, 1000, { amplitude: 8000 }));
  const s = await inboundUntil(page, (x) => x.packetsReceived > 50 && x.audioLevel > 0, 8000);
  await until(() => levels.length > 50, 5000, 'frames from the browser');
  t.true(levels.some((l) => l > 100), `browser frames rms max ${Math.max(...levels).toFixed(0)}`);
  t.true(s.packetsReceived > 50 && s.audioLevel > 0, `page got ${s.packetsReceived} packets, audioLevel ${s.audioLevel}`);
  t.log(`${levels.length} frames in (rms max ${Math.max(...levels).toFixed(0)}); page got ${s.packetsReceived} packets of our tone, audioLevel ${s.audioLevel.toFixed(3)}`);
});

maybe(`Opus for an agent's leg: chromium's own offer is answered opus/48000/2 at 111, its microphone arrives decoded from Opus, our tone reaches it as audio/opus${browserSkipReason}`, async (t) => {
  const page = await openPeerPage(browser!, await pageServer(t));
  t.teardown(() => page.close());
  const offer = await pageOffer(page);
  t.regex(offer, /^a=rtpmap:111 opus\/48000\/2$/m, 'chromium offers Opus at 111');
  const leg = await rig.media.createWebRtcLeg(offer, { prefer: 'opus' });
  t.teardown(() => leg.close());
  t.is(leg.codec.name, 'opus');
  t.regex(leg.answerSdp, /^m=audio \d+ UDP\/TLS\/RTP\/SAVPF 111 \d+$/m, 'Opus and telephone-event only');
  t.regex(leg.answerSdp, /^a=rtpmap:111 opus\/48000\/2$/m);
  const audio = await leg.openAudio();
  const levels: number[] = [];
  const stamps: number[] = [];
  audio.on('frame', (f) => {
    levels.push(rms(f.pcm));
    stamps.push(f.timestamp);
    t.is(f.pcm.length, 160);
  });
  await pageTakesAnswer(page, leg.answerSdp);
  await leg.whenActive();
  for (let i = 0; i < 3; i++) audio.send(sine(500, 1000, { amplitude: 0.25 }));
  const s = await inboundUntil(page, (x) => x.packetsReceived > 50 && x.audioLevel > 0, 8000);
  await until(() => levels.length > 50, 5000, 'frames from the browser');
  t.is(s.codec, 'audio/opus');
  t.true(s.packetsReceived > 50 && s.audioLevel > 0.1, `page got ${s.packetsReceived} packets, audioLevel ${s.audioLevel}`);
  t.true(levels.some((l) => l > 100), `browser frames rms max ${Math.max(...levels).toFixed(0)}`);
  const steps = stamps.slice(1).map((x, i) => (x - stamps[i]!) >>> 0);
  t.true(steps.filter((d) => d === 160).length >= steps.length * 0.9, 'frames 160 apart on the 8 kHz clock');
  t.is(audio.undecodablePackets, 0);
  // RFC 4733 digits to the page, at its telephone-event/8000 type, on the Opus stream's 48 kHz clock.
  t.is(audio.dtmfPayloadType, 126);
  const out = (await leg.stats()).rtpPacketsOut;
  await audio.sendDtmf('12');
  t.true((await leg.stats()).rtpPacketsOut >= out + 10, 'the digits went out');
  t.is(leg.state, 'active');
  t.log(`${levels.length} Opus frames in (rms max ${Math.max(...levels).toFixed(0)}); page got ${s.packetsReceived} ${s.codec} packets of our tone, audioLevel ${s.audioLevel.toFixed(3)}`);
});

maybe(`the media worker killed mid-call ends the browser's leg media_worker_died${browserSkipReason}`, async (t) => {
  const { leg } = await echoCall(t);
  const closed = new Promise<string>((resolve) => leg.once('close', resolve));
  const t0 = Date.now();
  process.kill(leg.workerPid, 'SIGKILL');
  t.is(await closed, webRtcCloseReasons.workerDied);
  t.log(`closed ${Date.now() - t0} ms after SIGKILL`);
  await until(() => rig.pool.stats().alive === 1, 10_000, 'worker replaced');
});

test.serial('garbage given to createLeg is an SdpError or NoCommonCodecError, and takes nothing', async (t) => {
  const before = rig.media.stats();
  for (const junk of ['', 'v=0', 'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\n', '\u0000\u0001', 'x'.repeat(20000)]) {
    const e = await t.throwsAsync(rig.media.createLeg(junk));
    t.true(['SdpError', 'NoCommonCodecError'].includes(e!.name), `${JSON.stringify(junk.slice(0, 30))}: ${e!.name}`);
  }
  t.deepEqual(rig.media.stats(), before);
});

test.serial('an offer whose ICE never comes (nobody answers our checks) ends the leg ice_failed after connectTimeoutMs', async (t) => {
  const leg = await rig.media.createWebRtcLeg(chromiumOffer, { connectTimeoutMs: 400 });
  t.teardown(() => leg.close());
  const t0 = Date.now();
  const reason = await new Promise<string>((resolve) => leg.once('close', resolve));
  t.is(reason, webRtcCloseReasons.iceFailed);
  t.true(Date.now() - t0 < 2000, `closed after ${Date.now() - t0} ms`);
  await t.throwsAsync(leg.whenActive(), { message: /ice_failed/ });
});

maybe(`a browser whose certificate does not match its offer's fingerprint ends the leg dtls_failed${browserSkipReason}`, async (t) => {
  const page = await openPeerPage(browser!, await pageServer(t));
  t.teardown(() => page.close());
  const offer = (await pageOffer(page)).replace(/a=fingerprint:sha-256 \S+/, `a=fingerprint:sha-256 ${Array.from({ length: 32 }, () => 'AB').join(':')}`);
  const leg = await rig.media.createWebRtcLeg(offer);
  t.teardown(() => leg.close());
  const closed = new Promise<string>((resolve) => leg.once('close', resolve));
  await pageTakesAnswer(page, leg.answerSdp);
  t.is(await closed, webRtcCloseReasons.dtlsFailed);
});

maybe(`a browser that stops sending RTP (consent checks go on) is reported inactive, the leg stays up${browserSkipReason}`, async (t) => {
  const page = await openPeerPage(browser!, await pageServer(t));
  t.teardown(() => page.close());
  const leg = await rig.media.createWebRtcLeg(await pageOffer(page), { inactivityMs: 1500, disconnectGraceMs: 4000 });
  t.teardown(() => leg.close());
  await leg.echo();
  await pageTakesAnswer(page, leg.answerSdp);
  await leg.whenActive();
  await inboundUntil(page, (x) => x.packetsReceived > 10, 5000);
  const inactive = new Promise<number>((resolve) => leg.once('inactive', resolve));
  const t0 = Date.now();
  await pageStopsSending(page);
  const silentMs = await inactive;
  t.true(silentMs >= 1500, `silent ${silentMs} ms`);
  await sleep(3000);
  t.is(leg.state, 'active', 'consent checks keep the leg up');
  t.log(`inactive after ${Date.now() - t0} ms (silent ${silentMs} ms); still ${leg.state} 3 s later`);
});
