/**
 * A SIP phone (SIPp over UDP, registered with digest) calls a SIP user registered from a browser
 * (a raw SIP-over-WebSocket client answering with a Chromium page's RTCPeerConnection): the engine
 * bridges the call with the media through mediasoup (engine/calls/registrar/user-bridge.ts).
 * Audio both ways (the page's inbound-rtp, the phone's RTP peer, both legs' counters), BYE from
 * either side, a leg closing, refusals; then a transfer of an agent call to the browser user, and
 * a carrier's call through the trunk to a number that rings the browser user.
 */
import test, { type ExecutionContext } from 'ava';
import type { Browser, Page } from 'playwright-core';
import fs from 'node:fs';
import type { CallLeg } from '../../../media/call-leg.js';
import { WebRtcLeg } from '../../../media/webrtc-leg.js';
import { transferCall } from '../../../engine/calls/transfer.js';
import type { SipMessage } from '../../../engine/sip/message/message.js';
import { browserSkipReason, launchBrowser } from '../../helpers/browser.js';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, scenario, sippCall, timeline, type InboundSetup } from '../../helpers/inbound.js';
import { carrierCalls, trunkAnswered, trunkCallerBye } from '../../helpers/trunk-caller.js';
import { rtpPort } from '../../helpers/media.js';
import { RtpPeer } from '../../helpers/rtp-peer.js';
import { connectSipWs, digestAuthorization, registerOverWs, wsRequest, type SipWsClient } from '../../helpers/sip-ws-client.js';
import { runSipp, sippMissing, withoutRetransmissions, type SippResult } from '../../helpers/sipp.js';
import { freePort } from '../../helpers/engine-process.js';
import { callerBye, ENGINE_BYE, liveCall, transferDeps } from '../../helpers/transfer.js';
import { openPeerPage, pageAnswers, pageHangsUp, pageInbound, pageOffer, pageServer, pageTakesAnswer, type InboundAudio } from '../../helpers/webrtc-page.js';

const missing = sippMissing() ?? (browserSkipReason ? browserSkipReason.trim() : null);
const maybe = missing ? test.serial.skip : test.serial;
if (missing) test(`user bridge tests are skipped: ${missing}`, (t) => t.pass());

const REALM = 'agent-studio';
let s: InboundSetup;
let browser: Browser | undefined;
let DOMAIN = '';

test.before(async () => {
  if (missing) return;
  // Two workers: the callee's leg must still land on the caller leg's router.
  s = await inboundSetup({ sip: { ringMs: 0 }, media: { workers: 2 } });
  browser = await launchBrowser();
  DOMAIN = `${s.tenant.tenantId}.live`;
  for (const [username, password] of [['desk', 'desk-secret-1'], ['web', 'web-secret-1']] as const) {
    const res = await request(s.base, 'POST', '/api/v1/sip-users', { headers: s.tenant.headers, body: { username, password } });
    if (res.status !== 201) throw new Error(`sip user not created: ${res.status} ${JSON.stringify(res.body)}`);
  }
});
test.after.always(async () => {
  await browser?.close();
  await s?.close();
});

/** The phone answered: 180 (the browser rings), 200, its ACK, then `tail`. */
const answered = (tail: string) => `  <recv response="180" timeout="15000"/>
  <recv response="200" rrs="true" timeout="15000"/>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[service]@{{domain}}>;tag=[pid]SIPpTag01[call_number]
      To: <sip:{{callee}}@{{domain}}>[peer_tag_param]
      Call-ID: [call_id]
      [routes]
      CSeq: 11 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
${tail}`;

/** The phone's BYE after `pauseMs`, answered 200. */
const phoneBye = (pauseMs: number) => `  <pause milliseconds="${pauseMs}"/>
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[service]@{{domain}}>;tag=[pid]SIPpTag01[call_number]
      To: <sip:{{callee}}@{{domain}}>[peer_tag_param]
      Call-ID: [call_id]
      [routes]
      CSeq: 12 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>`;

