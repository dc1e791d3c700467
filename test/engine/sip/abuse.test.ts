/**
 * Scanners, credential guessing and floods against the engine, from other loopback addresses
 * (127.0.0.2 scans and floods, 127.0.0.3 is the carrier's allowlisted SBC): SIPVicious (svmap,
 * svwar, svcrack) learns nothing it should not, a password guesser is slowed then banned until
 * the ban expires, and a SIPp INVITE flood from one source leaves another source's calls alone.
 * The long flood measurement is `npm run bench -- sip-flood`.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { tempDir } from '../../helpers/config.js';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, scenario, SIPP_CALLER_BYE, type InboundSetup, type TrunkSpec } from '../../helpers/inbound.js';
import { ask, guessPassword, type Answer } from '../../helpers/sip-ask.js';
import { TcpPeer, UdpPeer } from '../../helpers/sip-peer.js';
import { runSipp, sippMissing } from '../../helpers/sipp.js';
import { sleep } from '../../helpers/timing.js';

const SCANNER = '127.0.0.2';
const CARRIER = '127.0.0.3';
const DIGEST: TrunkSpec = { allowlist: [CARRIER], username: 'carrier-a', password: 'Very-Secret-42' };

const missing = sippMissing() ?? (spawnSync('svwar', ['--version']).error ? 'sipvicious (svmap, svwar, svcrack) not installed' : null);
// Serial: each test starts an engine and times answers; several at once on 2 cores blur the tarpit.
const scanTest = missing ? test.skip : test.serial;
if (missing) test('abuse tests are skipped: ' + missing, (t) => t.pass());

async function setup(t: ExecutionContext, sip: Record<string, unknown> = {}, trunk: TrunkSpec = DIGEST): Promise<InboundSetup> {
  const s = await inboundSetup({ sip }, trunk, '1001');
  t.teardown(() => s.close());
  return s;
}

async function scannerPeer(t: ExecutionContext): Promise<UdpPeer> {
  const peer = await UdpPeer.open(SCANNER);
  t.teardown(() => peer.close());
  return peer;
}

/** The `abuse` counters of the `sip` health component, through the REST API. */
async function abuseCounters(s: InboundSetup): Promise<Record<string, number>> {
  const h = await request<{ components: { sip: { abuse: Record<string, number> } } }>(s.base, 'GET', '/api/v1/health');
  return h.body.components.sip.abuse;
}

