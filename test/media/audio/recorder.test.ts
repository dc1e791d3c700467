import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { CallRecorder, type RecordingResult } from '../../../media/audio/recorder.js';
import { sine } from '../../../media/audio/tone.js';
import { parseWav } from '../../../media/audio/wav.js';
import { channel, frames, toneLevel } from '../../helpers/audio.js';
import { tempDir } from '../../helpers/config.js';

const callerHz = 440;
const agentHz = 1200;

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

/** Stretches of `ch` in a tick map as [first, last] ticks, holes of up to 3 ticks bridged. */
function runs(map: string, ch: string): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < map.length; i++) {
    if (map[i] !== ch) continue;
    const last = out.at(-1);
    if (last && i - last[1] <= 4) last[1] = i;
    else out.push([i, i]);
  }
  return out;
}

const close = (got: [number, number][], want: [number, number][]) =>
  got.length === want.length && got.every(([a, b], i) => Math.abs(a - want[i]![0]) <= 2 && Math.abs(b - want[i]![1]) <= 2);

test.serial('caller left, agent right, aligned on wall time; a gap and a missing channel are silence; the file is streamed as it goes', async (t) => {
  const file = path.join(tempDir('as-rec-'), 'call.wav');
  const { log } = capturingLog();
  const caller = frames(sine(callerHz, 3000, { amplitude: 0.3 }));
  const agent = frames(sine(agentHz, 3000, { amplitude: 0.3 }));
  const t0 = performance.now();
  const rec = CallRecorder.start({ file, maxDurationMs: 60_000, log, flushMs: 200 });
  let sizeMidway = 0;
  /** The wall tick each frame k was handed over in (where it belongs). */
  const at: number[] = [];
  // Caller: frames 0-39 speaking, 40-64 silent (no frames), 65-99 speaking. Agent: 50-89 only.
  await paced(100, (k) => {
    at[k] = Math.floor((performance.now() - t0) / 20);
    if (k < 40 || k >= 65) rec.caller(caller[k]!);
    if (k >= 50 && k < 90) rec.agent(agent[k]!);
    if (k === 80) sizeMidway = fs.statSync(file).size;
  });
  const r: RecordingResult = await rec.close();
  const wallMs = performance.now() - t0;
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
  t.true(Math.abs(r.durationMs - wallMs) <= 40, `${r.durationMs} ms of audio for ${wallMs.toFixed(0)} ms of wall time`);

  const left = tickMap(channel(wav.samples, 2, 0));
  const right = tickMap(channel(wav.samples, 2, 1));
  t.log(`left  ${left}`);
  t.log(`right ${right}`);
  t.false(left.includes('a') || left.includes('?'), 'the agent never leaks into the left channel');
  t.false(right.includes('c') || right.includes('?'), 'the caller never leaks into the right channel');
  // Each stretch where the wall clock put it, within two frames either way (a stall of the
  // loaded test machine may re-anchor a channel or hole a stretch by a few frames).
  const want = { caller: [[at[0]!, at[39]!], [at[65]!, at[99]!]] as [number, number][], agent: [[at[50]!, at[89]!]] as [number, number][] };
  t.log(`frames handed over at ticks ${JSON.stringify(want)}`);
  t.deepEqual(close(runs(left, 'c'), want.caller), true, `caller runs ${JSON.stringify(runs(left, 'c'))}`);
  t.deepEqual(close(runs(right, 'a'), want.agent), true, `agent runs ${JSON.stringify(runs(right, 'a'))}`);
  t.true([...left.slice(at[39]! + 3, at[65]! - 2)].every((x) => x === '.'), 'the caller\'s pause is silence');
  t.true([...right.slice(0, at[50]! - 2)].every((x) => x === '.'), 'no agent audio before it spoke: silence');
});

test.serial('a burst never shifts a channel: frames ahead of the wall clock are dropped and counted', async (t) => {
  const file = path.join(tempDir('as-rec-'), 'burst.wav');
  const tone = frames(sine(callerHz, 2000, { amplitude: 0.3 }));
  const rec = CallRecorder.start({ file, maxDurationMs: 60_000, log: capturingLog().log });
  // 25 frames at once at the start, then nothing until tick 40, then one frame per tick to 59.
  for (let i = 0; i < 25; i++) rec.caller(tone[i]!);
  await paced(60, (k) => {
    if (k >= 40) rec.caller(tone[k]!);
  });
  const r = await rec.close();
  const left = tickMap(channel(parseWav(fs.readFileSync(file)).samples, 2, 0));
  t.log(`left ${left}, dropped ${JSON.stringify(r.dropped)}`);
  t.true(r.dropped.caller >= 20 && r.dropped.caller <= 22, `${r.dropped.caller} of the burst's 25 frames dropped`);
  t.true(/^c{3,5}\.+$/.test(left.slice(0, 38)), 'the burst kept only what fits its ticks');
  t.true(Math.abs(left.indexOf('c', 10) - 40) <= 2, `the next talk is at tick 40 (${left.indexOf('c', 10)}), not shifted by the burst`);
});

test('a write error (disk full) stops the recording with a log line and an error value; the call goes on', async (t) => {
  const { log, lines } = capturingLog();
  // /dev/full: every write fails with ENOSPC, the real disk-full error.
  const rec = CallRecorder.start({ file: '/dev/full', maxDurationMs: 60_000, log, flushMs: 100 });
  const tone = frames(sine(callerHz, 1000));
  await paced(20, (k) => rec.caller(tone[k]!));
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