/** The phone refused with `status` (after an optional 180), and its ACK. */
const refused = (status: number) => `  <recv response="180" optional="true"/>
  <recv response="${status}" timeout="15000"/>
  <send>
    <![CDATA[

      ACK sip:{{callee}}@{{domain}} SIP/2.0
      [last_Via:]
      From: <sip:[service]@{{domain}}>;tag=[pid]SIPpTag01[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 11 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>`;

/** SIPp as the desk phone calling `callee`, its media at `rtp`'s port. */
function phoneCalls(callee: string, rtp: RtpPeer, outcome: string): Promise<SippResult> {
  // `outcome` first: it holds {{domain}} and {{callee}} to fill in too.
  const scn = scenario('user-call.xml', { outcome, callee, domain: DOMAIN, rtpPort: rtp.port });
  return sippCall(s, scn, { args: ['-s', 'desk', '-au', 'desk', '-ap', 'desk-secret-1'], timeoutSeconds: 40 });
}

interface Browserphone {
  ws: SipWsClient;
  page: Page;
}

/** A browser user `web`: its SIP socket registered (Contact on a `*.invalid` host, transport=ws) and its page. */
async function browserUser(t: ExecutionContext): Promise<Browserphone> {
  const ws = await connectSipWs(`${s.base.replace(/^http/, 'ws')}/sip`);
  const page = await openPeerPage(browser!, await pageServer(t));
  t.teardown(async () => {
    ws.close();
    await page.close();
  });
  const reg = await registerOverWs(ws, { user: 'web', password: 'web-secret-1', domain: DOMAIN, realm: REALM, callId: `web-reg-${Date.now()}`, cseq: 1, contacts: ['<sip:web@webphone.invalid;transport=ws>'], expires: '300' });
  if (reg.status !== 200) throw new Error(`web not registered: ${reg.status}`);
  return { ws, page };
}

