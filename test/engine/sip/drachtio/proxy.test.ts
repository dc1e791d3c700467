/**
 * srf.proxyRequest on the embedded server beyond drachtio-srf's own two flows (conformance/):
 * serial failover, the best of several failures, redirects followed, simultaneous forking. The
 * callers and destinations are drachtio-srf's SIPp scenarios.
 */
import test, { type ExecutionContext } from 'ava';
import { isResponse, UdpPeer } from '../../../helpers/sip-peer.js';
import { requestText } from '../../../helpers/sip-text.js';
import { sippMissing } from '../../../helpers/sipp.js';
import { SippPeer, type SippOutcome } from './conformance/sipp-peer.js';
import type { ProxyResults } from './conformance/srf-app.js';
import { Sut } from './conformance/sut.js';

const missing = sippMissing();
const sippTest = missing ? test.serial.skip : test.serial;
if (missing) test(`proxy tests skipped: ${missing}`, (t) => t.pass());

/**
 * A SUT whose app proxies every INVITE to SIPp UASs (all of them, or those at `dests`); runs the
 * SIPp `caller` through it and returns the proxy results and the peers.
 */
async function proxyCall(
  t: ExecutionContext,
  uasScenarios: (string | [string, (p: SippPeer[]) => [string, string][]])[],
  opts: object,
  caller: string,
  dests?: number[],
) {
  const sut = await Sut.start();
  const peers: SippPeer[] = [];
  t.teardown(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await sut.close();
  });
  for (const s of uasScenarios) {
    const [scenario, rewrite] = typeof s === 'string' ? [s, undefined] : s;
    peers.push(await SippPeer.start({ scenario, ...(rewrite ? { rewrite: rewrite(peers) } : {}), timeoutSeconds: 20 }));
  }
  const to = (dests ?? peers.map((_p, i) => i)).map((i) => peers[i]!.hostport);
  const srf = await sut.connect();
  const results = new Promise<ProxyResults>((resolve, reject) =>
    srf.invite((req) => void srf.proxyRequest(req, to, { remainInDialog: true, ...opts }).then(resolve, reject)),
  );
  const a = await SippPeer.start({ scenario: caller, target: sut.sipHostport, timeoutSeconds: 20 });
  peers.push(a);
  const outcome: SippOutcome = await a.done;
  t.is(outcome.code, 0, `${outcome.ladder.join(' | ')}\n${outcome.output.slice(-600)}`);
  return { results: await results, peers, sut };
}

const statuses = (r: ProxyResults) => r.responses.flatMap((x) => x.msgs.map((m) => m.status));

sippTest('serial: a 404 from the first destination, the call goes to the second (§16.7 step 6)', async (t) => {
  const { results, peers } = await proxyCall(t, ['uas-404.xml', 'uas.xml'], {}, 'uac-proxy.xml');
  t.like(results, { connected: true, finalStatus: 200 });
  t.deepEqual(statuses(results), [404, 200]);
  // The 404 was ACKed hop by hop by the proxy's client transaction (§17.1.1.3).
  t.deepEqual(peers[0]!.ladderNow(), ['<- INVITE', '-> 100 INVITE', '-> 404 INVITE', '<- ACK']);
  t.deepEqual(await peers[1]!.waitFor('-> 200 BYE'), ['<- INVITE', '-> 180 INVITE', '-> 200 INVITE', '<- ACK', '<- BYE', '-> 200 BYE']);
});

sippTest('every destination fails: the caller gets the best final response (§16.7 step 6)', async (t) => {
  const { results, sut } = await proxyCall(t, ['uas-404.xml', 'uas-404.xml'], {}, 'uac-expect-404.xml');
  t.like(results, { connected: false, finalStatus: 404 });
  t.deepEqual(statuses(results), [404, 404]);
  t.like(sut.server.stats(), { pendingServer: 0, dialogs: 0 });
});

