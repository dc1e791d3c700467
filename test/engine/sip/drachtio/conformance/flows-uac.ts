/**
 * Flows of drachtio-srf's test/uac.js: the app places calls and requests through the SUT towards
 * SIPp UAS peers. The testbed's container names (`sip:sipp-uas-prack`, `sip:172.29.0.25`, ...)
 * become `sip:127.0.0.1:<port>` of a SIPp UAS started for the flow with the same scenario.
 */
import dns from 'node:dns/promises';
import type { FlowContext, FlowEntry } from './flow.js';
import type { SipError, SrfApp, SrfDialog, SrfRequest } from './srf-app.js';

/**
 * uac.js's request headers on most calls. A fresh object each time, as uac.js writes them:
 * drachtio-srf adds CSeq, Call-ID, From and credentials to the object on a digest retry.
 */
const dh = () => ({ To: 'sip:dhorton@sip.drachtio.org', From: 'sip:dhorton@sip.drachtio.org' });
const auth = () => ({ username: 'foo', password: 'bar' });

/** Starts the UAS `scenario` and an app; returns both. */
async function setup(ctx: FlowContext, scenario: string) {
  const peer = await ctx.uas(scenario);
  const srf = await ctx.connect();
  return { peer, srf };
}

/** Waits until the UAS has seen `entry`, and fails the flow with its ladder otherwise. */
async function uasSaw(ctx: FlowContext, peer: { waitFor(e: string): Promise<string[]> }, entry: string): Promise<void> {
  ctx.t.true((await peer.waitFor(entry)).includes(entry));
}

/** `srf.createUAC(uas, {INVITE, DH-headers, ...extra})` on a uas.xml peer, then `uac.destroy()`. */
function callThenBye(name: string, extra: object): FlowEntry {
  return {
    name,
    source: 'uac.js',
    run: async (ctx) => {
      const { peer, srf } = await setup(ctx, 'uas.xml');
      const uac = await srf.createUAC(peer.uri(), { method: 'INVITE', callingNumber: '12345', ...extra });
      await uac.destroy();
      await uasSaw(ctx, peer, '-> 200 BYE');
      ctx.sippOk(await peer.done, 'sipp-uas');
    },
  };
}

/** A REGISTER with digest credentials answered 200 after a 401 (uas-auth-register*.xml). */
function register(name: string, scenario: string, send: (srf: SrfApp, uri: string, opts: object) => Promise<SrfRequest>): FlowEntry {
  return {
    name,
    source: 'uac.js',
    run: async (ctx) => {
      const { peer, srf } = await setup(ctx, scenario);
      const opts = { method: 'REGISTER', headers: { ...dh(), Contact: '<sip:dhorton@localhost>;expires=3600' }, auth: auth() };
      const req = await send(srf, peer.uri(), opts);
      const status = await new Promise<number>((resolve) => req.on('response', (res: { status: number }) => resolve(res.status)));
      ctx.t.is(status, 200, `REGISTER was rejected after auth with ${status}`);
      // The UAS verified the credentials itself (<verifyauth>): 403 otherwise.
      ctx.t.deepEqual(peer.ladderNow(), ['<- REGISTER', '-> 401 REGISTER', '<- REGISTER', '-> 200 REGISTER']);
    },
  };
}

