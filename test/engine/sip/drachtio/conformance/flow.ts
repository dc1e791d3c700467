/**
 * The conformance table's shape and its runner. A flow is one assertion group of drachtio-srf's
 * integration suite (node_modules/drachtio-srf/test/*.js): the SIPp scenario(s) it runs, the app
 * behaviour ported from its script, and what it asserts. Each flow gets a fresh SUT, its own
 * SIPp peers on ephemeral ports, and its own apps; all are torn down after it.
 */
import test, { type ExecutionContext } from 'ava';
import { sippMissing } from '../../../../helpers/sipp.js';
import { SippPeer, type SippOutcome, type SippPeerOptions } from './sipp-peer.js';
import type { SrfApp } from './srf-app.js';
import { Sut, type SutOptions } from './sut.js';

export interface FlowContext {
  t: ExecutionContext;
  sut: Sut;
  /** Starts a SIPp UAS standing in for a docker testbed container (`sipp-uas`, ...). */
  uas(scenario: string, opts?: Omit<SippPeerOptions, 'scenario' | 'target'>): Promise<SippPeer>;
  /** Runs a SIPp UAC scenario against the SUT (drachtio-srf's `sippUac`) and waits for its exit. */
  uac(scenario: string, opts?: Omit<SippPeerOptions, 'scenario' | 'target'>): Promise<SippOutcome>;
  /** A new drachtio-srf app connected to the SUT. */
  connect(tags?: string | string[]): Promise<SrfApp>;
  /** Fails the flow with SIPp's exit code, ladder and output unless it exited 0. */
  sippOk(outcome: SippOutcome, what?: string): void;
}

export interface Flow {
  /** The original assertion message(s). */
  name: string;
  /** The file in drachtio-srf/test it comes from. */
  source: string;
  sut?: SutOptions;
  run(ctx: FlowContext): Promise<void>;
}

export interface NotApplicable {
  name: string;
  source: string;
  /** Why it cannot run against the embedded server here. */
  reason: string;
}

export type FlowEntry = Flow | NotApplicable;

const missing = sippMissing();

/** Registers one serial ava test per flow; not-applicable flows are skipped with their reason in the title. */
export function registerFlows(entries: readonly FlowEntry[]): void {
  if (missing) test(`conformance flows skipped: ${missing}`, (t) => t.pass());
  for (const entry of entries) {
    const title = `${entry.source}: ${entry.name}`;
    if ('reason' in entry) {
      test.skip(`${title} [not applicable: ${entry.reason}]`, () => {});
      continue;
    }
    (missing ? test.skip : test.serial)(title, async (t) => runFlow(t, entry));
  }
}

async function runFlow(t: ExecutionContext, flow: Flow): Promise<void> {
  t.timeout(110_000);
  const sut = await Sut.start(flow.sut);
  const peers: SippPeer[] = [];
  t.teardown(async () => {
    const outcomes = await Promise.all(peers.map((p) => p.stop()));
    if (!t.passed) {
      for (const [i, o] of outcomes.entries()) console.error(`peer ${i} (${peers[i]!.port}): ${o.ladder.join(' | ')}\n${o.output.slice(-600)}`);
    }
    await sut.close();
  });
  const ctx: FlowContext = {
    t,
    sut,
    uas: async (scenario, opts = {}) => {
      const peer = await SippPeer.start({ scenario, ...opts });
      peers.push(peer);
      return peer;
    },
    uac: async (scenario, opts = {}) => {
      const peer = await SippPeer.start({ scenario, target: sut.sipHostport, ...opts });
      peers.push(peer);
      return peer.done;
    },
    connect: (tags) => sut.connect(tags),
    sippOk: (o, what = 'sipp') => {
      t.is(o.code, 0, `${what} exited ${o.code}\nladder: ${o.ladder.join(' | ')}\n${o.output.slice(-1200)}\n${o.errors.slice(-1200)}`);
    },
  };
  await flow.run(ctx);
}

/**
 * Resolves with the first value an emitter event carries, or rejects after `ms`. The promise is
 * marked handled at once: a flow that fails earlier must not leave an unhandled rejection behind.
 */
export function nextEvent<T>(emitter: { once(event: string, fn: (v: T) => void): unknown }, event: string, ms = 20_000): Promise<T> {
  const p = new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms);
    timer.unref();
    emitter.once(event, (v: T) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
  p.catch(() => undefined);
  return p;
}

/** Marks a promise handled now (it is awaited later, possibly after the flow already failed). */
export function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** `p`, or a rejection naming `what` after `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
