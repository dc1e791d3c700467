import test from 'ava';
import type { Browser } from 'playwright-core';
import { WebRtcLeg } from '../../../media/webrtc-leg.js';
import { browserSkipReason, launchBrowser } from '../../helpers/browser.js';
import { inboundSetup, type InboundSetup } from '../../helpers/inbound.js';
import { until } from '../../helpers/media.js';
import { asResponse, UdpPeer } from '../../helpers/sip-peer.js';
import { requestText } from '../../helpers/sip-text.js';
import { request, waitFor } from '../../helpers/http.js';
import { openPeerPage, pageHangsUp, pageInbound, pageOffer, pageServer, pageTakesAnswer } from '../../helpers/webrtc-page.js';

let s: InboundSetup;
let browser: Browser | undefined;
test.before(async () => {
  s = await inboundSetup();
  if (!browserSkipReason) browser = await launchBrowser();
});
test.after.always(async () => {
  await browser?.close();
  await s?.close();
});

const maybe = browserSkipReason ? test.serial.skip : test.serial;

maybe(`an INVITE carrying chromium's WebRTC offer is answered with a WebRTC leg on the inbound path, in Opus for an agent that keeps the call; audio reaches the page; BYE ends the leg${browserSkipReason}`, async (t) => {
  const page = await openPeerPage(browser!, await pageServer(t));
  t.teardown(() => page.close());
  const offer = await pageOffer(page);
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  const dialog = { callId: `webrtc-${Date.now()}@127.0.0.1`, viaPort: peer.port, uri: `sip:service@${s.sipTarget}`, fromTag: 'browser' };
  const t0 = performance.now();
  await peer.send(requestText({ ...dialog, method: 'INVITE', branch: 'z9hG4bK-webrtc-1', extra: ['Content-Type: application/sdp'], body: offer }), s.sipPort);
  const ok = asResponse(await peer.waitFor((m) => m.kind === 'response' && m.cseq.method === 'INVITE' && m.status >= 200));
  t.is(ok.status, 200, `INVITE answered ${ok.status}`);
  const answer = ok.body.toString();
  // The number's agent cannot transfer: it keeps the call, so Opus (codec-choice.ts, issue 10).
  t.regex(answer, /UDP\/TLS\/RTP\/SAVPF 111 /, 'Opus over DTLS-SRTP');
  t.regex(answer, /a=ice-lite/);
  const toTag = /;tag=([^;>\s]+)/.exec(ok.header('To'))![1]!;
  await peer.send(requestText({ ...dialog, toTag, method: 'ACK', branch: 'z9hG4bK-webrtc-ack', cseq: 1 }), s.sipPort);
  await pageTakesAnswer(page, answer);

  const call = [...s.app.engine.calls.calls.values()].find((c) => c.identity.sipCallId === dialog.callId);
  t.truthy(call, 'the call is live');
  t.true(call!.parts.leg instanceof WebRtcLeg, 'its leg is a WebRtcLeg');
  await call!.parts.leg!.whenActive();
  let inbound = await pageInbound(page);
  const deadline = Date.now() + 8000;
  while (inbound.packetsReceived < 25 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    inbound = await pageInbound(page);
  }
  t.true(inbound.packetsReceived >= 25, `page received ${inbound.packetsReceived} packets`);
  t.is(inbound.codec, 'audio/opus');
  const stats = await call!.parts.leg!.stats();
  t.true(stats.rtpPacketsIn > 0 && stats.rtpPacketsOut > 0, `leg in ${stats.rtpPacketsIn} out ${stats.rtpPacketsOut}`);
  t.log(`200 after ${(performance.now() - t0).toFixed(0)} ms; page got ${inbound.packetsReceived} packets (${inbound.codec}); leg in ${stats.rtpPacketsIn} out ${stats.rtpPacketsOut}`);

  const leg = call!.parts.leg!;
  await peer.send(requestText({ ...dialog, toTag, method: 'BYE', branch: 'z9hG4bK-webrtc-bye', cseq: 2 }), s.sipPort);
  await peer.waitFor((m) => m.kind === 'response' && m.cseq.method === 'BYE');
  await until(() => leg.closed, 5000, 'leg closed');
  t.is(s.app.engine.mediaService.legCount, 0);
});

