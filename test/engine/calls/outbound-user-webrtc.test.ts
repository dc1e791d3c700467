/**
 * An outbound call (`POST /api/v1/calls`) to a SIP user registered over WebSocket, as a browser
 * registers: the engine sends a WebRTC offer (a WebRtcLeg: ICE-lite, DTLS-SRTP) down the user's
 * socket. The test is that browser's signalling (raw SIP over the WebSocket: REGISTER with digest,
 * then 180 and 200 to the INVITE, BYE), and a real chromium page its media (an RTCPeerConnection
 * on the fake microphone answers the offer). The agent has nothing to run, so the engine echoes
 * the page: its microphone reaches the engine and comes back to it (inbound-rtp packets and
 * audio energy on the page, RTP counters on the engine's leg), and the page's BYE ends the call
 * completed.
 */
import test, { type ExecutionContext } from 'ava';
import type { Browser } from 'playwright-core';
import { SipResponse, type SipMessage, type SipRequest } from '../../../engine/sip/message/message.js';
import { serialize } from '../../../engine/sip/message/serializer.js';
import { formatUri } from '../../../engine/sip/message/uri.js';
import { WebRtcLeg } from '../../../media/webrtc-leg.js';
import { browserSkipReason, launchBrowser } from '../../helpers/browser.js';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, timeline, type InboundSetup } from '../../helpers/inbound.js';
import { nothingLeft } from '../../helpers/outbound.js';
import { connectSipWs, registerOverWs, wsRequest, type SipWsClient } from '../../helpers/sip-ws-client.js';
import { openPeerPage, pageAnswers, pageInbound, pageServer } from '../../helpers/webrtc-page.js';

let s: InboundSetup;
let browser: Browser | undefined;
test.before(async () => {
  s = await inboundSetup({ sip: { ringMs: 0 } });
  if (!browserSkipReason) browser = await launchBrowser();
});
test.after.always(async () => {
  await browser?.close();
  await s?.close();
});

const maybe = browserSkipReason ? test.serial.skip : test.serial;
const CONTACT = 'sip:k3v9@df7jal23ls0d.invalid;transport=ws';
const TO_TAG = 'browser-tag-1';

/** The browser's answer to the engine's INVITE: `status`, with our tag, Contact and (for a 200) SDP. */
function answerInvite(ws: SipWsClient, invite: SipRequest, status: number, sdp?: string): void {
  const res = SipResponse.to(invite, status);
  res.headers.set('To', `${invite.header('To')};tag=${TO_TAG}`);
  res.headers.append('Contact', `<${CONTACT}>`);
  if (sdp) {
    res.headers.append('Content-Type', 'application/sdp');
    res.body = Buffer.from(sdp);
  }
  res.headers.set('Content-Length', String(res.body.length));
  ws.send(serialize(res));
}

const isRequest = (method: string) => (m: SipMessage) => m.kind === 'request' && m.method === method;

maybe(`a SIP user registered over WebSocket is called with a WebRTC offer: the page answers, its audio reaches the engine and is echoed back to it, its BYE ends the call completed${browserSkipReason}`, async (t: ExecutionContext) => {
  const h = s.tenant.headers;
  const user = await request<{ id: string; aor: string }>(s.base, 'POST', '/api/v1/sip-users', { headers: h, body: { username: 'browser', password: 'browser-secret-1' } });
  t.is(user.status, 201, JSON.stringify(user.body));
  const ws = await connectSipWs(`${s.base.replace(/^http/, 'ws')}/sip`);
  t.teardown(() => ws.close());
  const domain = user.body.aor.split('@')[1]!;
  const reg = await registerOverWs(ws, { user: 'browser', password: 'browser-secret-1', domain, realm: 'agent-studio', callId: 'browser-reg', cseq: 1, contacts: [`<${CONTACT}>`], expires: '300' });
  t.is(reg.status, 200);
  const page = await openPeerPage(browser!, await pageServer(t));
  t.teardown(() => page.close());

  const res = await request<{ id: string }>(s.base, 'POST', '/api/v1/calls', { headers: h, body: { agentId: s.agentId, sipUserId: user.body.id } });
  t.is(res.status, 201, JSON.stringify(res.body));
  const invite = (await ws.next(isRequest('INVITE'), 10_000)) as SipRequest;
  const offer = invite.body.toString();
  t.is(invite.uri, CONTACT, 'the INVITE goes to the binding as registered, down its socket');
  t.regex(offer, /m=audio \d+ UDP\/TLS\/RTP\/SAVPF /, 'a WebRTC offer (DTLS-SRTP)');
  t.regex(offer, /a=fingerprint:sha-256 /);
  t.regex(offer, /a=ice-ufrag:/);
  answerInvite(ws, invite, 180);
  await waitFor(async () => (await request<{ status: string }>(s.base, 'GET', `/api/v1/calls/${res.body.id}`, { headers: h })).body.status === 'ringing', 5000);
  answerInvite(ws, invite, 200, await pageAnswers(page, offer));
  const ack = await ws.next(isRequest('ACK'), 5000);
  t.is(ack.callId, invite.callId);

  const call = await waitFor(() => [s.app.engine.calls.calls.get(res.body.id)].find((c) => c?.state === 'answered'), 5000);
  t.true(call.parts.leg instanceof WebRtcLeg, 'the call has a WebRtcLeg');
  await call.parts.leg!.whenActive();
  const heard = await waitFor(async () => {
    const inbound = await pageInbound(page);
    return inbound.packetsReceived >= 50 && inbound.totalAudioEnergy > 0 ? inbound : undefined;
  }, 10_000, 100).catch(async (err: unknown) => {
    t.log(`page ${JSON.stringify(await pageInbound(page))}, leg ${JSON.stringify(await call.parts.leg!.stats())}`);
    throw err;
  });
  const stats = await call.parts.leg!.stats();
  t.log(`page: ${heard.packetsReceived} packets (${heard.codec}), audio energy ${heard.totalAudioEnergy.toFixed(3)}; engine leg: in ${stats.rtpPacketsIn} out ${stats.rtpPacketsOut}`);
  t.true(stats.rtpPacketsIn >= 50 && stats.rtpPacketsOut >= 50, 'the page’s microphone reaches the engine, and is echoed');

  // The page hangs up: BYE from the browser, in the dialog the 200 made.
  const bye = wsRequest('BYE', formatUri(invite.contacts[0]!.uri), { branch: 'browser-bye', callId: invite.callId, cseq: 1 })
    .replace(/^From: .*$/m, `From: ${invite.header('To')};tag=${TO_TAG}`)
    .replace(/^To: .*$/m, `To: ${invite.header('From')}`);
  ws.send(bye);
  const ok = await ws.next((m) => m.kind === 'response' && m.cseq.method === 'BYE', 5000);
  t.is(ok.kind === 'response' && ok.status, 200);
  const ended = await waitFor(async () => {
    const c = (await request<{ status: string; endReason: string | null }>(s.base, 'GET', `/api/v1/calls/${res.body.id}`, { headers: h })).body;
    return c.endReason ? c : undefined;
  }, 5000);
  t.like(ended, { status: 'completed', endReason: 'callee_hangup', hangupBy: 'callee', sipCode: 200 });
  const types = await timeline(s, res.body.id);
  t.deepEqual(types.filter((x) => ['call.started', 'call.ringing', 'call.answered', 'call.ended'].includes(x)), ['call.started', 'call.ringing', 'call.answered', 'call.ended']);
  await nothingLeft(t, s);
});
