/**
 * RFC 4475 end to end: every message of section 3, byte for byte from the corpus in
 * vectors/rfc4475, sent to the running engine (embedded SIP server + drachtio-srf call control, a
 * trunk that admits 127.0.0.1 and the number `service`) over UDP and over TCP, each on a fresh
 * socket or connection. Each gets the handling the RFC describes, and after each an OPTIONS on a
 * fresh socket or connection must get 200. One engine per transport: the messages reuse
 * branches, so a message sent over TCP just after the same one over UDP would rightly be a
 * retransmission of the UDP transaction (§17.2.3).
 *
 * Where the RFC leaves the choice to the element, the table says what we chose and why.
 */
import test from 'ava';
import type { SipResponse } from '../../../engine/sip/message/message.js';
import { inboundSetup, type InboundSetup } from '../../helpers/inbound.js';
import { TORTURE, torture } from '../../helpers/rfc4475.js';
import { liveness, probe, type Outcome, type Protocol } from '../../helpers/sip-probe.js';

/** The status expected (null: nothing comes back), per transport when they differ. */
interface Expect {
  udp: number | null;
  tcp: number | null;
  /** TCP: the engine closes the connection (the stream cannot be framed past this message). */
  closes?: boolean;
  /** More to check on the response. */
  check?: (res: SipResponse) => string | null;
  why: string;
}