maybe(`the page closing its peer connection mid-call (no BYE) ends the call dtls_closed, hung up by the caller, with a BYE to its SIP side${browserSkipReason}`, async (t) => {
  const page = await openPeerPage(browser!, await pageServer(t));
  t.teardown(() => page.close());
  const offer = await pageOffer(page);
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  const dialog = { callId: `webrtc-close-${Date.now()}@127.0.0.1`, viaPort: peer.port, uri: `sip:service@${s.sipTarget}`, fromTag: 'browser' };
  await peer.send(requestText({ ...dialog, method: 'INVITE', branch: 'z9hG4bK-webrtc-2', extra: ['Content-Type: application/sdp'], body: offer }), s.sipPort);
  const ok = asResponse(await peer.waitFor((m) => m.kind === 'response' && m.cseq.method === 'INVITE' && m.status >= 200));
  t.is(ok.status, 200);
  const toTag = /;tag=([^;>\s]+)/.exec(ok.header('To'))![1]!;
  await peer.send(requestText({ ...dialog, toTag, method: 'ACK', branch: 'z9hG4bK-webrtc-ack2', cseq: 1 }), s.sipPort);
  await pageTakesAnswer(page, ok.body.toString());
  const call = [...s.app.engine.calls.calls.values()].find((c) => c.identity.sipCallId === dialog.callId)!;
  await call.parts.leg!.whenActive();
  const t0 = performance.now();
  await pageHangsUp(page);
  const bye = await peer.waitFor((m) => m.kind === 'request' && m.method === 'BYE');
  t.log(`BYE ${(performance.now() - t0).toFixed(0)} ms after the page closed its peer connection`);
  t.truthy(bye);
  const ended = await waitFor(async () => {
    const r = await request<{ status: string; endReason: string | null; hangupBy: string | null }>(s.base, 'GET', `/api/v1/calls/${call.id}`, { headers: s.tenant.headers });
    return r.body.endReason ? r.body : undefined;
  }, 10_000);
  t.like(ended, { status: 'completed', endReason: 'dtls_closed', hangupBy: 'caller' });
});

maybe(`a page that closes its peer connection and then sends its BYE (as sip.js hangs up) ends the call caller_hangup, not dtls_closed${browserSkipReason}`, async (t) => {
  const page = await openPeerPage(browser!, await pageServer(t));
  t.teardown(() => page.close());
  const offer = await pageOffer(page);
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  const dialog = { callId: `webrtc-bye-${Date.now()}@127.0.0.1`, viaPort: peer.port, uri: `sip:service@${s.sipTarget}`, fromTag: 'browser' };
  await peer.send(requestText({ ...dialog, method: 'INVITE', branch: 'z9hG4bK-webrtc-3', extra: ['Content-Type: application/sdp'], body: offer }), s.sipPort);
  const ok = asResponse(await peer.waitFor((m) => m.kind === 'response' && m.cseq.method === 'INVITE' && m.status >= 200));
  t.is(ok.status, 200);
  const toTag = /;tag=([^;>\s]+)/.exec(ok.header('To'))![1]!;
  await peer.send(requestText({ ...dialog, toTag, method: 'ACK', branch: 'z9hG4bK-webrtc-ack3', cseq: 1 }), s.sipPort);
  await pageTakesAnswer(page, ok.body.toString());
  const call = [...s.app.engine.calls.calls.values()].find((c) => c.identity.sipCallId === dialog.callId)!;
  await call.parts.leg!.whenActive();
  await pageHangsUp(page);
  // The DTLS close is in before the BYE: the leg closes first.
  await until(() => call.parts.leg!.closed, 5000, 'the leg closed by the page');
  await new Promise((r) => setTimeout(r, 300));
  await peer.send(requestText({ ...dialog, toTag, method: 'BYE', branch: 'z9hG4bK-webrtc-bye3', cseq: 2 }), s.sipPort);
  const answered = asResponse(await peer.waitFor((m) => m.kind === 'response' && m.cseq.method === 'BYE'));
  t.is(answered.status, 200);
  const ended = await waitFor(async () => {
    const r = await request<{ endReason: string | null; hangupBy: string | null }>(s.base, 'GET', `/api/v1/calls/${call.id}`, { headers: s.tenant.headers });
    return r.body.endReason ? r.body : undefined;
  }, 10_000);
  t.like(ended, { endReason: 'caller_hangup', hangupBy: 'caller' });
});
