import test from 'ava';
import type { Browser } from 'playwright-core';
import { WebRtcLeg, webRtcCloseReasons } from '../../media/webrtc-leg.js';
import { browserSkipReason, launchBrowser } from '../helpers/browser.js';
import { mediaRig, until, type MediaRig } from '../helpers/media.js';
import { openPeerPage, pageAnswers, pageHangsUp, pageInbound, pageOffer, pageServer, pageTakesAnswer, type InboundAudio } from '../helpers/webrtc-page.js';

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
  const stats = await leg.stats();
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
  }
  await until(() => rig.media.legCount === 0, 2000, 'legs gone');
});