/** A response to `req` down the socket, its headers echoed (To tagged), with an optional SDP body. */
function respond(ws: SipWsClient, req: SipMessage, status: string, body = ''): void {
  const echo = req.headers.fields().filter((f) => /^(via|from|call-id|cseq|record-route)$/i.test(f.name)).map((f) => `${f.name}: ${f.value}`);
  const to = req.headers.get('To')!;
  ws.send(
    [
      `SIP/2.0 ${status}`,
      ...echo,
      /;tag=/.test(to) ? `To: ${to}` : `To: ${to};tag=webtag`,
      'Contact: <sip:web@webphone.invalid;transport=ws>',
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n'),
  );
}

const isRequest = (method: string) => (m: SipMessage) => m.kind === 'request' && m.method === method;

/** The browser user takes the engine's INVITE: 180, then the page's answer in a 200; returns the INVITE. */
async function browserAnswers(b: Browserphone): Promise<SipMessage> {
  const invite = await b.ws.next(isRequest('INVITE'), 15_000);
  respond(b.ws, invite, '180 Ringing');
  const answer = await pageAnswers(b.page, invite.body.toString());
  respond(b.ws, invite, '200 OK', answer);
  await b.ws.next(isRequest('ACK'), 5000);
  return invite;
}

/** The page's inbound audio once it has `n` packets (or after `ms`). */
async function pageHears(page: Page, n: number, ms = 8000): Promise<InboundAudio> {
  const deadline = Date.now() + ms;
  let inbound = await pageInbound(page);
  while ((inbound.packetsReceived < n || inbound.audioLevel === 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    inbound = await pageInbound(page);
  }
  return inbound;
}

/** μ-law payloads that are not silence (0xFF / 0x7F are zero). */
const loud = (payload: Buffer) => payload.some((b) => b !== 0xff && b !== 0x7f && b !== 0xfe && b !== 0x7e);

/**
 * Audio both ways through the bridge: the phone's RTP peer streams a tone into the caller leg, the
 * page must hear it; the page's fake microphone must reach the phone's RTP peer.
 */
async function audioBothWays(t: ExecutionContext, page: Page, phone: RtpPeer, phoneLeg: CallLeg, browserLeg: CallLeg): Promise<string> {
  const t0 = performance.now();
  const streaming = phone.stream({ to: rtpPort(phoneLeg), count: 150 });
  const inbound = await pageHears(page, 50);
  await streaming;
  await phone.waitFor(50, 5000);
  // What the phone gets back that it did not send itself (an agent call's leg echoes it until bridged).
  const own = new Set(phone.sent.map((p) => p.subarray(12).toString('hex')));
  const echoed = phone.received.filter((r) => own.has(r.payload.toString('hex'))).length;
  const fromPage = phone.received.filter((r) => r.header.payloadType === 0 && !own.has(r.payload.toString('hex')));
  const loudFromPage = fromPage.filter((r) => loud(r.payload)).length;
  // mediasoup's counters trail the packets a starved worker has yet to read: wait for them (up to
  // 5 s) rather than judge the forwarding by the first read.
  let [a, b] = await Promise.all([phoneLeg.stats(), browserLeg.stats()]);
  for (const until = performance.now() + 5000; (a.rtpPacketsIn < 140 || b.rtpPacketsOut < 140) && performance.now() < until; ) {
    await new Promise((r) => setTimeout(r, 100));
    [a, b] = await Promise.all([phoneLeg.stats(), browserLeg.stats()]);
  }
  const figures =
    `page: ${inbound.packetsReceived} packets ${inbound.bytesReceived} bytes, audioLevel ${inbound.audioLevel.toFixed(3)}, ${inbound.codec}; ` +
    `phone got ${fromPage.length} PCMU packets from the page (${loudFromPage} not silent); ` +
    `phone leg in/out ${a.rtpPacketsIn}/${a.rtpPacketsOut}, browser leg in/out ${b.rtpPacketsIn}/${b.rtpPacketsOut}; ${(performance.now() - t0).toFixed(0)} ms`;
  t.true(inbound.packetsReceived >= 50 && inbound.bytesReceived > 0, figures);
  t.true(inbound.audioLevel > 0, figures);
  t.is(inbound.codec, 'audio/PCMU', figures);
  t.true(fromPage.length >= 50 && loudFromPage > 0, figures);
  t.is(echoed, 0, `the phone hears the page, not itself: ${figures}`);
  // What each leg took in is what the other sent out (mediasoup forwards; a few in flight).
  t.true(a.rtpPacketsIn >= 140 && b.rtpPacketsOut >= 140, figures);
  t.true(b.rtpPacketsIn >= 50 && a.rtpPacketsOut >= 50, figures);
  return figures;
}

/**
 * The legs of the call just bridged: `<bridge id>:caller` and a `<bridge id>:callee:<n>` of the
 * same bridge, the newest such pair (legs of a call an earlier, failed test left up must not stand
 * in for this call's). When they do not show, the error says what there was: a CANCEL or a BYE on
 * the browser's socket, the phone's ladder and the call's end reason tell a call the engine ended
 * before or as the page answered from legs that never showed.
 */
async function bridgeLegs(seen: { browser?: Browserphone; phone?: Promise<SippResult> } = {}): Promise<[CallLeg, CallLeg]> {
  try {
    return await waitFor(() => {
      const all = s.app.engine.mediaService.legs();
      for (const caller of [...all].reverse()) {
        if (!caller.id.endsWith(':caller')) continue;
        const bridge = caller.id.slice(0, -':caller'.length);
        const callee = all.find((l) => l.id.startsWith(`${bridge}:callee:`) && /:callee:\d+$/.test(l.id));
        if (callee) return [caller, callee] as [CallLeg, CallLeg];
      }
      return undefined;
    }, 10_000);
  } catch (err) {
    throw new Error(`the bridge's two legs: ${(err as Error).message}; ${await whatThereWas(seen)}`);
  }
}

/** The open legs, the newest call records, what the browser's socket got and the phone's ladder. */
async function whatThereWas(seen: { browser?: Browserphone; phone?: Promise<SippResult> }): Promise<string> {
  const legs = s.app.engine.mediaService.legs().map((l) => `${l.id} ${l.kind} ${l.state}`);
  const items = await request<{ items: Record<string, unknown>[] }>(s.base, 'GET', '/api/v1/calls?limit=3', { headers: s.tenant.headers }).then(
    (r) => r.body.items,
    (e: unknown): Record<string, unknown>[] => [{ error: String(e) }],
  );
  const calls = items.map((c) => JSON.stringify(Object.fromEntries(['direction', 'status', 'endReason', 'hangupBy', 'error'].filter((k) => k in c).map((k) => [k, c[k]]))));
  const socket = seen.browser ? seen.browser.ws.received.map((m) => m.split('\r\n')[0]).join(' | ') : 'n/a';
  const phone = seen.phone
    ? await Promise.race([
        seen.phone.then((r) => `exit ${r.code}: ${r.ladder.join(', ')}`, (e: unknown) => `failed: ${String(e)}`),
        new Promise<string>((r) => setTimeout(() => r('still running after 3 s'), 3000)),
      ])
    : 'n/a';
  return `open legs: [${legs.join(', ')}]; newest calls: [${calls.join(', ')}]; the browser's socket got: [${socket}]; the phone: ${phone}`;
}

/** The newest call record, once it is answered (the phone's ACK in: both sides up). */
async function newestCallAnswered(): Promise<void> {
  await waitFor(async () => {
    const list = await request<{ items: { status: string }[] }>(s.base, 'GET', '/api/v1/calls?limit=1', { headers: s.tenant.headers });
    return list.body.items[0]?.status === 'in_progress' ? true : undefined;
  }, 10_000);
}

/** The newest call record, once it has ended. */
async function lastEndedCall(): Promise<{ id: string; endReason: string | null }> {
  return waitFor(async () => {
    const list = await request<{ items: { id: string; endReason: string | null }[] }>(s.base, 'GET', '/api/v1/calls?limit=1', { headers: s.tenant.headers });
    return list.body.items[0]?.endReason ? list.body.items[0] : undefined;
  }, 10_000);
}

async function nothingLeft(t: ExecutionContext): Promise<void> {
  await waitFor(() => s.app.engine.mediaService.stats().legs === 0, 10_000);
  t.deepEqual(s.app.engine.mediaService.stats(), { legs: 0, portsHeld: 0 });
}

maybe('a phone calls a browser user: the page rings and answers, audio flows both ways through mediasoup, the phone BYE ends both', async (t) => {
  const b = await browserUser(t);
  const rtp = await RtpPeer.open();
  t.teardown(() => rtp.close());
  const t0 = performance.now();
  const phone = phoneCalls('web', rtp, answered(phoneBye(9000)));
  const invite = await browserAnswers(b);
  const answeredAt = performance.now() - t0;
  t.regex(invite.body.toString(), /m=audio \d+ UDP\/TLS\/RTP\/SAVPF 0 /, 'the browser is offered WebRTC, PCMU only (the phone’s codec)');
  t.regex(invite.headers.get('From') ?? '', /sip:desk@/, 'From the calling user');
  const [callerLeg, calleeLeg] = await bridgeLegs({ browser: b, phone });
  t.is(callerLeg.kind, 'sip');
  t.true(calleeLeg instanceof WebRtcLeg);
  t.is(callerLeg.router, calleeLeg.router, 'both legs on one router');
  await calleeLeg.whenActive();
  t.log(await audioBothWays(t, b.page, rtp, callerLeg, calleeLeg));
  const bye = await b.ws.next(isRequest('BYE'), 15_000);
  respond(b.ws, bye, '200 OK');
  const r = await phone;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(
    withoutRetransmissions(r.ladder.filter((l) => !/ 100 /.test(l))),
    ['-> REGISTER', '<- 401 REGISTER', '-> REGISTER', '<- 200 REGISTER', '-> INVITE', '<- 407 INVITE', '-> ACK', '-> INVITE', '<- 180 INVITE', '<- 200 INVITE', '-> ACK', '-> BYE', '<- 200 BYE'],
    r.ladder.join(', '),
  );
  t.log(`INVITE to 200 from the page in ${answeredAt.toFixed(0)} ms (SIPp's REGISTER included)`);
  // A bridged user call is a call record (direction web), with its timeline.
  const call = await lastEndedCall();
  t.like(call, { direction: 'web', status: 'completed', endReason: 'caller_hangup', hangupBy: 'caller', agentId: null, trunkId: null, to: `sip:web@${DOMAIN}` });
  t.deepEqual(await timeline(s, call.id), ['call.started', 'call.ringing', 'call.answered', 'call.ended']);
  await nothingLeft(t);
});

maybe('the page hangs up (RTCPeerConnection.close): its leg closes, the engine BYEs the phone and the browser’s dialog', async (t) => {
  const b = await browserUser(t);
  const rtp = await RtpPeer.open();
  t.teardown(() => rtp.close());
  const phone = phoneCalls('web', rtp, answered(ENGINE_BYE));
  await browserAnswers(b);
  const [, calleeLeg] = await bridgeLegs({ browser: b, phone });
  await calleeLeg.whenActive();
  // The call is answered once the phone's ACK is in too: a page hanging up before that (a loaded
  // machine delays SIPp's ACK) makes an unanswered call, not the hang-up this test is about.
  await newestCallAnswered();
  const closed = new Promise<string>((resolve) => calleeLeg.once('close', resolve));
  await pageHangsUp(b.page);
  const reason = await closed;
  t.is(reason, 'dtls_closed');
  const bye = await b.ws.next(isRequest('BYE'), 10_000);
  respond(b.ws, bye, '200 OK');
  const r = await phone;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.slice(-2), ['<- BYE', '-> 200 BYE']);
  t.like(await lastEndedCall(), { direction: 'web', status: 'completed', endReason: 'dtls_closed', hangupBy: 'callee' });
  await nothingLeft(t);
});

for (const [status, text] of [
  [486, 'Busy Here'],
  [603, 'Decline'],
] as const) {
  maybe(`the browser user refuses (${status}): the phone gets ${status}, after its 180`, async (t) => {
    const b = await browserUser(t);
    const rtp = await RtpPeer.open();
    t.teardown(() => rtp.close());
    const phone = phoneCalls('web', rtp, refused(status));
    const invite = await b.ws.next(isRequest('INVITE'), 15_000);
    respond(b.ws, invite, '180 Ringing');
    await new Promise((r) => setTimeout(r, 300));
    respond(b.ws, invite, `${status} ${text}`);
    await b.ws.next(isRequest('ACK'), 5000);
    const r = await phone;
    t.is(r.code, 0, r.output + r.errors);
    t.deepEqual(r.ladder.slice(-3), ['<- 180 INVITE', `<- ${status} INVITE`, '-> ACK']);
    await nothingLeft(t);
  });
}

maybe('the phone CANCELs while the browser rings: the browser’s INVITE is CANCELed, the phone gets 487', async (t) => {
  const b = await browserUser(t);
  const rtp = await RtpPeer.open();
  t.teardown(() => rtp.close());
  const cancel = `  <recv response="180" timeout="15000"/>
  <send>
    <![CDATA[

      CANCEL sip:{{callee}}@{{domain}} SIP/2.0
      [last_Via:]
      From: <sip:[service]@{{domain}}>;tag=[pid]SIPpTag01[call_number]
      To: <sip:{{callee}}@{{domain}}>
      Call-ID: [call_id]
      CSeq: 11 CANCEL
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
${refused(487).replace('  <recv response="180" optional="true"/>\n', '')}`;
  const phone = phoneCalls('web', rtp, cancel);
  const invite = await b.ws.next(isRequest('INVITE'), 15_000);
  respond(b.ws, invite, '180 Ringing');
  const canceled = await b.ws.next(isRequest('CANCEL'), 10_000);
  respond(b.ws, canceled, '200 OK');
  respond(b.ws, invite, '487 Request Terminated');
  await b.ws.next(isRequest('ACK'), 5000);
  const r = await phone;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.slice(-5), ['<- 180 INVITE', '-> CANCEL', '<- 200 CANCEL', '<- 487 INVITE', '-> ACK']);
  await nothingLeft(t);
});

