/**
 * The twelve recorded runs of shared/reference/drachtio-traces, replayed against the embedded
 * server: the same app behaviour (inferred from its frames in each trace) and the same SIP side
 * (SIPp's built-in uac/uas, drachtio-srf's scenarios, or scenarios/trace-*.xml written from the
 * SIPp messages in the trace).
 */
import path from 'node:path';
import Srf from 'drachtio-srf';
import type { SippOutcome, SippPeer } from './sipp-peer.js';
import type { SrfApp, SrfDialog } from './srf-app.js';
import type { Sut } from './sut.js';
import { TRACE_DIR } from './trace-file.js';

const SCENARIOS = path.join(path.dirname(TRACE_DIR), 'scenarios');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The answer drachtio-srf's recorded apps gave (traces 02, 05, 06, 08, 11). */
const SDP = 'v=0\r\no=drachtio 1 1 IN IP4 127.0.0.1\r\ns=drachtio-test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
/** The re-INVITE answer in trace 08. */
const SDP2 = 'v=0\r\no=drachtio 1 2 IN IP4 127.0.0.1\r\ns=drachtio-test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n';

export interface ReplayContext {
  sut: Sut;
  /** A drachtio-srf app (a new one, or `app`) connected through the wire tap; rejects on a failed authentication. */
  connect(opts?: { app?: SrfApp; secret?: string; ping?: boolean }): Promise<SrfApp>;
  /** SIPp: `-sn <builtin>` or a scenario file; a UAC when `uac` is true (targets the SUT). */
  sipp(scenario: { builtin: string } | { file: string }, opts?: { uac?: boolean; transport?: 'u1' | 't1'; args?: string[] }): Promise<SippPeer>;
}

export interface Replay {
  file: string;
  run(r: ReplayContext): Promise<SippOutcome | null>;
}

/** An app whose INVITE handler runs `then` on the UAS dialog it creates with the recorded SDP. */
function answering(srf: SrfApp, then: (uas: SrfDialog) => void = () => {}): void {
  srf.invite((req, res) => void srf.createUAS(req, res, { localSdp: SDP }).then(then));
}

/** Trace 02 / 12: `sipp -sn uac` (500 ms call) answered by createUAS; the caller hangs up. */
async function callerBye(r: ReplayContext, transport: 'u1' | 't1'): Promise<SippOutcome> {
  answering(await r.connect());
  return (await r.sipp({ builtin: 'uac' }, { uac: true, transport, args: ['-d', '500'] })).done;
}

export const REPLAYS: Replay[] = [
  {
    file: '01-connect-auth-route.txt',
    run: async (r) => {
      const srf = new Srf(['tag-a', 'tag-b']) as unknown as SrfApp & { unregisterForMessages(verb: string): void };
      srf.invite(() => {});
      srf.register(() => {});
      srf.options(() => {});
      await r.connect({ ping: true, app: srf });
      await sleep(5600);
      srf.unregisterForMessages('options');
      await sleep(300);
      await r.connect({ secret: 'wrong-secret' }).then(
        () => Promise.reject(new Error('a wrong secret was accepted')),
        () => undefined,
      );
      await sleep(300);
      return null;
    },
  },
  { file: '02-inbound-invite-answer-caller-bye.txt', run: (r) => callerBye(r, 'u1') },
  {
    file: '03-inbound-invite-reject-486.txt',
    run: async (r) => {
      const srf = await r.connect();
      srf.invite((_req, res) => res.send(486, 'Busy Here', { headers: { 'X-Reason': 'test-busy' } }));
      return (await r.sipp({ file: path.join(SCENARIOS, 'trace-uac-486.xml') }, { uac: true })).done;
    },
  },
  {
    file: '04-inbound-invite-180-then-cancel.txt',
    run: async (r) => {
      const srf = await r.connect();
      srf.invite((_req, res) => res.send(180));
      return (await r.sipp({ file: 'uac-cancel.xml' }, { uac: true })).done;
    },
  },
  {
    file: '05-inbound-answer-app-hangs-up.txt',
    run: async (r) => {
      answering(await r.connect(), (uas) => void sleep(700).then(() => uas.destroy()));
      return (await r.sipp({ file: path.join(SCENARIOS, 'trace-uac-callee-bye.xml') }, { uac: true })).done;
    },
  },
  {
    file: '06-outbound-uac-app-bye.txt',
    run: async (r) => {
      const uas = await r.sipp({ builtin: 'uas' });
      const uac = await (await r.connect()).createUAC(uas.uri('service'), { localSdp: SDP, headers: { 'X-Test': 'uac' } });
      await sleep(700);
      await uac.destroy();
      await uas.waitFor('-> 200 BYE');
      return null;
    },
  },
  {
    file: '07-outbound-uac-digest-auth.txt',
    run: async (r) => {
      const uas = await r.sipp({ file: 'uas-auth.xml' });
      const srf = await r.connect();
      const uac = await srf.createUAC(uas.uri('service'), { localSdp: SDP, headers: { 'X-Test': 'uac-auth' }, auth: { username: 'alice', password: 'secret' } });
      await sleep(700);
      await uac.destroy();
      await uas.waitFor('-> 200 BYE');
      return null;
    },
  },
  {
    file: '08-inbound-in-dialog-info-reinvite.txt',
    run: async (r) => {
      answering(await r.connect(), (uas) => {
        uas.on('info', (_req, res: { send(s: number): void }) => res.send(200));
        uas.on('modify', (_req, res: { send(s: number, o: object): void }) => res.send(200, { body: SDP2, headers: { 'content-type': 'application/sdp' } }));
      });
      return (await r.sipp({ file: path.join(SCENARIOS, 'trace-uac-info-reinvite.xml') }, { uac: true })).done;
    },
  },
  {
    file: '09-register-handled-by-app.txt',
    run: async (r) => {
      const srf = await r.connect();
      srf.register((req, res) => res.send(200, { headers: { contact: `${req.get('Contact')};expires=3600`, expires: '3600' } }));
      return (await r.sipp({ file: path.join(SCENARIOS, 'trace-uac-register.xml') }, { uac: true })).done;
    },
  },
  {
    file: '10-options-handled-by-app.txt',
    run: async (r) => {
      const srf = await r.connect();
      srf.options((_req, res) => res.send(200, { headers: { allow: 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REFER, NOTIFY', accept: 'application/sdp' } }));
      return (await r.sipp({ file: path.join(SCENARIOS, 'trace-uac-options.xml') }, { uac: true })).done;
    },
  },
  {
    file: '11-app-sends-refer-in-dialog.txt',
    run: async (r) => {
      answering(await r.connect(), (uas) =>
        void sleep(300).then(() => uas.request({ method: 'REFER', headers: { 'Refer-To': '<sip:carol@127.0.0.1:5094>', 'Referred-By': '<sip:app@127.0.0.1>' } })),
      );
      return (await r.sipp({ file: path.join(SCENARIOS, 'trace-uac-refer.xml') }, { uac: true })).done;
    },
  },
  { file: '12-extra-inbound-invite-over-tcp.txt', run: (r) => callerBye(r, 't1') },
];

