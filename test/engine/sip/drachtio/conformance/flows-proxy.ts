/**
 * Flows of drachtio-srf's test/proxy.js: SIPp calls the SUT, an app ported from
 * test/scripts/proxy.js proxies the INVITE (`srf.proxyRequest(req, 'sipp-uas', {remainInDialog:
 * true})`) to a SIPp UAS, and the caller's ACK and BYE follow the Record-Route through the SUT.
 */
import { handled, within, type FlowContext, type FlowEntry } from './flow.js';
import { referB2b, referUas, type TransferLog } from './apps/refer-apps.js';
import type { ProxyResults, SrfApp } from './srf-app.js';
import { Sut } from './sut.js';

/** Installs the app's INVITE handler; resolves with the results it gets from `proxyRequest`. */
type Proxying = (srf: SrfApp, dest: string) => Promise<ProxyResults>;

/** scripts/proxy.js `proxyPromise`. */
const withPromise: Proxying = (srf, dest) =>
  new Promise((resolve, reject) => srf.invite((req) => void srf.proxyRequest(req, dest, { remainInDialog: true }).then(resolve, reject)));

/** scripts/proxy.js `proxyCb`. */
const withCallback: Proxying = (srf, dest) =>
  new Promise((resolve, reject) =>
    srf.invite((req) => srf.proxyRequest(req, dest, { remainInDialog: true }, (err, results) => (err ? reject(err as Error) : resolve(results)))),
  );

function proxied(name: string, how: Proxying): FlowEntry {
  return {
    name,
    source: 'proxy.js',
    run: async (ctx: FlowContext) => {
      const peer = await ctx.uas('uas.xml');
      const srf = await ctx.connect();
      // proxy.js names the bare host `sipp-uas`: kept bare (drachtio-srf adds `sip:`).
      const results = handled(within(how(srf, peer.hostport), 20_000, 'proxyRequest results'));
      const a = await ctx.uac('uac-proxy.xml');
      ctx.sippOk(a, 'sipp uac');
      ctx.t.like(await results, { connected: true, finalStatus: 200 });
      // The caller's ACK and BYE reached the UAS through the proxy (Route popped, §16.4).
      ctx.t.deepEqual(await peer.waitFor('-> 200 BYE'), ['<- INVITE', '-> 180 INVITE', '-> 200 INVITE', '<- ACK', '<- BYE', '-> 200 BYE']);
      ctx.t.deepEqual(a.ladder, ['-> INVITE', '<- 100 INVITE', '<- 180 INVITE', '<- 200 INVITE', '-> ACK', '-> BYE', '<- 200 BYE']);
      // The BYE's 200 ended the record-routed dialog in the proxy; its context is gone.
      ctx.t.like(ctx.sut.server.stats(), { pendingServer: 0, dialogs: 0, proxy: { contexts: 0, dialogs: 0 } });
    },
  };
}

export const proxyFlows: FlowEntry[] = [proxied('srf.proxyRequest returns a Promise', withPromise), proxied('srf.proxyRequest accepts a callback', withCallback)];

/**
 * refer.js: two callers (uac-recv-reinvite.xml) through a B2B on the SUT to refer-uas on a second
 * server (the testbed's drachtio-uas 0.8.2, here a second embedded server); the second B leg is
 * REFERed with Replaces naming the first, and the B2B joins the two callers.
 */
export const referFlow: FlowEntry = {
  name: 'attended transfer success',
  source: 'refer.js',
  run: async (ctx) => {
    const second = await Sut.start();
    ctx.t.teardown(() => second.close());
    const log: TransferLog = { errors: [] };
    referUas(await second.connect(), log);
    referB2b(await ctx.connect(), second.sipHostport, log);
    const [a1, a2] = await Promise.all([ctx.uac('uac-recv-reinvite.xml', { timeoutSeconds: 15 }), ctx.uac('uac-recv-reinvite.xml', { timeoutSeconds: 15 })]);
    ctx.sippOk(a1, 'sipp uac 1');
    ctx.sippOk(a2, 'sipp uac 2');
    ctx.t.deepEqual(log.errors.map(String), []);
    ctx.t.is(log.referStatus, 202);
    ctx.t.true(log.reinvited);
  },
};