/** A SIPVicious tool's whole output (they print to stderr and stdout). */
function sipvicious(tool: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** What tells two answers apart: status, reason, header names, and each header's value but the per-request ones. */
function shape(a: Answer | null): string {
  if (!a) return 'no answer';
  const perRequest = /^(via|from|to|call-id|cseq)$/i;
  const headers = a.res.headers.fields().map(({ name, value }) => (perRequest.test(name) ? name : `${name}: ${value.replace(/nonce="[^"]*"/, 'nonce=…')}`));
  return `${a.res.status} ${a.res.reason} | ${headers.join(' | ')}`;
}

scanTest('svmap sees a SIP server and no more: no Server or User-Agent header anywhere', async (t) => {
  const s = await setup(t);
  const out = await sipvicious('svmap', ['-b', SCANNER, '-p', String(s.sipPort), '127.0.0.1']);
  t.log(out.split('\n').filter((l) => l.startsWith('|')).join('\n'));
  t.regex(out, new RegExp(`\\| 127\\.0\\.0\\.1:${s.sipPort} +\\| unknown +\\|`));
  const peer = await scannerPeer(t);
  const target = { host: '127.0.0.1', port: s.sipPort };
  for (const method of ['OPTIONS', 'INVITE', 'REGISTER']) {
    const a = await ask(peer, target, method, '1001');
    t.truthy(a, `${method} answered`);
    t.false(a!.res.headers.has('Server') || a!.res.headers.has('User-Agent') || a!.res.headers.has('Warning'), shape(a));
  }
});

const ENUMERATION: [title: string, trunk: TrunkSpec, expected: string][] = [
  ['a digest trunk exists: every INVITE is challenged alike', DIGEST, '401'],
  ['no trunk has credentials: every INVITE is refused alike', { allowlist: [CARRIER] }, '403'],
];
for (const [title, trunk, expected] of ENUMERATION) {
  scanTest(`svwar cannot enumerate numbers (INVITE, REGISTER, OPTIONS) when ${title}`, async (t) => {
    // The tarpit is shortened: refused INVITEs count as failures, and this test is about the answers.
    const s = await setup(t, { abuseTarpitMs: 20, abuseTarpitMaxMs: 50, abuseBanAfter: 1000 }, trunk);
    const extra = await request(s.base, 'POST', '/api/v1/phone-numbers', { headers: s.tenant.headers, body: { number: '1003', agentId: s.agentId, trunkId: s.trunkId } });
    t.is(extra.status, 201);
    const peer = await scannerPeer(t);
    const target = { host: '127.0.0.1', port: s.sipPort };
    const extensions = ['1000', '1001', '1002', '1003', '1004', '+15550001111'];
    for (const method of ['INVITE', 'REGISTER', 'OPTIONS']) {
      const shapes = new Set<string>();
      for (const ext of extensions) shapes.add(shape(await ask(peer, target, method, ext)));
      t.is(shapes.size, 1, `${method}: ${[...shapes].join(' ≠ ')}`);
      if (method === 'INVITE') t.true([...shapes][0]!.startsWith(expected), [...shapes][0]);
      const out = await sipvicious('svwar', ['-b', SCANNER, '-p', String(s.sipPort), '-m', method, '-e', '1000-1005', '127.0.0.1']);
      const table = out.split('\n').filter((l) => /^\| *\d/.test(l));
      t.log(`svwar -m ${method}: ${table.length ? table.join(' ') : 'no extension table'}; ${out.split('\n').find((l) => /ERROR|found nothing/.test(l)) ?? ''}`);
      t.false(table.some((l) => /\| *100[13] /.test(l)), `svwar -m ${method} found a real number:\n${out}`);
    }
  });
}

scanTest('svcrack cannot even start: REGISTER is never challenged, so no password is tried', async (t) => {
  const s = await setup(t);
  const dict = path.join(tempDir('as-dict-'), 'words.txt');
  fs.writeFileSync(dict, 'guess\nVery-Secret-42\n');
  const out = await sipvicious('svcrack', ['-b', SCANNER, '-p', String(s.sipPort), '-u', 'carrier-a', '-e', '1001', '-d', dict, '127.0.0.1']);
  t.log(out.split('\n').filter((l) => /ERROR|WARNING|found|\|/.test(l)).join('\n'));
  t.regex(out, /found nothing/);
  t.notRegex(out, /Very-Secret-42/);
});

// The thresholds shortened so the whole story fits in seconds: tarpit from the 3rd failure
// (200, 400, 800 ms), ban at the 6th, for 3 s.
const FAST = { abuseTarpitAfter: 3, abuseTarpitMs: 200, abuseTarpitMaxMs: 800, abuseBanAfter: 6, abuseBanMs: 3000 };

for (const server of ['embedded', 'thread'] as const) {
  scanTest(`${server}: a password guesser is slowed, then banned (UDP dropped, TCP refused), the carrier unaffected; the ban expires`, async (t) => {
    const s = await setup(t, { ...FAST, server });
    const peer = await scannerPeer(t);
    const target = { host: '127.0.0.1', port: s.sipPort };
    const times: number[] = [];
    for (let i = 1; i <= 6; i++) {
      const a = await guessPassword(peer, target, '1001', 'carrier-a', `guess-${i}`);
      t.is(a?.res.status, 403, `guess ${i}: ${shape(a)}`);
      times.push(a!.ms);
    }
    t.log(`answer times of guesses 1-6: ${times.map((m) => m.toFixed(0)).join(', ')} ms`);
    // Guesses 1-2 are answered at once; 3-6 are held 200, 400, 800, 800 ms.
    for (const [i, held] of [0, 0, 200, 400, 800, 800].entries()) {
      t.true(times[i]! >= held && times[i]! < held + 400, `guess ${i + 1}: ${times[i]!.toFixed(0)} ms, expected ${held} ms held`);
    }
    const banned = performance.now();
    // Banned: even the right password gets no answer at all, over UDP or TCP.
    t.is(await guessPassword(peer, target, '1001', 'carrier-a', 'Very-Secret-42', 700), null);
    const tcp = await TcpPeer.connect(s.sipPort, '127.0.0.1', SCANNER).catch(() => null);
    if (tcp) await Promise.race([tcp.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('banned TCP connection kept open')), 2000))]);
    t.pass('banned TCP connection closed');
    // The carrier's calls go on.
    const carrier = await runSipp({ transport: 'u1', target: s.sipTarget, scenario: { builtin: 'uac' }, calls: 2, localIp: CARRIER, args: ['-s', '1001', '-d', '100'] });
    t.is(carrier.code, 0, carrier.output + carrier.errors);
    const during = await abuseCounters(s);
    t.like(during, { failedAuths: 6, responsesTarpitted: 4, bansTotal: 1, bansActive: 1 });
    t.true(during.datagramsDroppedBanned! >= 1 && during.connectionsRefusedBanned! + (tcp ? 0 : 1) >= 1, JSON.stringify(during));
    // The ban expires: the next INVITE is challenged again, and the right password gets in.
    await new Promise((r) => setTimeout(r, Math.max(0, banned + FAST.abuseBanMs + 100 - performance.now())));
    const after = await guessPassword(peer, target, '1001', 'carrier-a', 'Very-Secret-42');
    t.is(after?.res.status, 200, shape(after));
    t.like(await abuseCounters(s), { bansActive: 0, bansTotal: 1 });
  });
}

