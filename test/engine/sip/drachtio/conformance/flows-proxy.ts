/**
 * Flows of drachtio-srf's test/proxy.js: SIPp calls the SUT, an app ported from
 * test/scripts/proxy.js proxies the INVITE (`srf.proxyRequest(req, 'sipp-uas', {remainInDialog:
 * true})`) to a SIPp UAS, and the caller's ACK and BYE follow the Record-Route through the SUT.
 */
import { handled, within, type FlowContext, type FlowEntry } from './flow.js';
import type { ProxyResults, SrfApp } from './srf-app.js';

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
      ctx.t.like(ctx.sut.server.stats(), { pendingServer: 0, dialogs: 0 });
    },
  };
}

export const proxyFlows: FlowEntry[] = [proxied('srf.proxyRequest returns a Promise', withPromise), proxied('srf.proxyRequest accepts a callback', withCallback)];
