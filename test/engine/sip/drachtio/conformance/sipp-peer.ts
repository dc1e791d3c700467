/**
 * SIPp peers for the conformance harness: the scenarios of drachtio-srf's integration suite
 * (node_modules/drachtio-srf/test/scenarios), run on loopback instead of in docker containers.
 *
 * drachtio-srf's `test/sipp.js` runs `sipp -sf <file> -m 1 -sleep 250ms -nostdin -cid_str
 * %u-%p@%s-<n> drachtio-sut` for a UAC, and each UAS container runs `sipp -sf <file>` under its
 * docker host name. Here every SIPp listens on 127.0.0.1 with its own ephemeral port (`-p`), and
 * the UAC targets the SUT's SIP port. A scenario is used from node_modules as it ships. It is
 * copied to a temp dir and rewritten in two cases only:
 * - an address inside the XML must change: uas-302.xml names the docker address 172.29.0.13 in
 *   its Contact (the flow passes `rewrite`);
 * - SIPp 3.6.1 (Debian's) refuses the XML: uas-reinvite.xml, uas-reinvite-with-auth.xml and
 *   uas-update-with-sdp.xml have `regexp="<sip:(.*)>"`, a raw `>` inside an attribute that its
 *   parser takes for the end of the tag ("Invalid XML in scenario"). The brackets are written as
 *   `&lt;` and `&gt;`, which SIPp decodes back: the regexp is unchanged.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { tempDir } from '../../../../helpers/config.js';

/** drachtio-srf's scenario folder, as installed. */
export const SRF_SCENARIOS = path.join(path.dirname(createRequire(import.meta.url).resolve('drachtio-srf/package.json')), 'test', 'scenarios');

export interface SippOutcome {
  code: number | null;
  /** `-> INVITE`, `<- 200 INVITE`, ... as SIPp saw them. */
  ladder: string[];
  output: string;
  errors: string;
}

export interface SippPeerOptions {
  /** A file in drachtio-srf's scenario folder, an absolute path, or a SIPp built-in (`-sn`). */
  scenario: string | { builtin: string };
  /** Literal replacements applied to a temp copy of the scenario (the only change ever made). */
  rewrite?: readonly (readonly [string, string])[];
  /** Host:port to call (UAC), or nothing (UAS). */
  target?: string;
  transport?: 'u1' | 't1';
  args?: readonly string[];
  /** SIPp's own call timeout: a peer that waits for something that never comes fails. */
  timeoutSeconds?: number;
  /**
   * A UAC as drachtio-srf's test/sipp.js starts it (`-sleep 250ms -cid_str %u-%p@%s-<n>`);
   * default true. False leaves SIPp's defaults, as in the recorded traces.
   */
  srfStyle?: boolean;
}

let callIdSeq = 1;

/** One SIPp process on 127.0.0.1. */
export class SippPeer {
  readonly done: Promise<SippOutcome>;
  readonly #child: ChildProcess;
  readonly #messages: string;
  #exited = false;

  private constructor(
    readonly port: number,
    child: ChildProcess,
    messages: string,
    errors: string,
  ) {
    this.#child = child;
    this.#messages = messages;
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    this.done = new Promise((resolve) => {
      child.on('exit', (code) => {
        this.#exited = true;
        const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
        resolve({ code, ladder: ladder(read(messages)), output, errors: read(errors) });
      });
    });
  }

