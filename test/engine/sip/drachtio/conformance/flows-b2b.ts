/**
 * Flows of drachtio-srf's test/b2b.js: SIPp calls the SUT (A leg), the B2B app ported from
 * test/scripts/b2b.js bridges to a SIPp UAS (B leg). `sip:sipp-uas-*` targets become the local UAS.
 */
import { B2bApp, UAC_DESTROY_CRASH } from './apps/b2b-app.js';
import { handled, nextEvent, type FlowContext, type FlowEntry } from './flow.js';
import type { SipError, SrfDialog } from './srf-app.js';

type Legs = { uas: SrfDialog; uac: SrfDialog };
const CONTACT_FOO = { Contact: 'sip:foo@localhost' };

/**
 * Starts the B leg's UAS and the B2B app; like b2b.js's first app, A's BYE tears B down. Any
 * `error` the app emits fails the flow.
 */
async function b2b(ctx: FlowContext, uasScenario: string) {
  const peer = await ctx.uas(uasScenario);
  const app = await B2bApp.connect(ctx.connect);
  const errors: unknown[] = [];
  app.on('error', (e: unknown) => errors.push(e));
  // A's BYE can be read in the same chunk of control frames as the 200's confirmation, so A's leg
  // may be gone before createB2BUA's promise lets the app see the legs: then hang up B at once.
  app.on('connected', ({ uas, uac }: Legs) => {
    if (!uas.connected) void uac.destroy();
    else uas.on('destroy', () => void uac.destroy());
  });
  const noErrors = () => ctx.t.deepEqual(errors.map(String), []);
  return { peer, app, noErrors };
}

/** B answers (uas.xml), A runs `uacScenario`; the call must connect and both SIPps complete their part. */
function success(name: string, setup: (app: B2bApp, uri: string) => B2bApp, uacScenario = 'uac.xml', check?: (legs: Legs) => void): FlowEntry {
  return {
    name,
    source: 'b2b.js',
    run: async (ctx) => {
      const { peer, app, noErrors } = await b2b(ctx, 'uas.xml');
      const connected = nextEvent<Legs>(setup(app, peer.uri()), 'connected');
      ctx.sippOk(await ctx.uac(uacScenario), 'sipp uac');
      check?.(await connected);
      await peer.waitFor('-> 200 BYE');
      noErrors();
    },
  };
}

/** B rejects (uas-404.xml or `scenario`), A must see `uacScenario`'s final response. */
function failure(name: string, uri: (peer: { uri(): string; hostport: string }) => string, status: number, newStatus: number | undefined, uacScenario: string, scenario = 'uas-404.xml'): FlowEntry {
  return {
    name,
    source: 'b2b.js',
    run: async (ctx) => {
      const { peer, app, noErrors } = await b2b(ctx, scenario);
      const failed = handled(nextEvent<SipError>(app.expectFailure(uri(peer), status, newStatus), 'failed'));
      ctx.sippOk(await ctx.uac(uacScenario), 'sipp uac');
      ctx.t.is((await failed).status, status);
      noErrors();
    },
  };
}

