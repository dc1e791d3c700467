import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { CallRecorder, type RecordingResult } from '../../../media/audio/recorder.js';
import { rms, sine } from '../../../media/audio/tone.js';
import { parseWav } from '../../../media/audio/wav.js';
import { channel, frames, toneLevel } from '../../helpers/audio.js';
import { tempDir } from '../../helpers/config.js';

const callerHz = 400;
const agentHz = 1000;

/** A logger whose lines the test reads. */
function capturingLog() {
  const lines: { msg: string; code?: string }[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string }) });
  return { log, lines };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `each(tick)` once per 20 ms on a clock that does not drift (tick k at t0 + 20k), for
 * `ticks` ticks: how LegAudio delivers frames.
 */
async function paced(ticks: number, each: (tick: number) => void): Promise<void> {
  const t0 = performance.now();
  for (let k = 0; k < ticks; k++) {
    const wait = t0 + k * 20 + 5 - performance.now();
    if (wait > 0) await sleep(wait);
    each(k);
  }
}

/** Per 20 ms tick of one channel: which of the two tones it holds ('c', 'a'), silence ('.') or a mix ('?'). */
function tickMap(pcm: Int16Array): string {
  return frames(pcm)
    .map((f) => {
      const c = toneLevel(f, callerHz);
      const a = toneLevel(f, agentHz);
      if (c < 200 && a < 200) return '.';
      if (c > 2000 && a < 200) return 'c';
      if (a > 2000 && c < 200) return 'a';
      return '?';
    })
    .join('');
}

/**
 * Frame k of a channel: a sine at `hz` whose amplitude tells k (1000 + 200k), so each frame can
 * be found in the file. 400 Hz and 1000 Hz are whole cycles in 20 ms: no leakage between them.
 */
const numbered = (hz: number, k: number) => sine(hz, 20, { amplitude: (1000 + 200 * k) / 32767 });

/** Per 20 ms tick of one channel: the frame number it holds, null for silence, NaN for anything else. */
function frameNumbers(pcm: Int16Array, hz: number, otherHz: number): (number | null)[] {
  return frames(pcm).map((f) => {
    if (rms(f) < 5) return null;
    if (toneLevel(f, otherHz) > 50) return NaN;
    const k = (toneLevel(f, hz) - 1000) / 200;
    return Math.abs(k - Math.round(k)) < 0.2 ? Math.round(k) : NaN;
  });
}