  /** Starts SIPp; a UAS resolves once its UDP port is bound. */
  static async start(opts: SippPeerOptions): Promise<SippPeer> {
    const dir = tempDir('as-conf-sipp-');
    const port = await freeSipPort();
    const scenario = typeof opts.scenario === 'string' ? ['-sf', scenarioFile(opts.scenario, dir, opts.rewrite)] : ['-sn', opts.scenario.builtin];
    const messages = path.join(dir, 'messages.log');
    const errors = path.join(dir, 'errors.log');
    const uac = opts.target !== undefined;
    const args = [
      ...(uac ? [opts.target!] : []),
      ...scenario,
      '-m', '1',
      '-t', opts.transport ?? 'u1',
      '-i', '127.0.0.1',
      '-p', String(port),
      '-nostdin',
      // As drachtio-srf's test/sipp.js: a short sleep before the UAC starts, and its Call-ID form.
      ...(uac && opts.srfStyle !== false ? ['-sleep', '250ms', '-cid_str', `%u-%p@%s-${callIdSeq++}`] : []),
      '-timeout', `${opts.timeoutSeconds ?? 60}s`,
      '-timeout_error',
      '-trace_msg', '-message_file', messages,
      '-trace_err', '-error_file', errors,
      ...(opts.args ?? []),
    ];
    const child = spawn('sipp', args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
    const peer = new SippPeer(port, child, messages, errors);
    if (!uac && (opts.transport ?? 'u1') === 'u1') await peer.#bound();
    return peer;
  }

  /** The ladder so far (SIPp writes its message trace as it goes). */
  ladderNow(): string[] {
    return ladder(this.traceNow());
  }

  /** SIPp's message trace so far, as text (every message in full). */
  traceNow(): string {
    return fs.existsSync(this.#messages) ? fs.readFileSync(this.#messages, 'utf8') : '';
  }

  /** Waits until the ladder so far holds `entry` (e.g. `<- PRACK`) `times` times; rejects after `ms`. */
  async waitFor(entry: string, times = 1, ms = 10_000): Promise<string[]> {
    const until = Date.now() + ms;
    for (;;) {
      const now = this.ladderNow();
      if (now.filter((l) => l === entry).length >= times) return now;
      if (Date.now() > until || this.#exited) throw new Error(`SIPp never logged '${entry}': ${now.join(' | ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** This peer as a SIP URI (`sip:user@127.0.0.1:port`, or without user). */
  uri(user?: string): string {
    return `sip:${user ? `${user}@` : ''}127.0.0.1:${this.port}`;
  }

  get hostport(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Ends the process (by its own pid) if still running, and waits for it. */
  async stop(): Promise<SippOutcome> {
    if (!this.#exited) this.#child.kill('SIGKILL');
    return this.done;
  }

  /** Waits until SIPp holds its UDP port (listed in /proc/net/udp: no probe that could race it). */
  async #bound(): Promise<void> {
    for (let i = 0; i < 200 && !this.#exited; i++) {
      if (udpPortBound(this.port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/**
 * A port free for UDP (chosen by the kernel) and for TCP. Other processes on the machine run SIPp
 * and SIP stacks too: a TCP-only check could hand out a port some UDP socket already holds.
 */
async function freeSipPort(): Promise<number> {
  for (;;) {
    const udp = dgram.createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, '127.0.0.1', () => resolve(udp.address().port));
    });
    const tcpFree = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (tcpFree) return port;
  }
}

/** The attribute SIPp 3.6.1 cannot parse, and the same regexp written so that it can. */
const RAW_BRACKETS: readonly [string, string] = ['regexp="<sip:(.*)>"', 'regexp="&lt;sip:(.*)&gt;"'];

function scenarioFile(name: string, dir: string, rewrite: SippPeerOptions['rewrite'] = []): string {
  const source = path.isAbsolute(name) ? name : path.join(SRF_SCENARIOS, name);
  let xml = fs.readFileSync(source, 'latin1');
  const edits = xml.includes(RAW_BRACKETS[0]) ? [...rewrite, RAW_BRACKETS] : rewrite;
  if (!edits.length) return source;
  for (const [from, to] of edits) {
    if (!xml.includes(from)) throw new Error(`${name}: nothing to rewrite for ${from}`);
    xml = xml.split(from).join(to);
  }
  const copy = path.join(dir, path.basename(source));
  fs.writeFileSync(copy, xml, 'latin1');
  return copy;
}

function udpPortBound(port: number): boolean {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return fs.readFileSync('/proc/net/udp', 'utf8').split('\n').some((l) => l.trim().split(/\s+/)[1] === local);
}

/**
 * `-> INVITE`, `<- 200 INVITE` from SIPp's -trace_msg file; a message SIPp dropped on purpose
 * (`lost=`) is marked ` (lost)`. SIPp glues "UDP message lost (recv)." to the next separator.
 */
export function ladder(log: string): string[] {
  const out: string[] = [];
  const blocks = log.replace(/\.-{10,}/g, '.\n-----').split(/^-{5,}.*$/m);
  for (const b of blocks) {
    const head = /(?:UDP|TCP|TLS) message (sent|received)/.exec(b);
    if (!head) continue;
    const lines = b.split(/\r?\n/).map((l) => l.trim());
    const start = lines.find((l) => /^(SIP\/2\.0 \d{3}|[A-Z]+ \S+ SIP\/2\.0)/.test(l));
    if (!start) continue;
    const cseq = lines.find((l) => /^CSeq:/i.test(l))?.split(/\s+/)[2] ?? '';
    const arrow = head[1] === 'sent' ? '->' : '<-';
    const lost = /message lost/.test(b) ? ' (lost)' : '';
    out.push(`${arrow} ${start.startsWith('SIP/2.0') ? `${start.split(' ')[1]} ${cseq}` : start.split(' ')[0]}${lost}`);
  }
  return out;
}