sippTest('followRedirects: a 302 Contact becomes the next target (§16.5, §16.7 step 4)', async (t) => {
  // uas-302.xml redirects to the docker address of sipp-uas: rewritten to the local uas.xml.
  const redirect = (p: SippPeer[]): [string, string][] => [['<sip:172.29.0.13>', `<${p[0]!.uri()}>`]];
  const { results, peers } = await proxyCall(t, ['uas.xml', ['uas-302.xml', redirect]], { followRedirects: true }, 'uac-proxy.xml', [1]);
  t.like(results, { connected: true, finalStatus: 200 });
  t.deepEqual(statuses(results), [302, 200]);
  t.deepEqual(peers[1]!.ladderNow(), ['<- INVITE', '-> 100 INVITE', '-> 302 INVITE', '<- ACK']);
  t.deepEqual(await peers[0]!.waitFor('-> 200 BYE'), ['<- INVITE', '-> 180 INVITE', '-> 200 INVITE', '<- ACK', '<- BYE', '-> 200 BYE']);
});

sippTest('simultaneous forking: both destinations get the INVITE, the 404 one loses (§16.7)', async (t) => {
  // The winner answers a second after its 180: otherwise a loaded machine can have its 200 reach
  // the proxy before the loser's SIPp sends its 404, and the proxy rightly CANCELs the loser
  // instead (a race between two processes, not a property of the proxy).
  const late200 = (): [string, string][] => [['<send>\n    <![CDATA[\n\n      SIP/2.0 200 OK', '<pause milliseconds="1000"/>\n  <send>\n    <![CDATA[\n\n      SIP/2.0 200 OK']];
  const { results, peers } = await proxyCall(t, ['uas-404.xml', ['uas.xml', late200]], { forking: 'simultaneous' }, 'uac-proxy.xml');
  t.like(results, { connected: true, finalStatus: 200 });
  t.deepEqual(peers[0]!.ladderNow().slice(0, 3), ['<- INVITE', '-> 100 INVITE', '-> 404 INVITE']);
  t.true(peers[1]!.ladderNow().includes('<- INVITE'));
});

sippTest('the caller CANCELs: the proxy CANCELs its branch (§16.10) and ACKs its 487', async (t) => {
  const { results, peers } = await proxyCall(t, ['uas-cancel.xml'], {}, 'uac-cancel.xml');
  t.like(results, { connected: false, finalStatus: 487 });
  const b = await peers[0]!.done;
  t.is(b.code, 0, b.ladder.join(' | '));
  // uas-cancel.xml writes `CSeq [$2]` oddly: compare the start lines only.
  t.deepEqual(b.ladder.map((l) => l.split(' ').slice(0, 2).join(' ')), ['<- INVITE', '-> 180', '<- CANCEL', '-> 200', '-> 487', '<- ACK']);
});

sippTest('no open relay: a request routed through us outside a record-routed dialog is not forwarded', async (t) => {
  const sut = await Sut.start();
  const victim = await SippPeer.start({ scenario: 'uas.xml', timeoutSeconds: 10 });
  const peer = await UdpPeer.open();
  t.teardown(async () => {
    await victim.stop();
    await peer.close();
    await sut.close();
  });
  const us = sut.sipHostport;
  const send = (method: string, toTag?: string) =>
    peer.send(
      requestText({ method, uri: victim.uri('victim'), branch: `z9hG4bK-relay-${method}`, callId: 'relay-1', viaPort: peer.port, ...(toTag ? { toTag } : {}), extra: [`Route: <sip:${us};lr>`] }),
      Number(us.split(':')[1]),
    );
  // No app is connected: the UAS core's answer is drachtio-server's 503, not a forwarded INVITE.
  await send('INVITE');
  t.is((await peer.waitFor(isResponse(503, 'INVITE'))).msg.kind, 'response');
  // A BYE with tags of a dialog nobody record-routed: 481, not forwarded either.
  await send('BYE', 'nosuchtag');
  t.is((await peer.waitFor(isResponse(481, 'BYE'))).msg.kind, 'response');
  t.deepEqual(victim.ladderNow(), []);
});