test.serial('caller left, agent right, aligned on wall time; a gap and a missing channel are silence; the file is streamed as it goes', async (t) => {
  const file = path.join(tempDir('as-rec-'), 'call.wav');
  const { log } = capturingLog();
  const callerFrames = Array.from({ length: 100 }, (_, k) => numbered(callerHz, k));
  const agentFrames = Array.from({ length: 100 }, (_, k) => numbered(agentHz, k));
  const t0 = performance.now();
  const rec = CallRecorder.start({ file, maxDurationMs: 60_000, log, flushMs: 200 });
  let sizeMidway = 0;
  /** The wall tick each frame k was handed over in (where it belongs). */
  const at: number[] = [];
  // Caller: frames 0-39 speaking, 40-64 silent (no frames), 65-99 speaking. Agent: 50-89 only.
  const callerSent = (k: number) => k < 40 || k >= 65;
  const agentSent = (k: number) => k >= 50 && k < 90;
  await paced(100, (k) => {
    at[k] = Math.floor((performance.now() - t0) / 20);
    if (callerSent(k)) rec.caller(callerFrames[k]!);
    if (agentSent(k)) rec.agent(agentFrames[k]!);
    if (k === 80) sizeMidway = fs.statSync(file).size;
  });
  // Wall time up to the close: what follows (the last write, the header, fsync) adds no audio.
  const wallMs = performance.now() - t0;
  const r: RecordingResult = await rec.close();
  t.is(r.error, null);
  t.is(r.stopReason, 'closed');
  t.is(rec.state, 'closed');
  t.true(sizeMidway > 44 + 40 * 640, `streamed: ${sizeMidway} bytes on disk at 1.6 s`);

  const wav = parseWav(fs.readFileSync(file));
  t.is(wav.sampleRate, 8000);
  t.is(wav.channels, 2);
  t.is(fs.statSync(file).size, r.bytes);
  t.is(r.bytes, 44 + wav.samples.length * 2, 'the header says the data size');
  t.is(r.durationMs, (wav.samples.length / 2 / 8000) * 1000);
  t.true(Math.abs(r.durationMs - wallMs) <= 60, `${r.durationMs} ms of audio for ${wallMs.toFixed(0)} ms of wall time`);

  const check = (name: string, pcm: Int16Array, hz: number, otherHz: number, sent: (k: number) => boolean) => {
    const ticks = frameNumbers(pcm, hz, otherHz);
    const show = ticks.map((k) => (k === null ? '.' : Number.isNaN(k) ? '?' : String(k % 10))).join('');
    t.log(`${name.padEnd(6)} ${show}`);
    t.false(ticks.some((k) => Number.isNaN(k)), `${name}: only its own frames, whole (no other channel, no mix)`);
    const placed = ticks.flatMap((k, tick) => (k === null ? [] : [{ k, tick }]));
    t.true(placed.every((p, i) => sent(p.k) && (i === 0 || p.k > placed[i - 1]!.k)), `${name}: each frame sent once, in order`);
    const off = placed.map((p) => p.tick - at[p.k]!);
    t.true(off.every((d) => d >= -3 && d <= 2), `${name}: every frame within 60 ms of when it came (offsets ${[...new Set(off)].join(',')})`);
    const expected = at.filter((_, k) => sent(k)).length;
    t.true(placed.length >= expected * 0.8, `${name}: ${placed.length} of ${expected} frames kept (drops only where the test machine stalled)`);
    return placed;
  };
  const caller = check('left', channel(wav.samples, 2, 0), callerHz, agentHz, callerSent);
  const agent = check('right', channel(wav.samples, 2, 1), agentHz, callerHz, agentSent);
  // Silence where a channel sent nothing: the caller's pause, the agent before and after it spoke.
  const left = frameNumbers(channel(wav.samples, 2, 0), callerHz, agentHz);
  const right = frameNumbers(channel(wav.samples, 2, 1), agentHz, callerHz);
  const lastBefore = caller.filter((p) => p.k < 40).at(-1)!.tick;
  const firstAfter = caller.find((p) => p.k >= 65)!.tick;
  t.true(firstAfter - lastBefore >= 20 && left.slice(lastBefore + 1, firstAfter).every((k) => k === null), 'the caller\'s pause is silence');
  t.true(right.slice(0, agent[0]!.tick).every((k) => k === null), 'no agent audio before it spoke: silence');
  t.true(right.slice(agent.at(-1)!.tick + 1).every((k) => k === null), 'nor after');
});

test.serial('with RTP timestamps a stall\'s backlog fills the ticks it belongs to, and a pause in the timestamps stays silent', async (t) => {
  const file = path.join(tempDir('as-rec-'), 'stall.wav');
  const caller = Array.from({ length: 80 }, (_, k) => numbered(callerHz, k));
  const t0 = performance.now();
  const rec = CallRecorder.start({ file, maxDurationMs: 60_000, log: capturingLog().log, flushMs: 100 });
  const ts0 = 0xffff_ff00; // wraps within the first frames
  const at: number[] = [];
  const send = (k: number) => {
    at[k] ??= Math.floor((performance.now() - t0) / 20);
    rec.caller(caller[k]!, (ts0 + k * 160) >>> 0);
  };
  // Frames 0-9 on time; 10-19 held back 200 ms (a stalled event loop) and handed over at once;
  // 20-39 on time; 40-59 never sent (the sender's timestamps move on: a pause); 60-79 on time.
  await paced(80, (k) => {
    if (k < 10 || (k >= 20 && k < 40) || k >= 60) {
      if (k === 20) for (let j = 10; j < 20; j++) send(j);
      send(k);
    }
  });
  const r = await rec.close();
  const ticks = frameNumbers(channel(parseWav(fs.readFileSync(file)).samples, 2, 0), callerHz, agentHz);
  t.log(ticks.map((k) => (k === null ? '.' : Number.isNaN(k) ? '?' : String(k % 10))).join(''), `dropped ${r.dropped.caller}`);
  const placed = ticks.flatMap((k, tick) => (k === null || Number.isNaN(k) ? [] : [{ k, tick }]));
  const offset = placed[0]!.tick - placed[0]!.k;
  t.is(placed.length, 60, 'every frame sent is in the file, the stalled ones too');
  t.is(r.dropped.caller, 0);
  t.true(placed.every((p) => p.tick - p.k === offset), 'each frame k at tick k (+ the first frame\'s offset): the backlog went back where it belongs');
  t.true(Math.abs(offset) <= 2, `offset ${offset}`);
  t.true(ticks.slice(40 + offset, 60 + offset).every((k) => k === null), 'the pause is silence');
});