export const uacFlows: FlowEntry[] = [
  {
    name: 'Srf#createUAC sends PRACK when received RSeq',
    source: 'uac.js',
    run: async (ctx) => {
      const { peer, srf } = await setup(ctx, 'uas-prack.xml');
      const uac = await srf.createUAC(peer.uri(), { method: 'INVITE', headers: dh() });
      await uac.destroy();
      ctx.t.deepEqual((await peer.waitFor('-> 200 BYE')).slice(0, 3), ['<- INVITE', '-> 180 INVITE', '<- PRACK']);
    },
  },
  {
    name: 'Srf#createUAC follows 3XX redirect when asked',
    source: 'uac.js',
    run: async (ctx) => {
      const target = await ctx.uas('uas.xml');
      // uas-302.xml redirects to the docker address of sipp-uas: rewritten to the local UAS.
      const redirector = await ctx.uas('uas-302.xml', { rewrite: [['<sip:172.29.0.13>', `<${target.uri()}>`]] });
      const srf = await ctx.connect();
      const uac = await srf.createUAC(redirector.uri(), { method: 'INVITE', headers: dh(), followRedirects: true, keepUriOnRedirect: true });
      await uac.destroy();
      ctx.t.deepEqual(redirector.ladderNow().slice(0, 4), ['<- INVITE', '-> 100 INVITE', '-> 302 INVITE', '<- ACK']);
      await uasSaw(ctx, target, '-> 200 BYE');
    },
  },
  {
    name: 'Srf#createUAC returns a Promise that resolves with the uac dialog',
    source: 'uac.js',
    run: async (ctx) => {
      const { peer, srf } = await setup(ctx, 'uas.xml');
      const uac = await srf.createUAC(peer.uri(), { method: 'INVITE', headers: dh() });
      ctx.t.is(uac.type, 'uac');
      await uasSaw(ctx, peer, '<- ACK');
      srf.disconnect();
    },
  },
  {
    name: 'Srf#createUAC can take a callback that returns the uac dialog',
    source: 'uac.js',
    run: async (ctx) => {
      const { peer, srf } = await setup(ctx, 'uas.xml');
      const uac = await new Promise<SrfDialog>((resolve, reject) =>
        srf.createUAC(peer.uri(), { method: 'INVITE', headers: dh() }, {}, (err, d) => (err ? reject(err) : resolve(d))),
      );
      ctx.t.is(uac.type, 'uac');
      await uasSaw(ctx, peer, '<- ACK');
      srf.disconnect();
    },
  },
  callThenBye('Srf#createUAC accepts opts.callingNumber', { headers: { Subject: 'sending Contact based on callingNumber' } }),
  callThenBye('Srf#createUAC accepts opts.callingNumber (explicit Contact)', { headers: { Subject: 'sending explicit Contact', Contact: 'sip:foo@localhost' } }),
  callThenBye('Srf#createUAC accepts opts.callingNumber (explicit lower-case contact)', { headers: { Subject: 'sending explicit contact', contact: 'sip:foo@localhost' } }),
  {
    name: 'SipDialog will not send overlapping re-invites',
    source: 'uac.js',
    run: async (ctx) => {
      const { peer, srf } = await setup(ctx, 'uas-reinvite-overlap.xml');
      const uac = await srf.createUAC(peer.uri(), { method: 'INVITE', headers: dh() });
      await Promise.all([uac.modify(uac.local.sdp), uac.modify(uac.local.sdp), uac.modify(uac.local.sdp)]);
      await uac.destroy();
      const seen = peer.ladderNow().filter((l) => /INVITE|ACK/.test(l));
      ctx.t.deepEqual(seen, ['<- INVITE', '-> 100 INVITE', '-> 200 INVITE', '<- ACK', ...Array(3).fill(['<- INVITE', '-> 100 INVITE', '-> 200 INVITE', '<- ACK']).flat()]);
    },
  },
  {
    name: 'SipDialog will handle authentication on re-invites',
    source: 'uac.js',
    run: async (ctx) => {
      const { peer, srf } = await setup(ctx, 'uas-reinvite-with-auth.xml');
      const uac = await srf.createUAC(peer.uri(), { method: 'INVITE', headers: dh(), auth: auth() });
      await uac.modify('hold');
      await uac.destroy();
      await uasSaw(ctx, peer, '-> 200 BYE');
      ctx.sippOk(await peer.done, 'sipp-uas-reinvite-with-auth');
    },
  },
  ...(['sending to same server', ''] as const).map(
    (how): FlowEntry => ({
      name: `Srf#createUAC can handle digest authentication${how ? `, ${how}` : ''}`,
      source: 'uac.js',
      run: async (ctx) => {
        const { peer, srf } = await setup(ctx, 'uas-auth.xml');
        // uac.js calls `sip:sipp-uas-auth` (a host name: drachtio-srf pins the retry to the
        // challenger's address, `sip|||sip:<ip>:<port>`) and `sip:172.29.0.15` (an IP: no pin).
        // `localhost` keeps the host-name case when it resolves to the UAS's address.
        const byName = how !== '' && (await dns.lookup('localhost', { family: 4 }).catch(() => null))?.address === '127.0.0.1';
        const uri = byName ? `sip:localhost:${peer.port}` : peer.uri();
        if (how !== '' && !byName) ctx.t.log('localhost does not resolve to 127.0.0.1 here: calling by IP');
        await srf.createUAC(uri, { method: 'INVITE', headers: dh(), auth: auth() });
        const seen = await peer.waitFor('<- ACK', 2);
        ctx.t.deepEqual(seen.filter((l) => !l.includes('100')), ['<- INVITE', '-> 407 INVITE', '<- ACK', '<- INVITE', '-> 180 INVITE', '-> 200 INVITE', '<- ACK']);
        srf.disconnect();
      },
    }),
  ),
  {
    name: 'Srf#createUAC cannot handle digest without authentication',
    source: 'uac.js',
    run: async (ctx) => {
      const { peer, srf } = await setup(ctx, 'uas-407-no-auth-header.xml');
      const err = await srf.createUAC(peer.uri(), { method: 'INVITE', headers: dh(), auth: auth() }).then(
        () => null,
        (e: SipError) => e,
      );
      ctx.t.is(err?.status, 407, 'Srf#createUAC should not handle digest without authentication');
    },
  },
  {
    name: 'Srf#createUAC can handle bye with digest authentication',
    source: 'uac.js',
    run: async (ctx) => {
      const { peer, srf } = await setup(ctx, 'uas-bye-with-auth.xml');
      const uac = await srf.createUAC(peer.uri(), { method: 'INVITE', headers: dh(), auth: auth() });
      await uac.destroy();
      ctx.t.deepEqual((await peer.waitFor('-> 200 BYE')).slice(-4), ['<- BYE', '-> 407 BYE', '<- BYE', '-> 200 BYE']);
    },
  },
  register('Srf#request can handle digest authentication', 'uas-auth-register.xml', (srf, uri, opts) =>
    new Promise((resolve, reject) => srf.request(uri, opts, (err, req) => (err ? reject(err as Error) : resolve(req)))),
  ),
  register('Srf#request returns a Promise', 'uas-auth-register.xml', (srf, uri, opts) => srf.request(uri, opts)),
  register('srf.request accepts opts.uri', 'uas-auth-register.xml', (srf, uri, opts) => srf.request({ uri, ...opts })),
  register('Srf#request can handle digest authentication with empty realm', 'uas-auth-register-no-realm.xml', (srf, uri, opts) =>
    new Promise((resolve, reject) => srf.request(uri, opts, (err, req) => (err ? reject(err as Error) : resolve(req)))),
  ),
  {
    name: 'Srf#request can be canceled',
    source: 'uac.js',
    run: async (ctx) => {
      const { peer, srf } = await setup(ctx, 'uas-cancel.xml');
      let inviteSent: SrfRequest | undefined;
      const status = await new Promise<number | undefined>((resolve) =>
        srf.createUAC(
          peer.uri(),
          { headers: dh() },
          {
            cbRequest: (_err: unknown, req: SrfRequest) => (inviteSent = req),
            cbProvisional: (res: { status: number }) => {
              if (res.status < 200) inviteSent?.cancel({ headers: { Reason: 'SIP;cause=200;text="Call completed elsewhere"' } });
            },
          },
          (err) => resolve(err?.status),
        ),
      );
      ctx.t.is(status, 487, `expected 487 response to status, got ${status}`);
      ctx.sippOk(await peer.done, 'sipp-uas-cancel');
      // The app's Reason went out on the CANCEL.
      ctx.t.regex(peer.traceNow(), /^CANCEL [^\n]*\n(?:[^\n]+\n)*Reason: SIP;cause=200;text="Call completed elsewhere"/m);
    },
  },
  {
    name: 'SipDialog will send SDP with 200 OK to UPDATE',
    source: 'uac.js',
    run: async (ctx) => {
      const { peer, srf } = await setup(ctx, 'uas-update-with-sdp.xml');
      const sdp = 'v=0\r\no=- 1608559736530 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
      await srf.createUAC(peer.uri(), { method: 'INVITE', headers: dh(), localSdp: sdp });
      await new Promise((r) => setTimeout(r, 1000));
      await uasSaw(ctx, peer, '<- 200 UPDATE');
      srf.disconnect();
    },
  },
];
