/**
 * Reliable provisional responses (RFC 3262) that a drachtio-srf app sends with
 * `Require: 100rel`: the server numbers them (RSeq), resends them until the PRACK, passes the
 * PRACK to the app (fnPrack), and rejects the INVITE with 500 when none comes in 64*T1.
 */
import path from 'node:path';
import test from 'ava';
import { sippMissing } from '../../../helpers/sipp.js';
import { SippPeer } from './conformance/sipp-peer.js';
import type { SrfRequest } from './conformance/srf-app.js';
import { Sut } from './conformance/sut.js';
import { TRACE_DIR } from './conformance/trace-file.js';

const SCENARIOS = path.join(path.dirname(TRACE_DIR), 'scenarios');
const SDP = 'v=0\r\no=app 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
const missing = sippMissing();
const sippTest = missing ? test.skip : test;
if (missing) test(`100rel tests skipped: ${missing}`, (t) => t.pass());

async function setup(t: import('ava').ExecutionContext, t1?: number) {
  const sut = await Sut.start(t1 ? { t1 } : {});
  const peers: SippPeer[] = [];
  t.teardown(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await sut.close();
  });
  const call = async (scenario: string) => {
    const peer = await SippPeer.start({ scenario: path.join(SCENARIOS, scenario), target: sut.sipHostport, timeoutSeconds: 20 });
    peers.push(peer);
    return peer.done;
  };
  return { sut, srf: await sut.connect(), call };
}

sippTest('a reliable 180 gets an RSeq and is resent until the PRACK, which reaches the app', async (t) => {
  const { srf, call } = await setup(t);
  const pracks: string[] = [];
  srf.invite((req, res) => {
    res.send(180, { headers: { Require: '100rel' } }, null, (prack: SrfRequest) => {
      pracks.push(prack.get('RAck'));
      void srf.createUAS(req, res, { localSdp: SDP });
    });
  });
  const o = await call('uac-100rel-late-prack.xml');
  t.is(o.code, 0, `${o.ladder.join(' | ')}\n${o.output.slice(-800)}`);
  const ringing = o.ladder.filter((l) => l === '<- 180 INVITE').length;
  // Sent at 0, resent at T1 (500 ms) and 3*T1 (1.5 s, after the PRACK at 1.2 s: not sent).
  t.is(ringing, 2, o.ladder.join(' | '));
  t.deepEqual(o.ladder.slice(-6), ['-> PRACK', '<- 200 PRACK', '<- 200 INVITE', '-> ACK', '-> BYE', '<- 200 BYE']);
  t.is(pracks.length, 1);
  t.regex(pracks[0]!, /^\d+ 1 INVITE$/);
});

sippTest('a reliable 180 never PRACKed ends the INVITE with 500 after 64*T1 (RFC 3262 §3)', async (t) => {
  const { sut, srf, call } = await setup(t, 50);
  srf.invite((_req, res) => res.send(180, { headers: { Require: '100rel' } }));
  const o = await call('uac-100rel-no-prack.xml');
  t.is(o.code, 0, `${o.ladder.join(' | ')}\n${o.output.slice(-800)}`);
  // T1 = 50 ms: sent at 0, resent at 50, 150, 350, 750, 1550 and 3150 ms; 500 at 64*T1 = 3.2 s.
  t.is(o.ladder.filter((l) => l === '<- 180 INVITE').length, 7, o.ladder.join(' | '));
  t.deepEqual(o.ladder.slice(-2), ['<- 500 INVITE', '-> ACK']);
  t.like(sut.server.stats(), { pendingServer: 0 });
});