test.serial('a burst never shifts a channel: frames ahead of the wall clock are dropped and counted', async (t) => {
  const file = path.join(tempDir('as-rec-'), 'burst.wav');
  const tone = frames(sine(callerHz, 2000, { amplitude: 0.3 }));
  const rec = CallRecorder.start({ file, maxDurationMs: 60_000, log: capturingLog().log });
  // 25 frames at once at the start, then nothing until tick 40, then one frame per tick to 59.
  for (let i = 0; i < 25; i++) rec.caller(tone[i]!);
  const burstDropped = rec.dropped.caller;
  await paced(60, (k) => {
    if (k >= 40) rec.caller(tone[k]!);
  });
  const r = await rec.close();
  const left = tickMap(channel(parseWav(fs.readFileSync(file)).samples, 2, 0));
  t.log(`left ${left}, dropped ${JSON.stringify(r.dropped)}`);
  t.true(burstDropped >= 20 && burstDropped <= 22, `${burstDropped} of the burst's 25 frames dropped`);
  t.true(/^c{3,5}\.+$/.test(left.slice(0, 38)), 'the burst kept only what fits its ticks');
  t.true(Math.abs(left.indexOf('c', 10) - 40) <= 2, `the next talk is at tick 40 (${left.indexOf('c', 10)}), not shifted by the burst`);
});

test('a write error (disk full) stops the recording with a log line and an error value; the call goes on', async (t) => {
  const { log, lines } = capturingLog();
  // /dev/full: every write fails with ENOSPC, the real disk-full error.
  const rec = CallRecorder.start({ file: '/dev/full', maxDurationMs: 60_000, log, flushMs: 100 });
  const tone = frames(sine(callerHz, 1000));
  await paced(20, (k) => rec.caller(tone[k]!));
  // The first write (the header) fails on the thread pool: a loaded machine may take a while.
  for (let i = 0; i < 100 && rec.state !== 'stopped'; i++) await sleep(20);
  t.is(rec.state, 'stopped', 'stopped at the first failed write');
  t.is(rec.error?.code, 'disk_full');
  rec.caller(tone[0]!); // frames after the error are ignored, without a throw
  rec.agent(tone[0]!);
  const r = await rec.close();
  t.is(r.stopReason, 'error');
  t.is(r.error?.code, 'disk_full');
  t.is(r.bytes, 0, 'nothing usable was written');
  t.true(lines.some((l) => l.msg === 'recording stopped on an error' && l.code === 'disk_full'), JSON.stringify(lines.map((l) => l.msg)));
  t.is(await rec.close(), r, 'close is idempotent');
});

test('a file that cannot be created is an error value, not a throw', async (t) => {
  const { log } = capturingLog();
  const rec = CallRecorder.start({ file: path.join(tempDir('as-rec-'), 'no', 'such', 'dir.wav'), maxDurationMs: 60_000, log });
  rec.caller(new Int16Array(160));
  const r = await rec.close();
  t.is(r.error?.code, 'open_failed');
  t.is(r.bytes, 0);
});

test.serial('the maximum duration bounds the file: recording stops there and the file holds exactly that much', async (t) => {
  const file = path.join(tempDir('as-rec-'), 'limit.wav');
  const { log, lines } = capturingLog();
  const tone = frames(sine(callerHz, 2000));
  const rec = CallRecorder.start({ file, maxDurationMs: 400, log, flushMs: 100 });
  await paced(50, (k) => rec.caller(tone[k]!));
  t.is(rec.state, 'stopped');
  const r = await rec.close();
  t.is(r.stopReason, 'max_duration');
  t.is(r.durationMs, 400);
  t.is(r.bytes, 44 + 20 * 640);
  t.is(parseWav(fs.readFileSync(file)).samples.length, 20 * 320);
  t.true(lines.some((l) => l.msg === 'recording stopped'));
});

test('frames of another length are cut or padded to 20 ms', async (t) => {
  const file = path.join(tempDir('as-rec-'), 'odd.wav');
  const rec = CallRecorder.start({ file, maxDurationMs: 60_000, log: capturingLog().log });
  rec.caller(Int16Array.from({ length: 100 }, () => 1000));
  rec.agent(Int16Array.from({ length: 400 }, () => -1000));
  await sleep(30);
  const r = await rec.close();
  const s = parseWav(fs.readFileSync(file)).samples;
  t.true(r.durationMs >= 20);
  t.deepEqual([s[0], s[1], s[198], s[199], s[200], s[201], s[318], s[319]], [1000, -1000, 1000, -1000, 0, -1000, 0, -1000]);
});