export const b2bFlows: FlowEntry[] = [
  {
    name: 'b2b handles PRACK for both UAS and UAC',
    source: 'b2b.js',
    run: async (ctx) => {
      const { peer, app, noErrors } = await b2b(ctx, 'uas-prack.xml');
      app.expectSuccess(peer.uri(), { proxyResponseHeaders: ['all'], responseHeaders: CONTACT_FOO });
      const a = await ctx.uac('uac-prack.xml');
      ctx.sippOk(a, 'sipp uac');
      ctx.t.deepEqual(a.ladder.slice(0, 7), ['-> INVITE', '<- 100 INVITE', '<- 180 INVITE', '-> PRACK', '<- 200 PRACK', '<- 200 INVITE', '-> ACK']);
      ctx.t.deepEqual((await peer.waitFor('-> 200 BYE')).slice(0, 4), ['<- INVITE', '-> 180 INVITE', '<- PRACK', '-> 200 PRACK']);
      noErrors();
    },
  },
  {
    name: 'b2b handles INVITE with late sdp; uas.remote.sdp holds the SDP answer from the A-leg ACK on a 3pcc call',
    source: 'b2b.js',
    run: async (ctx) => {
      const { peer, app, noErrors } = await b2b(ctx, 'uas.xml');
      const connected = nextEvent<Legs>(app.expectSuccess(peer.uri(), { responseHeaders: CONTACT_FOO }), 'connected');
      ctx.sippOk(await ctx.uac('uac-nosdp.xml'), 'sipp uac');
      ctx.t.regex((await connected).uas.remote.sdp ?? '', /m=audio/);
      noErrors();
    },
  },
  success('b2b handles 200 OK from B', (app, uri) => app.expectSuccess(uri, { responseHeaders: CONTACT_FOO })),
  success(
    'b2b sets tag on 200 OK',
    (app, uri) => app.expectSuccess(uri, { responseHeaders: (uacRes: { get(h: string): string }) => ({ To: `tag=${uacRes.get('Call-ID')}` }) }),
    'uac.xml',
    // The A leg's 200 carried the To tag the app asked for: B's Call-ID.
    ({ uas, uac }) => {
      if (uas.sip.localTag !== uac.sip.callId) throw new Error(`To tag ${uas.sip.localTag}, expected ${uac.sip.callId}`);
    },
  ),
  {
    name: 'b2b CANCELs B leg when CANCEL is received from A',
    source: 'b2b.js',
    run: async (ctx) => {
      const { peer, app, noErrors } = await b2b(ctx, 'uas-cancel.xml');
      const failed = handled(nextEvent<SipError>(app.expectCancel(peer.uri()), 'failed'));
      ctx.sippOk(await ctx.uac('uac-cancel.xml'), 'sipp uac');
      ctx.t.is((await failed).status, 487);
      ctx.sippOk(await peer.done, 'sipp-uas-cancel');
      noErrors();
    },
  },
  failure('b2b passes failure', (p) => p.uri(), 404, undefined, 'uac-expect-404.xml'),
  failure('dont pass failure to A if opts.passFailure === false', (p) => p.uri(), 404, 480, 'uac-expect-480.xml'),
  success('pass headers from A to B and vice-versa', (app, uri) => app.passHeaders(uri)),
  {
    name: 'reject if no contact headers in request',
    source: 'b2b.js',
    run: async (ctx) => {
      const { peer, app, noErrors } = await b2b(ctx, 'uas-404.xml');
      app.expectFailure(peer.uri(), 404, 400);
      const a = await ctx.uac('uac-expect-400-no-contact-header.xml');
      ctx.sippOk(a, 'sipp uac');
      // The server itself answers 400 (§8.1.1.8): the INVITE never reaches the app, nor B.
      ctx.t.deepEqual(peer.ladderNow(), []);
      noErrors();
    },
  },
  // b2b.js passes the bare host name `sipp-uas-200-ok-no-contact-cancel` (no scheme): kept bare.
  failure('reject if no contact headers in response', (p) => p.hostport, 500, 480, 'uac-expect-480.xml', 'uas-200-ok-no-contact-cancel.xml'),
  success('can supply headers for response to A', (app, uri) => app.passHeadersOnResponse(uri, { 'X-Color': 'green' }), 'uac-success-green.xml'),
  success('can supply response headers as a function returning an object', (app, uri) => app.passHeadersOnResponse(uri, () => ({ 'X-Color': 'green' })), 'uac-success-green.xml'),
  success('pass displayname in From header from A to B', (app, uri) => app.passHeaders(uri), 'uac-displayname-from.xml'),
  success('provide opts.localSdpA as a function returning a Promise', (app, uri) => app.localSdpA(uri, true)),
  success('provide opts.localSdpA as a function returning a string', (app, uri) => app.localSdpA(uri, false)),
  success('Srf#createB2BUA(req, res, {uri}) is valid signature', (app, uri) => app.uriInOpts(uri)),
  {
    name: 'b2b 3pcc UAS failure does not crash and tears down the B leg',
    source: 'b2b.js',
    run: async (ctx) => {
      // sipp-uas-b-teardown: uas.xml must see INVITE, 200, then ACK and BYE from the B2B.
      const { peer, app, noErrors } = await b2b(ctx, 'uas.xml');
      const crashes: unknown[] = [];
      const onRejection = (reason: unknown) => UAC_DESTROY_CRASH.test(String((reason as Error)?.message ?? reason)) && crashes.push(reason);
      process.on('unhandledRejection', onRejection);
      ctx.t.teardown(() => void process.off('unhandledRejection', onRejection));
      const failed = handled(nextEvent<Error>(app.expect3pccUasFailure(peer.uri()), 'failed'));
      // The A leg gets a 480; b2b.js ignores its exit code.
      await ctx.uac('uac-3pcc-nosdp.xml');
      await new Promise((r) => setTimeout(r, 250));
      ctx.t.regex((await failed).message, /simulated SDP\/route processing failure/);
      ctx.t.deepEqual(crashes, []);
      ctx.sippOk(await peer.done, 'sipp-uas-b-teardown');
      noErrors();
    },
  },
  {
    name: 'Srf#createB2BUA queues fast requests from B until receiving ACK from A',
    source: 'b2b.js',
    run: async (ctx) => {
      const { peer, app, noErrors } = await b2b(ctx, 'uas-reinvite.xml');
      app.immediateReinviteFromB(peer.uri());
      const a = await ctx.uac('uac-delayed-ack.xml');
      ctx.sippOk(a, 'sipp uac');
      // B's re-INVITE (sent right after its ACK) reached A only after A's delayed ACK.
      const ack = a.ladder.indexOf('-> ACK');
      ctx.t.true(ack > 0 && a.ladder.indexOf('<- INVITE') > ack, a.ladder.join(' | '));
      ctx.t.deepEqual((await peer.waitFor('-> 200 BYE')).slice(4, 8), ['-> INVITE', '<- 100 INVITE', '<- 200 INVITE', '-> ACK']);
      noErrors();
    },
  },
];
