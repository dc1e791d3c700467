/**
 * SIPp against the stack, with the test-only UAS (test/helpers/test-uas.ts) on top: built-in
 * `uac` over UDP and TCP, CANCEL, OPTIONS, malformed requests, and datagram loss (a relay that
 * drops exactly one 200, and SIPp's own random `-lost`). SIPp's exit code 0 means every call
 * succeeded; the ladder is read from its -trace_msg file.
 */
import test from 'ava';
import type { SipStack } from '../../../engine/sip/sip-stack.js';
import { portOf, startStack } from '../../helpers/sip-stack.js';
import { runSipp, sippMissing, type SippResult } from '../../helpers/sipp.js';
import { TestUas } from '../../helpers/test-uas.js';
import { sleep } from '../../helpers/timing.js';
import { UdpProxy } from '../../helpers/udp-proxy.js';

const missing = sippMissing();
const sippTest = missing ? test.skip : test;
if (missing) test(`SIPp tests skipped: ${missing}`, (t) => t.pass());

async function uas(t: import('ava').ExecutionContext, overrides: Parameters<typeof startStack>[0] = {}): Promise<{ stack: SipStack; uas: TestUas }> {
  // rport "always" as drachtio-server: SIPp's Via has no rport, yet answers must follow the source.
  const stack = await startStack({ rport: 'always', ...overrides });
  t.teardown(() => stack.close());
  return { stack, uas: new TestUas(stack) };
}

function ok(t: import('ava').ExecutionContext, r: SippResult): void {
  t.is(r.code, 0, `sipp failed:\n${r.output.slice(-1500)}\n${r.errors.slice(-1500)}`);
}

const CALL = ['-> INVITE', '<- 100 INVITE', '<- 180 INVITE', '<- 200 INVITE', '-> ACK', '-> BYE', '<- 200 BYE'];

for (const transport of ['u1', 't1'] as const) {
  const name = transport === 'u1' ? 'UDP' : 'TCP';
  sippTest(`sipp -sn uac over ${name}: INVITE, 100, 180, 200, ACK, BYE, 200`, async (t) => {
    const { stack, uas: u } = await uas(t);
    const r = await runSipp({ transport, target: `127.0.0.1:${portOf(stack, transport === 'u1' ? 'udp' : 'tcp')}`, scenario: { builtin: 'uac' } });
    ok(t, r);
    t.deepEqual(r.ladder, CALL);
    t.deepEqual(u.ladder, ['<- INVITE', '-> 100 INVITE', '-> 180 INVITE', '-> 200 INVITE', '<- ACK', '<- BYE', '-> 200 BYE']);
    t.like(stack.stats(), { dialogs: 0, pending2xx: 0 });
    t.deepEqual(u.errors, []);
  });

  sippTest(`sipp CANCEL scenario over ${name}: 200 to CANCEL, 487 to INVITE, ACK absorbed`, async (t) => {
    const { stack, uas: u } = await uas(t);
    const cancelled: string[] = [];
    stack.on('cancel', (req, invite) => cancelled.push(`${req.callId}:${invite.state}`));
    const r = await runSipp({ transport, target: `127.0.0.1:${portOf(stack)}`, scenario: { file: 'uac-cancel.xml' }, args: ['-s', 'cancel'] });
    ok(t, r);
    t.deepEqual(r.ladder, ['-> INVITE', '<- 100 INVITE', '<- 180 INVITE', '-> CANCEL', '<- 200 CANCEL', '<- 487 INVITE', '-> ACK']);
    t.deepEqual(u.ladder, ['<- INVITE', '-> 100 INVITE', '-> 180 INVITE', '<- CANCEL']);
    t.is(cancelled.length, 1);
    t.like(stack.stats(), { dialogs: 0 });
  });

  sippTest(`sipp sends malformed requests over ${name}: each gets 400, then OPTIONS gets 200`, async (t) => {
    const { stack, uas: u } = await uas(t);
    const r = await runSipp({ transport, target: `127.0.0.1:${portOf(stack)}`, scenario: { file: 'uac-malformed.xml' } });
    ok(t, r);
    t.deepEqual(r.ladder, ['-> INVITE', '<- 400 INVITE', '-> OPTIONS', '<- 400 OPTIONS', '-> OPTIONS', '<- 400 OPTIONS', '-> OPTIONS', '<- 200 OPTIONS']);
    t.deepEqual(u.ladder, ['<- OPTIONS', '-> 200 OPTIONS'], 'only the good request reached the application');
    // And the stack is still answering calls.
    ok(t, await runSipp({ transport, target: `127.0.0.1:${portOf(stack)}`, scenario: { builtin: 'uac' } }));
  });
}

sippTest('sipp OPTIONS: 200 with Allow', async (t) => {
  const { stack } = await uas(t);
  const r = await runSipp({ transport: 'u1', target: `127.0.0.1:${portOf(stack)}`, scenario: { file: 'uac-options.xml' } });
  ok(t, r);
  t.deepEqual(r.ladder, ['-> OPTIONS', '<- 200 OPTIONS']);
});

sippTest('loss: a relay drops the first 200; the UAS core retransmits it and the call completes', async (t) => {
  const { stack, uas: u } = await uas(t);
  let dropped = false;
  const proxy = await UdpProxy.start({ address: '127.0.0.1', port: portOf(stack) }, (msg, dir) => {
    if (!dropped && dir === 'to-client' && msg?.kind === 'response' && msg.status === 200 && msg.cseq.method === 'INVITE') {
      dropped = true;
      return 'drop';
    }
    return 'pass';
  });
  t.teardown(() => proxy.close());
  const r = await runSipp({ transport: 'u1', target: `127.0.0.1:${proxy.port}`, scenario: { builtin: 'uac' } });
  ok(t, r);
  t.deepEqual(r.ladder, CALL);
  t.is(proxy.count('to-client', 'drop', /^SIP\/2.0 200 OK \(INVITE\)/), 1);
  t.true(proxy.count('to-client', 'pass', /^SIP\/2.0 200 OK \(INVITE\)/) >= 1, 'the 200 was retransmitted');
  t.deepEqual(u.ladder.filter((l) => l.startsWith('<-')), ['<- INVITE', '<- ACK', '<- BYE']);
  await sleep(100);
  t.like(stack.stats(), { pending2xx: 0, dialogs: 0 });
});

sippTest('loss: sipp -lost 10 over 5 calls (random loss both ways) still completes every call', async (t) => {
  // RFC timer values here: SIPp retransmits on a 500 ms T1, so our Timer J (64*T1) must outlast
  // its retransmissions of BYE for a lost 200 to be answered from the transaction.
  const { stack } = await uas(t, { timers: { t1: 500, t2: 4000, t4: 5000 } });
  const r = await runSipp({ transport: 'u1', target: `127.0.0.1:${portOf(stack)}`, scenario: { builtin: 'uac' }, calls: 5, args: ['-lost', '10', '-r', '10'], timeoutSeconds: 90 });
  ok(t, r);
  t.regex(r.output, /Successful call\s+\|\s+0\s+\|\s+5/);
});
