/**
 * Legitimate calls under an INVITE flood: SIPp floods the engine from 127.0.0.2 (an address in no
 * trunk's allowlist, fire and forget, a new Call-ID each INVITE) while a carrier on 127.0.0.1
 * (allowlisted) places real calls (INVITE -> 200 -> ACK -> RTP for `hold` ms -> BYE) at a steady
 * rate. The peer is the same engine with the per-source protection off (`AS_SIP_ABUSE_PROTECTION
 * =false`), in the same run. Reported per engine: the carrier's successful calls (the goal is
 * ≥ 99 %), its INVITE -> 200 p50/p99, the calls recorded with media both ways, CPU of the
 * engine's process tree, and the protection's counters from health.
 *
 * `npm run bench -- sip-flood [flood=500] [seconds=30] [legit=20] [hold=1000] [answer=403|401] [only=protected|unprotected] [sip=embedded|thread]`
 * answer: what the flood's INVITEs get. 403 (no trunk has credentials): each is a failed
 * authentication, and the flooder is banned after `AS_SIP_ABUSE_BAN_AFTER`. 401 (a digest trunk
 * exists): each is challenged, which is no failure, so only the per-source request rate holds
 * the flood back.
 */
import path from 'node:path';
import { configSchema } from '../config/schema.js';
import { keyValues } from './lib/args.js';
import { fmt, table } from './lib/stats.js';
import { engineErrors, seedDigestTrunk, seedEchoNumber, startEngine, tallyCalls } from './lib/engine.js';
import { CpuMeter, loadAverage, processTree } from './lib/procfs.js';
import { quantile, runSippStep } from './lib/sipp.js';

const pcap = '/usr/share/sip-tester/g711a.pcap';
const FLOODER = '127.0.0.2';

/** startEngine lifts the per-source request limit for the other benchmarks; this one runs with the defaults. */
function defaultLimits(): Record<string, string> {
  const sip = configSchema.parse({}).sip;
  return { AS_SIP_ABUSE_REQUEST_RATE: String(sip.abuseRequestRate), AS_SIP_ABUSE_REQUEST_BURST: String(sip.abuseRequestBurst) };
}

export async function run(argv: string[]): Promise<void> {
  const a = keyValues(argv);
  const flood = Number(a.flood ?? 500);
  const seconds = Number(a.seconds ?? 30);
  const legit = Number(a.legit ?? 20);
  const holdMs = Number(a.hold ?? 1000);
  const sip = a.sip ?? 'embedded';
  const answer = a.answer ?? '403';
  const modes = (a.only ? [a.only] : ['protected', 'unprotected']) as ('protected' | 'unprotected')[];
  process.stdout.write(`sip-flood: ${flood} INVITE/s from ${FLOODER} for ${seconds} s, carrier ${legit} calls/s from 127.0.0.1, hold ${holdMs} ms, flood answered ${answer}, sip=${sip}; load ${loadAverage()}\n`);
  const rows: Record<string, string | number>[] = [];
  for (const mode of modes) {
    const engine = await startEngine({ env: { AS_SIP_SERVER: sip, AS_SIP_ABUSE_PROTECTION: String(mode === 'protected'), ...defaultLimits() } });
    try {
      await seedEchoNumber(engine);
      if (answer === '401') await seedDigestTrunk(engine);
      const dir = path.join(engine.dir, 'sipp');
      const meter = new CpuMeter(processTree(engine.pid));
      const flooding = runSippStep({ target: `127.0.0.1:${engine.sipPort}`, scenario: 'invite-flood.xml', rate: flood, calls: flood * seconds, holdMs: 0, dir: path.join(dir, 'flood'), localIp: FLOODER });
      // The carrier starts once the flood is in full swing and stops before it ends.
      await new Promise((r) => setTimeout(r, 1000));
      const carrierCalls = Math.max(1, legit * (seconds - 3));
      const carrier = await runSippStep({ target: `127.0.0.1:${engine.sipPort}`, scenario: 'uac-cps.xml', rate: legit, calls: carrierCalls, holdMs, dir: path.join(dir, 'carrier'), keys: { pcap } });
      const flooded = await flooding;
      const cpuSeconds = meter.lap().total;
      await new Promise((r) => setTimeout(r, 2000));
      const { tally } = tallyCalls(engine, 0);
      const health = (await (await fetch(`${engine.httpUrl}/api/v1/health`)).json()) as { components: { sip: { abuse?: Record<string, number> } } };
      const abuse = health.components.sip.abuse;
      rows.push({
        engine: mode,
        'flood sent': flooded.created,
        'carrier ok': `${carrier.successful}/${carrierCalls}`,
        'ok %': fmt((100 * carrier.successful) / carrierCalls, 1),
        'p50 ms': fmt(quantile(carrier.inviteTo200Ms, 0.5), 1),
        'p99 ms': fmt(quantile(carrier.inviteTo200Ms, 0.99), 1),
        'with media': tally.withMedia,
        'cpu s': fmt(cpuSeconds, 1),
        errors: engineErrors(engine).count,
      });
      if (abuse) process.stdout.write(`${mode} counters: ${JSON.stringify(abuse)}\n`);
    } finally {
      await engine.stop();
    }
  }
  table(rows);
  const [p, u] = [rows.find((r) => r.engine === 'protected'), rows.find((r) => r.engine === 'unprotected')];
  if (p && u) process.stdout.write(`carrier success: ${p['ok %']} % protected vs ${u['ok %']} % unprotected\n`);
}