maybe('an agent call transferred to the browser user: the page is offered WebRTC, audio both ways, the caller BYE ends both', async (t) => {
  const b = await browserUser(t);
  const callerPeer = await RtpPeer.open();
  t.teardown(() => callerPeer.close());
  // A caller that is never sent a REFER (a registered user is dialled, never referred).
  const callerFile = scenario('transfer-refer-refuse.xml', { rtpPort: callerPeer.port, referAnswer: '', tail: callerBye(9000) });
  fs.writeFileSync(callerFile.path, fs.readFileSync(callerFile.path, 'utf8').replace('<recv request="REFER" timeout="15000"/>', ''));
  const caller = sippCall(s, callerFile, { timeoutSeconds: 40 });
  const call = await liveCall(s.app);
  const outcome = transferCall(transferDeps(s.app), call, `sip:web@${DOMAIN}`);
  const invite = await browserAnswers(b);
  t.regex(invite.body.toString(), /UDP\/TLS\/RTP\/SAVPF/, 'a WebRTC offer to the browser');
  t.like(await outcome, { result: 'bridged', via: 'bridge' });
  const legB = s.app.engine.mediaService.legs().find((l) => l.id === `${call.id}:transfer`)!;
  t.true(legB instanceof WebRtcLeg);
  await legB.whenActive();
  t.log(await audioBothWays(t, b.page, callerPeer, call.parts.leg!, legB));
  const bye = await b.ws.next(isRequest('BYE'), 15_000);
  respond(b.ws, bye, '200 OK');
  const c = await caller;
  t.is(c.code, 0, c.output + c.errors);
  await nothingLeft(t);
});