/** `Successful call` and `Failed call` totals from SIPp's final statistics screen. */
function sippTotals(output: string): { ok: number; failed: number } {
  const n = (label: string) => Number(new RegExp(`${label}\\s*\\|\\s*\\d+\\s*\\|\\s*(\\d+)`).exec(output)?.[1] ?? NaN);
  return { ok: n('Successful call'), failed: n('Failed call') };
}

scanTest('an INVITE flood from one source (500 calls/s) leaves another source\'s calls alone: ≥ 99 % succeed', async (t) => {
  const s = await setup(t, {}, { allowlist: [CARRIER] });
  const carrierCalls = 40;
  const flood = runSipp({
    transport: 'u1', target: s.sipTarget, scenario: { builtin: 'uac' }, calls: 2000, localIp: SCANNER, timeoutSeconds: 20,
    args: ['-s', '1001', '-r', '500', '-l', '5000', '-recv_timeout', '2000'],
  });
  await new Promise((r) => setTimeout(r, 300));
  const carrier = await runSipp({
    transport: 'u1', target: s.sipTarget, scenario: { builtin: 'uac' }, calls: carrierCalls, localIp: CARRIER, timeoutSeconds: 30,
    args: ['-s', '1001', '-r', '10', '-d', '200'],
  });
  const flooded = await flood;
  const legit = sippTotals(carrier.output);
  const floodTotals = sippTotals(flooded.output);
  const counters = await abuseCounters(s);
  t.log(`carrier: ${legit.ok}/${carrierCalls} calls succeeded (${((100 * legit.ok) / carrierCalls).toFixed(1)} %) during a flood of ${floodTotals.ok + floodTotals.failed} INVITEs at 500/s from ${SCANNER}`);
  t.log(`counters: ${JSON.stringify(counters)}`);
  t.true(legit.ok / carrierCalls >= 0.99, carrier.output);
  t.is(floodTotals.ok, 0);
  t.true(counters.bansTotal! >= 1 && counters.datagramsDroppedBanned! > 500, JSON.stringify(counters));
  // Nothing of the flood is left behind, and the carrier's calls all ended.
  await waitFor(() => s.app.engine.calls.activeCalls === 0, 10_000);
});

scanTest('a source past its request rate is dropped, but its live call goes on: in-dialog requests have their own budget', async (t) => {
  const s = await setup(t, { abuseRequestRate: 20, abuseRequestBurst: 20 }, { allowlist: [CARRIER] });
  const call = runSipp({ transport: 'u1', target: s.sipTarget, scenario: { builtin: 'uac' }, calls: 1, localIp: CARRIER, args: ['-s', '1001', '-d', '2500'] });
  await waitFor(() => s.app.engine.calls.activeCalls === 1, 5000);
  // The carrier's address floods OPTIONS while its call is up.
  const peer = await UdpPeer.open(CARRIER);
  t.teardown(() => peer.close());
  const sent = 300;
  // In batches of 30 every 50 ms: all at once would overflow the socket's receive buffer first.
  const pending: Promise<Answer | null>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < sent; i += 30) {
    for (let j = 0; j < 30; j++) pending.push(ask(peer, { host: '127.0.0.1', port: s.sipPort }, 'OPTIONS', 'ping', { timeoutMs: 1500 }));
    await sleep(50);
  }
  // The bucket: 20 at once, then 20 a second while the flood lasts (plus half a second: the
  // engine reads the last datagrams a little after they were sent).
  const allowed = 20 + Math.ceil((20 * (performance.now() - t0 + 500)) / 1000);
  const answers = await Promise.all(pending);
  const answered = answers.filter((a) => a?.res.status === 200).length;
  const r = await call;
  const counters = await abuseCounters(s);
  t.log(`${answered}/${sent} OPTIONS answered (burst 20, 20/s: at most ${allowed}); the call's BYE answered: ${r.code === 0}; ${JSON.stringify(counters)}`);
  t.true(answered >= 20 && answered <= allowed, `${answered} answered, at most ${allowed} allowed`);
  t.is(r.code, 0, r.output + r.errors);
  t.like(counters, { dialogRequestsRateLimited: 0, bansTotal: 0 });
  t.true(counters.requestsRateLimited! >= sent - allowed, `${counters.requestsRateLimited} rate limited`);
});

