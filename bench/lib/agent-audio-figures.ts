/**
 * The agent-audio benchmark's figures from one run: what the phones saw (`Output`) matched with
 * what the engine's hook saw (`AudioHook`).
 */
import type { Output } from '../peers/agent-phones.js';
import type { AudioHook } from './audio-hook.js';

export interface Barge {
  /** The agent was speaking when the caller started (a packet in the 60 ms before). */
  valid: boolean;
  /**
   * First speech frame sent -> the agent's stream went silent: the slot of the first packet that
   * did not come (the last packet received + 20 ms).
   */
  silentMs: number;
  /** First speech frame sent -> the last loud agent packet received (0 when none came after). */
  loudMs: number;
  /** The agent spoke again later (it should not: a greeting-only agent listens after a barge-in). */
  resumed: boolean;
}

export interface Figures {
  up: number;
  failed: number;
  /** Phone send -> the engine's frame event, per tagged frame, ms. */
  inbound: number[];
  inboundLost: number;
  /** The agent-audio thread's send to mediasoup -> arrival at the phone, per packet, ms. */
  outbound: number[];
  outboundUnmatched: number;
  floorIn: number[];
  floorOut: number[];
  /** Inter-arrival of consecutive agent packets within a talkspurt, ms. */
  gaps: number[];
  /** The same at the source: between consecutive packets as the agent-audio thread sent them, ms. */
  sentGaps: number[];
  barge: Barge[];
}

/** The agent's packet interval, ms. */
const frameMs = 20;

/** How far back (ms) a received packet's sending may lie, when finding each call's sequence offset. */
const matchWindowMs = 200;

export function analyse(o: Output, hook: AudioHook): Figures {
  const inWindow = (at: number) => at >= o.windowFrom && at <= o.windowTo;
  const f: Figures = { up: o.calls.filter((c) => c.up).length, failed: 0, inbound: [], inboundLost: 0, outbound: [], outboundUnmatched: 0, floorIn: [], floorOut: [], gaps: [], sentGaps: [], barge: [] };
  for (const c of o.calls) {
    for (const [tag, at] of c.sent) {
      if (!inWindow(at)) continue;
      const arrived = hook.arrived.get(tag);
      if (arrived === undefined) f.inboundLost++;
      else f.inbound.push(arrived - at);
    }
    const seam = hook.seams.find((s) => s.call === c.index);
    const heard = c.heard.filter(([, at]) => inWindow(at));
    if (seam) {
      const sent = seam.sent.filter(([, at]) => inWindow(at));
      for (let i = 1; i < sent.length; i++) if (sent[i]![0] === ((sent[i - 1]![0] + 1) & 0xffff)) f.sentGaps.push(sent[i]![1] - sent[i - 1]![1]);
      const off = sequenceOffset(seam.sent, heard);
      const sentBySeq = new Map(seam.sent.map(([seq, at]) => [seq, at]));
      for (const [seq, at] of heard) {
        const s = off === null ? undefined : sentBySeq.get((seq - off) & 0xffff);
        if (s === undefined || s > at) f.outboundUnmatched++;
        else f.outbound.push(at - s);
      }
    } else f.outboundUnmatched += heard.length;
    for (let i = 1; i < heard.length; i++) {
      const [seq, at, marker] = heard[i]!;
      const [pseq, pat] = heard[i - 1]!;
      if (seq === ((pseq + 1) & 0xffff) && !marker) f.gaps.push(at - pat);
    }
    if (c.bargeAt !== null) f.barge.push(barge(c.bargeAt, c.heard));
  }
  for (const [sent, echoIn, echoOut, back] of o.floor) {
    if (!inWindow(sent)) continue;
    f.floorIn.push(echoIn - sent);
    f.floorOut.push(back - echoOut);
  }
  return f;
}

/**
 * mediasoup rewrites the sequence numbers of what it forwards by a constant offset per stream.
 * Every received packet votes for the offsets that pair it with a packet sent up to
 * `matchWindowMs` before; the true offset gets a vote from (nearly) every packet, but so do the
 * ones pairing each packet with an earlier sending. Of those, the true one is the pairing with
 * the latest sendings: the smallest offset among the most voted.
 */
function sequenceOffset(sent: [number, number][], heard: [number, number, ...unknown[]][]): number | null {
  const votes = new Map<number, number>();
  let j = 0;
  for (const [seq, at] of heard) {
    while (j < sent.length && sent[j]![1] < at - matchWindowMs) j++;
    for (let k = j; k < sent.length && sent[k]![1] <= at; k++) {
      const off = (seq - sent[k]![0]) & 0xffff;
      votes.set(off, (votes.get(off) ?? 0) + 1);
    }
  }
  const most = Math.max(0, ...votes.values());
  // Offsets near 0xffff are small negative ones: compare as signed 16-bit distances.
  const signed = (off: number) => (off > 0x7fff ? off - 0x10000 : off);
  const top = [...votes].filter(([, n]) => n >= most * 0.9).map(([off]) => off);
  return top.length ? top.reduce((a, b) => (signed(b) < signed(a) ? b : a)) : null;
}

function barge(at: number, heard: Output['calls'][number]['heard']): Barge {
  const valid = heard.some(([, t]) => t >= at - 60 && t < at);
  const after = heard.filter(([, t]) => t >= at);
  // The stream stopped: the last packet before a silence of a second or more.
  let last = at;
  let resumed = false;
  for (const [, t] of after) {
    if (t - last > 1000) {
      resumed = true;
      break;
    }
    last = t;
  }
  const loud = after.filter(([, t, , l]) => l && t <= last).map(([, t]) => t);
  return { valid, silentMs: last + frameMs - at, loudMs: loud.length ? Math.max(...loud) - at : 0, resumed };
}
