/**
 * An outbound call (`POST /api/v1/calls`) to a SIP user registered over WebSocket, as a browser
 * registers: the engine sends a WebRTC offer (a WebRtcLeg: ICE-lite, DTLS-SRTP) down the user's
 * socket. The test is that browser's signalling (raw SIP over the WebSocket: REGISTER with digest,
 * then 180 and 200 to the INVITE, BYE), and a real chromium page its media (an RTCPeerConnection
 * on the fake microphone answers the offer). The agent has nothing to run, so the engine echoes
 * the page: its microphone reaches the engine and comes back to it (inbound-rtp packets and
 * audio energy on the page, RTP counters on the engine's leg), and the page's BYE ends the call
 * completed. A page that closes its RTCPeerConnection without a BYE (DTLS close_notify) ends the
 * call `dtls_closed`, hung up by the callee (call-end.ts `endWithLeg`), and the engine BYEs its socket.
 */
import test, { type ExecutionContext } from 'ava';
import type { Browser, Page } from 'playwright-core';
import { SipResponse, type SipMessage, type SipRequest } from '../../../engine/sip/message/message.js';
import { serialize } from '../../../engine/sip/message/serializer.js';
import { formatUri } from '../../../engine/sip/message/uri.js';
import { WebRtcLeg } from '../../../media/webrtc-leg.js';
import { browserSkipReason, launchBrowser } from '../../helpers/browser.js';
import type { Call } from '../../../engine/calls/call.js';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, timeline, type InboundSetup } from '../../helpers/inbound.js';
import { nothingLeft } from '../../helpers/outbound.js';
import { connectSipWs, registerOverWs, wsRequest, type SipWsClient } from '../../helpers/sip-ws-client.js';
import { openPeerPage, pageAnswers, pageHangsUp, pageInbound, pageServer } from '../../helpers/webrtc-page.js';

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

interface Answered {
  ws: SipWsClient;
  page: Page;
  invite: SipRequest;
  callId: string;
  call: Call;
}

/**
 * A new SIP user `username` registers over a WebSocket, a page opens, the API calls the user: the
 * INVITE's WebRTC offer is checked, answered 180 then 200 with the page's answer, and ACKed; the
 * call is answered with a WebRtcLeg whose media is up.
 */
async function answeredBrowserCall(t: ExecutionContext, username: string): Promise<Answered> {
  const h = s.tenant.headers;
  const password = `${username}-secret-1`;
  const user = await request<{ id: string; aor: string }>(s.base, 'POST', '/api/v1/sip-users', { headers: h, body: { username, password } });
  t.is(user.status, 201, JSON.stringify(user.body));
  const ws = await connectSipWs(`${s.base.replace(/^http/, 'ws')}/sip`);
  t.teardown(() => ws.close());
  const domain = user.body.aor.split('@')[1]!;
  const reg = await registerOverWs(ws, { user: username, password, domain, realm: 'agent-studio', callId: `${username}-reg`, cseq: 1, contacts: [`<${CONTACT}>`], expires: '300' });
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
  await waitFor(async () => (await getCall(res.body.id)).status === 'ringing', 5000);
  answerInvite(ws, invite, 200, await pageAnswers(page, offer));
  const ack = await ws.next(isRequest('ACK'), 5000);
  t.is(ack.callId, invite.callId);
  const call = await waitFor(() => [s.app.engine.calls.calls.get(res.body.id)].find((c) => c?.state === 'answered'), 5000);
  t.true(call.parts.leg instanceof WebRtcLeg, 'the call has a WebRtcLeg');
  await call.parts.leg!.whenActive();
  return { ws, page, invite, callId: res.body.id, call };
}

interface CallBody {
  status: string;
  endReason: string | null;
  hangupBy: string | null;
  sipCode: number | null;
}

const getCall = async (id: string) => (await request<CallBody>(s.base, 'GET', `/api/v1/calls/${id}`, { headers: s.tenant.headers })).body;
const ended = (id: string) => waitFor(async () => ((await getCall(id)).endReason ? getCall(id) : undefined), 10_000);

maybe(`a SIP user registered over WebSocket is called with a WebRTC offer: the page answers, its audio reaches the engine and is echoed back to it, its BYE ends the call completed${browserSkipReason}`, async (t) => {
  const { ws, page, invite, callId, call } = await answeredBrowserCall(t, 'browser');
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
  // The echo agent keeps the call: our offer lists Opus first, the page answers it (issue 10).
  t.is(heard.codec, 'audio/opus');

  // The page hangs up: BYE from the browser, in the dialog the 200 made.
  const bye = wsRequest('BYE', formatUri(invite.contacts[0]!.uri), { branch: 'browser-bye', callId: invite.callId, cseq: 1 })
    .replace(/^From: .*$/m, `From: ${invite.header('To')};tag=${TO_TAG}`)
    .replace(/^To: .*$/m, `To: ${invite.header('From')}`);
  ws.send(bye);
  const ok = await ws.next((m) => m.kind === 'response' && m.cseq.method === 'BYE', 5000);
  t.is(ok.kind === 'response' && ok.status, 200);
  t.like(await ended(callId), { status: 'completed', endReason: 'callee_hangup', hangupBy: 'callee', sipCode: 200 });
  const types = await timeline(s, callId);
  t.deepEqual(types.filter((x) => ['call.started', 'call.ringing', 'call.answered', 'call.ended'].includes(x)), ['call.started', 'call.ringing', 'call.answered', 'call.ended']);
  await nothingLeft(t, s);
});

maybe(`the page closes its RTCPeerConnection without a BYE: the leg and the call end dtls_closed, hung up by the callee, and the engine BYEs the socket${browserSkipReason}`, async (t) => {
  const { ws, page, invite, callId, call } = await answeredBrowserCall(t, 'browser2');
  const leg = call.parts.leg!;
  const closed = new Promise<string>((resolve) => leg.once('close', resolve));
  await pageHangsUp(page);
  t.is(await closed, 'dtls_closed');
  const bye = (await ws.next(isRequest('BYE'), 5000)) as SipRequest;
  t.is(bye.callId, invite.callId, 'the engine ends the dialog');
  ws.send(serialize(SipResponse.to(bye, 200)));
  t.like(await ended(callId), { status: 'completed', endReason: 'dtls_closed', hangupBy: 'callee', sipCode: 200 });
  await nothingLeft(t, s);
});