scanTest('memory stays bounded under a many-source flood: sources and bans beyond abuseMaxSources are forgotten oldest first', async (t) => {
  const s = await setup(t, { abuseMaxSources: 100, abuseBanAfter: 1 }, { allowlist: [CARRIER] });
  const target = { host: '127.0.0.1', port: s.sipPort };
  // 250 sources (127.1.0.1 ... 127.1.0.250): each asks OPTIONS (tracked), then sends one INVITE (403: banned at once).
  const sources = Array.from({ length: 250 }, (_, i) => `127.1.${Math.floor((i + 1) / 256)}.${(i + 1) % 256}`);
  const peers = await Promise.all(sources.map((a) => UdpPeer.open(a)));
  t.teardown(() => Promise.all(peers.map((p) => p.close())));
  let answered = 0;
  for (let i = 0; i < peers.length; i += 25) answered += (await Promise.all(peers.slice(i, i + 25).map((p) => ask(p, target, 'OPTIONS', 'ping')))).filter((a) => a?.res.status === 200).length;
  t.is(answered, 250);
  const tracked = await abuseCounters(s);
  t.like(tracked, { sourcesTracked: 100, sourcesEvicted: 150 });
  for (let i = 0; i < peers.length; i += 25) await Promise.all(peers.slice(i, i + 25).map((p) => ask(p, target, 'INVITE', '1001')));
  const banned = await abuseCounters(s);
  t.log(`after OPTIONS: ${JSON.stringify(tracked)}; after INVITEs: ${JSON.stringify(banned)}`);
  t.like(banned, { bansTotal: 250, bansActive: 100 });
  t.true(banned.sourcesTracked! <= 100);
  // The latest bans hold, the oldest were forgotten.
  t.is(await ask(peers.at(-1)!, target, 'OPTIONS', 'ping', { timeoutMs: 500 }), null);
  t.is((await ask(peers[0]!, target, 'OPTIONS', 'ping'))?.res.status, 200);
});


scanTest('a source piling up digest challenges without authenticating is banned; a digest carrier that authenticates every call is not', async (t) => {
  const s = await setup(t, { abuseChallengeBanAfter: 5 });
  // The carrier, from an address in no allowlist, authenticates each of its 8 calls after the challenge.
  const digestCall = scenario('inbound-digest.xml', { username: 'carrier-a', password: 'Very-Secret-42', finalStatus: '200" rrs="true', afterAnswer: SIPP_CALLER_BYE });
  const carrier = await runSipp({ transport: 'u1', target: s.sipTarget, scenario: digestCall, calls: 8, localIp: '127.0.0.4', args: ['-s', '1001'] });
  t.is(carrier.code, 0, carrier.output + carrier.errors);
  // The scanner never answers a challenge: the 5th bans it.
  const peer = await scannerPeer(t);
  const target = { host: '127.0.0.1', port: s.sipPort };
  const statuses: (number | null)[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await ask(peer, target, 'INVITE', `10${i}`, { timeoutMs: 700 }))?.res.status ?? null);
  const counters = await abuseCounters(s);
  t.log(`scanner's answers: ${statuses.join(', ')}; ${JSON.stringify(counters)}`);
  t.deepEqual(statuses, [401, 401, 401, 401, 401, null]);
  t.like(counters, { challengesSent: 13, failedAuths: 0, bansTotal: 1, bansActive: 1 });
});