const both = (status: number | null, why: string, more: Partial<Expect> = {}): Expect => ({ udp: status, tcp: status, why, ...more });
/** §8.2.1 405 and §21.5.2 501 carry the methods served: call control's, and REGISTER (the registrar). */
const allow = (res: SipResponse) => (res.header('Allow') === 'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE' ? null : `Allow: ${res.header('Allow')}`);
/** Call control's 200 to OPTIONS advertises the methods a call serves (engine/calls/in-dialog.ts). */
const callAllow = (res: SipResponse) => (res.header('Allow') === 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE' ? null : `Allow: ${res.header('Allow')}`);
/** The engine is a registrar: every REGISTER without credentials is challenged (§22.4, RFC 4475 §3.3.7). */
const challenged = (res: SipResponse) => (/^Digest /.test(res.header('WWW-Authenticate') ?? '') ? null : `WWW-Authenticate: ${res.header('WWW-Authenticate')}`);
const BAD = 'invalid: 400 (§21.4.1)';

const EXPECT: Record<string, Expect> = {
  wsinv: both(481, 'well formed; its To tag names no dialog of ours: 481 (§12.2.2)'),
  intmeth: both(501, 'well formed, unknown method: 501 with Allow (RFC 4475 §3.1.1.2)', { check: allow }),
  esc01: both(404, 'well formed INVITE; the user is no number of ours: 404 (§8.2.2.1)'),
  escnull: both(401, 'well formed REGISTER: challenged by the registrar', { check: challenged }),
  esc02: both(501, 'RE%47IST%45R is not REGISTER: unknown method, 501', { check: allow }),
  lwsdisp: both(200, 'well formed OPTIONS: 200'),
  longreq: both(404, 'well formed INVITE (4 KB of headers); not our number: 404'),
  dblreq: {
    udp: 401,
    tcp: 400,
    why: "UDP: the INVITE after Content-Length is discarded (§18.3), the REGISTER is challenged; TCP: two messages, and the INVITE's 400 (no Contact), sent by the stack at once, comes before the registrar's 401",
  },
  semiuri: both(200, 'well formed OPTIONS: 200'),
  transports: both(200, 'well formed OPTIONS (unknown transports in lower Vias): 200'),
  mpart01: both(405, 'well formed MESSAGE, a method no app serves: 405 with Allow', { check: allow }),
  unreason: both(null, 'a response that matches no transaction of ours: dropped (§17.1.3, §18.1.2)'),
  noreason: both(null, 'a response that matches no transaction of ours: dropped'),
  badinv01: both(400, 'the Via cannot be parsed: 400 with the Via copied as it came, sent back the way the request came (RFC 4475 §3.1.2.1)'),
  clerr: { udp: 400, tcp: null, why: 'UDP: Content-Length beyond the datagram, 400 (§18.3); TCP: "wait for more data" (RFC 4475 §3.1.2.2), then the partial-message timer closes it' },
  ncl: both(400, 'negative Content-Length: 400; TCP: the stream cannot be framed, closed after the 400', { closes: true }),
  scalar02: both(400, `CSeq beyond 2^31: ${BAD}`),
  scalarlg: both(null, 'a response with overlarge values: dropped (RFC 4475 §3.1.2.5)'),
  quotbal: both(400, `unterminated quoted string: ${BAD}`),
  ltgtruri: both(400, `<> around the Request-URI: ${BAD}`),
  lwsruri: both(400, `LWS inside the Request-URI: ${BAD}`),
  lwsstart: both(400, `several SP in the Request-Line: ${BAD}`),
  trws: both(400, 'SP after SIP/2.0: the RFC allows either; the grammar has no room for it, 400'),
  escruri: both(400, `headers in the Request-URI (§19.1.1): ${BAD}`),
  baddate: both(404, 'the Date is not interpreted, so the request is accepted (RFC 4475 §3.1.2.12); not our number: 404'),
  regbadct: both(400, 'Contact with "?" outside <>: 400 ("reasonable", RFC 4475 §3.1.2.13)'),
  badaspec: both(400, `spaces inside <>: ${BAD}`),
  baddn: { udp: 400, tcp: null, why: 'the message ends without the empty line: over UDP the datagram bounds it and its headers carry a 400; over TCP the stream waits for the end of the headers' },
  badvers: both(505, 'SIP/7.0: 505 (§21.5.6)'),
  mismatch01: both(400, `CSeq method differs from the method: ${BAD}`),
  mismatch02: both(400, `unknown method with a CSeq of INVITE: ${BAD}`),
  bigcode: both(null, 'a response with a 10-digit status: dropped'),
  badbranch: both(200, 'branch "z9hG4bK" alone: taken as an RFC 3261 branch (RFC 4475 §3.2.1 allows it), 200'),
  insuf: both(400, 'no From, To, Call-ID: 400 (RFC 4475 §3.3.1)'),
  unkscm: both(416, 'unknown Request-URI scheme: 416 (§8.2.2.1)'),
  novelsc: both(416, 'soap.beep: a scheme a UA never serves, 416 (RFC 4475 §3.3.3)'),
  unksm2: both(404, 'REGISTER whose To is no sip URI: not an address-of-record of ours, 404 (§10.3 step 3)'),
  bext01: both(420, 'Require with unknown tags: 420 with Unsupported listing them (§8.2.2.3); Proxy-Require is a proxy\'s', {
    check: (r) => (r.header('Unsupported') === 'nothingSupportsThis, nothingSupportsThisEither' ? null : `Unsupported: ${r.header('Unsupported')}`),
  }),
  invut: both(404, 'INVITE with an unknown body type to a user that is no number of ours: 404 comes first (§8.2.2.1 before §8.2.3)'),
  regaut01: both(401, 'REGISTER with an unknown Authorization scheme: a registrar challenges it (RFC 4475 §3.3.7)', { check: challenged }),
  multi01: { udp: 400, tcp: null, why: 'several Call-ID, To, From, CSeq: 400 (RFC 4475 §3.3.8); its l: 154 is 2 bytes more than its body, so over TCP the stream waits for them (as for clerr)' },
  mcl01: both(400, 'two Content-Lengths: 400; TCP: the stream cannot be framed, closed (RFC 4475 §3.3.9)', { closes: true }),
  bcast: both(null, 'a 200 for no transaction of ours: dropped (RFC 4475 §3.3.10)'),
  zeromf: both(200, "Max-Forwards 0 at a UAS: processed as if positive (RFC 4475 §3.3.11), 200 with call control's Allow (the methods a call serves)", { check: callAllow }),
  cparam01: both(401, 'REGISTER: challenged by the registrar', { check: challenged }),
  cparam02: both(401, 'REGISTER: challenged by the registrar; its branch is cparam01\'s, but it is another request', { check: challenged }),
  regescrt: both(401, 'REGISTER: challenged by the registrar', { check: challenged }),
  sdp01: both(404, 'INVITE whose Accept excludes SDP, to a user that is no number of ours: 404 comes first'),
  inv2543: { udp: 404, tcp: 400, closes: true, why: 'RFC 2543 INVITE (no branch cookie, From tag, Max-Forwards, Contact): accepted, not our number, 404; over TCP the missing Content-Length makes it unframeable (§18.3): 400, closed' },
};

const engines: Partial<Record<Protocol, InboundSetup>> = {};
test.before(async () => {
  // Two engines in one process: each its own half of the test RTP block.
  const [udp, tcp] = await Promise.all([inboundSetup(), inboundSetup()]);
  engines.udp = udp;
  engines.tcp = tcp;
});
test.after.always(() => Promise.all(Object.values(engines).map((e) => e?.close())));

const results: string[] = [];

for (const protocol of ['udp', 'tcp'] as const) {
  test.serial(`RFC 4475 section 3 over ${protocol.toUpperCase()}: all 49 messages`, async (t) => {
    const s = engines[protocol]!;
    const started = performance.now();
    for (const m of TORTURE) {
      const e = EXPECT[m.name]!;
      const o: Outcome = await probe(protocol, s.sipPort, torture(m.name), { closeMs: e.closes ? 2000 : 0 });
      const want = e[protocol];
      const final = o.responses.find((r) => r.status >= 200);
      const label = `${m.section} ${m.name} over ${protocol}`;
      t.is(want === null ? o.responses.length : final?.status, want === null ? 0 : want, `${label}: got ${o.responses.map((r) => `${r.status} ${r.reason}`).join(' | ') || 'nothing'}; expected because ${e.why}`);
      if (final && e.check) t.is(e.check(final), null, label);
      if (protocol === 'tcp' && e.closes) t.true(o.closed, `${label}: connection left open`);
      t.is(await liveness(protocol, s.sipPort), 200, `${label}: no 200 to OPTIONS afterwards`);
      results.push(`| ${m.section} | ${m.name} | ${protocol} | ${o.responses.map((r) => r.status).join(', ') || '—'}${o.closed ? ' (closed)' : ''} |`);
    }
    t.log(`${TORTURE.length} messages over ${protocol} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  });
}

test.after('result table', (t) => {
  if (process.env.RFC4475_TABLE) t.log(`\n${results.join('\n')}`);
});