maybe('a browser user calls a phone (a device registered with a UDP Contact): the engine answers the page with WebRTC, offers the phone plain RTP, audio both ways, the page’s BYE ends both', async (t) => {
  const b = await browserUser(t);
  const phonePort = await freePort();
  const rtp = await RtpPeer.open();
  t.teardown(() => rtp.close());
  // The desk phone registers (over the browser's socket, as a provisioning page would) the UDP address where it takes calls: a SIPp UAS.
  const reg = await registerOverWs(b.ws, { user: 'desk', password: 'desk-secret-1', domain: DOMAIN, realm: REALM, callId: 'desk-reg-udp', cseq: 1, contacts: [`<sip:desk@127.0.0.1:${phonePort}>`], expires: '300' });
  t.is(reg.status, 200);
  const target = scenario('transfer-target.xml', { rtpPort: rtp.port, tail: ENGINE_BYE });
  fs.writeFileSync(target.path, fs.readFileSync(target.path, 'utf8').replace('sip:\\+15550100@', 'sip:web@'));
  const phone = runSipp({ transport: 'u1', target: s.sipTarget, scenario: target, args: ['-p', String(phonePort)], timeoutSeconds: 40 });
  t.teardown(async () => {
    const c = await connectSipWs(`${s.base.replace(/^http/, 'ws')}/sip`);
    await registerOverWs(c, { user: 'desk', password: 'desk-secret-1', domain: DOMAIN, realm: REALM, callId: 'desk-reg-udp', cseq: 9, contacts: ['*'], expires: '0' }).catch(() => undefined);
    c.close();
  });
  const offer = await pageOffer(b.page);
  const callId = `web-to-desk-${Date.now()}`;
  const invite = (cseq: number, auth?: string) =>
    wsRequest('INVITE', `sip:desk@${DOMAIN}`, {
      branch: `webinv${cseq}`,
      callId,
      cseq,
      headers: ['Contact: <sip:web@webphone.invalid;transport=ws>', 'Content-Type: application/sdp', ...(auth ? [`Proxy-Authorization: ${auth}`] : [])],
      body: offer,
    }).replace(/^From: .*$/m, `From: <sip:web@${DOMAIN}>;tag=web${callId}`);
  b.ws.send(invite(1));
  const challenge = await b.ws.next((m) => m.kind === 'response' && m.callId === callId && m.status >= 200);
  t.is(challenge.kind === 'response' && challenge.status, 407);
  b.ws.send(wsAck(challenge, `sip:desk@${DOMAIN}`, 1));
  const nonce = /nonce="([^"]+)"/.exec(challenge.headers.get('Proxy-Authenticate') ?? '')![1]!;
  b.ws.send(invite(2, digestAuthorization({ user: 'web', password: 'web-secret-1', realm: REALM, method: 'INVITE', uri: `sip:desk@${DOMAIN}`, nonce })));
  const ringing = await b.ws.next((m) => m.kind === 'response' && m.callId === callId && m.status === 180, 10_000);
  t.truthy(ringing, 'the page hears ringing while the phone rings');
  const ok = await b.ws.next((m) => m.kind === 'response' && m.callId === callId && m.status >= 200, 10_000);
  t.is(ok.kind === 'response' && ok.status, 200);
  const answer = ok.body.toString();
  t.regex(answer, /UDP\/TLS\/RTP\/SAVPF 0/, 'the page is answered WebRTC, PCMU');
  const remoteTarget = /<([^>]+)>/.exec(ok.headers.get('Contact') ?? '')![1]!;
  b.ws.send(wsAck(ok, remoteTarget, 2));
  await pageTakesAnswer(b.page, answer);
  const [callerLeg, calleeLeg] = await bridgeLegs({ browser: b, phone });
  t.true(callerLeg instanceof WebRtcLeg, "the caller's leg is the browser's");
  t.is(calleeLeg.kind, 'sip');
  await callerLeg.whenActive();
  t.log(await audioBothWays(t, b.page, rtp, calleeLeg, callerLeg));
  b.ws.send(wsInDialog('BYE', ok, remoteTarget, 3));
  const byeOk = await b.ws.next((m) => m.kind === 'response' && m.callId === callId && m.headers.get('CSeq') === '3 BYE', 10_000);
  t.is(byeOk.kind === 'response' && byeOk.status, 200);
  const r = await phone;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(withoutRetransmissions(r.ladder), ['<- INVITE', '-> 180 INVITE', '-> 200 INVITE', '<- ACK', '<- BYE', '-> 200 BYE'], r.ladder.join(', '));
  await nothingLeft(t);
});

/** An in-dialog request from the browser user, in the dialog `res` (a 2xx or a final to the INVITE) made. */
function wsInDialog(method: string, res: SipMessage, uri: string, cseq: number): string {
  return [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/WS webphone.invalid;branch=z9hG4bK${method}${cseq}${Date.now()}`,
    'Max-Forwards: 70',
    ...res.headers.getAll('Record-Route').reverse().map((r) => `Route: ${r}`),
    `From: ${res.headers.get('From')}`,
    `To: ${res.headers.get('To')}`,
    `Call-ID: ${res.headers.get('Call-ID')}`,
    `CSeq: ${cseq} ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** The ACK of an INVITE answered `res`: for a non-2xx the INVITE's own branch (RFC 3261 §17.1.1.3), else a new transaction. */
function wsAck(res: SipMessage, uri: string, cseq: number): string {
  if (res.kind === 'response' && res.status >= 300) {
    return wsInDialog('ACK', res, uri, cseq).replace(/^Via: .*$/m, `Via: ${res.headers.get('Via')}`);
  }
  return wsInDialog('ACK', res, uri, cseq);
}

maybe('the browser user hangs up with a BYE of its own: the engine answers it and BYEs the phone', async (t) => {
  const b = await browserUser(t);
  const rtp = await RtpPeer.open();
  t.teardown(() => rtp.close());
  const phone = phoneCalls('web', rtp, answered(ENGINE_BYE));
  const invite = await browserAnswers(b);
  const [, calleeLeg] = await bridgeLegs({ browser: b, phone });
  await calleeLeg.whenActive();
  // The engine answers the phone once the browser's media is up: give that 200 and the phone's
  // ACK time to pass before the browser hangs up (a BYE before it is a 480 to the phone instead).
  await new Promise((r) => setTimeout(r, 1000));
  // The callee's side of the dialog: From is its To (tagged as answered), To the engine's From.
  const engineContact = /<([^>]+)>/.exec(invite.headers.get('Contact') ?? '')![1]!;
  const bye = [
    `BYE ${engineContact} SIP/2.0`,
    `Via: SIP/2.0/WS webphone.invalid;branch=z9hG4bKwebbye${Date.now()}`,
    'Max-Forwards: 70',
    `From: ${invite.headers.get('To')};tag=webtag`,
    `To: ${invite.headers.get('From')}`,
    `Call-ID: ${invite.headers.get('Call-ID')}`,
    'CSeq: 1 BYE',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  b.ws.send(bye);
  const ok = await b.ws.next((m) => m.kind === 'response' && m.headers.get('CSeq') === '1 BYE', 10_000);
  t.is(ok.kind === 'response' && ok.status, 200);
  const r = await phone;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.slice(-2), ['<- BYE', '-> 200 BYE']);
  await nothingLeft(t);
});

maybe('a carrier calls a number that rings the browser user: the page is offered WebRTC and answers, audio both ways, the carrier’s BYE ends both; the call is recorded inbound, completed, caller_hangup', async (t) => {
  const NUMBER = '+15550188';
  const users = await request<{ items: { id: string; username: string }[] }>(s.base, 'GET', '/api/v1/sip-users', { headers: s.tenant.headers });
  const web = users.body.items.find((u) => u.username === 'web')!;
  const number = await request<{ id: string }>(s.base, 'POST', '/api/v1/phone-numbers', { headers: s.tenant.headers, body: { number: NUMBER, sipUserId: web.id, trunkId: s.trunkId } });
  t.is(number.status, 201, JSON.stringify(number.body));
  const b = await browserUser(t);
  const rtp = await RtpPeer.open();
  t.teardown(() => rtp.close());
  const carrier = carrierCalls(s, NUMBER, rtp, trunkAnswered(NUMBER, trunkCallerBye(NUMBER, 9000)));
  const invite = await browserAnswers(b);
  t.regex(invite.body.toString(), /m=audio \d+ UDP\/TLS\/RTP\/SAVPF 0 /, 'the browser is offered WebRTC, PCMU only (the carrier’s codec)');
  t.regex(invite.headers.get('From') ?? '', /sip:\+15550100@/, 'From the caller’s number');
  const [callerLeg, calleeLeg] = await bridgeLegs({ browser: b, phone: carrier });
  t.is(callerLeg.kind, 'sip');
  t.true(calleeLeg instanceof WebRtcLeg);
  await calleeLeg.whenActive();
  const live = await waitFor(() => [...s.app.engine.calls.calls.values()].find((c) => c.state === 'answered'), 10_000);
  t.log(await audioBothWays(t, b.page, rtp, callerLeg, calleeLeg));
  const bye = await b.ws.next(isRequest('BYE'), 15_000);
  respond(b.ws, bye, '200 OK');
  const r = await carrier;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(withoutRetransmissions(r.ladder.filter((l) => !/ 100 /.test(l))), ['-> INVITE', '<- 180 INVITE', '<- 200 INVITE', '-> ACK', '-> BYE', '<- 200 BYE'], r.ladder.join(', '));
  const call = await waitFor(async () => {
    const c = await request<{ endReason: string | null }>(s.base, 'GET', `/api/v1/calls/${live.id}`, { headers: s.tenant.headers });
    return c.body.endReason ? c.body : undefined;
  }, 10_000);
  t.like(call, { direction: 'inbound', status: 'completed', endReason: 'caller_hangup', hangupBy: 'caller', agentId: null, phoneNumberId: number.body.id, to: NUMBER });
  t.deepEqual(await timeline(s, live.id), ['call.started', 'call.ringing', 'call.answered', 'call.ended']);
  await nothingLeft(t);
});
