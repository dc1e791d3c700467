import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import test from 'ava';
import { ProviderError } from '../../../../engine/agents/providers/contracts.js';
import { FliteTts, fliteVoices } from '../../../../engine/agents/providers/tts/flite.js';
import { rms } from '../../../../media/audio/tone.js';
import { testConfig, testLogger, tempDir } from '../../../helpers/config.js';

const log = testLogger(testConfig());

/** Every chunk of a synthesis, joined, and when the first arrived. */
async function speak(tts: FliteTts, text: string, voiceId = 'kal', signal = new AbortController().signal) {
  const t0 = performance.now();
  const chunks: Int16Array[] = [];
  let firstMs = 0;
  for await (const c of tts.synthesize({ text, voiceId, signal })) {
    if (!chunks.length) firstMs = performance.now() - t0;
    chunks.push(c);
  }
  const pcm = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    pcm.set(c, at);
    at += c.length;
  }
  return { pcm, chunks: chunks.length, firstMs, ms: performance.now() - t0 };
}

/** Share of 20 ms frames louder than -40 dBFS: speech has many, silence none. */
function voicedShare(pcm: Int16Array): number {
  let loud = 0;
  const frames = Math.floor(pcm.length / 160);
  for (let f = 0; f < frames; f++) if (rms(pcm.subarray(f * 160, f * 160 + 160)) > 328) loud++;
  return frames ? loud / frames : 0;
}

test.serial('a greeting decodes to 8 kHz speech of plausible length', async (t) => {
  const tts = new FliteTts({ log });
  const { pcm, firstMs } = await speak(tts, 'Hello, thank you for calling.');
  const seconds = pcm.length / 8000;
  t.log(`${seconds.toFixed(2)} s of audio, first chunk after ${firstMs.toFixed(0)} ms (thread start included)`);
  t.true(seconds >= 1.5 && seconds <= 4, `${seconds} s`);
  t.true(voicedShare(pcm) > 0.4, `voiced share ${voicedShare(pcm)}`);
  await tts.close();
});

test.serial('every voice speaks at 8 kHz (ms of CPU per second of audio, for the record)', async (t) => {
  const tts = new FliteTts({ log });
  const text = 'Your appointment is confirmed for Tuesday at three thirty in the afternoon.';
  await speak(tts, 'Warm up.');
  for (const voice of Object.keys(fliteVoices)) {
    const { pcm, ms } = await speak(tts, text, voice);
    const seconds = pcm.length / 8000;
    t.log(`${voice} (native ${fliteVoices[voice as keyof typeof fliteVoices]} Hz): ${seconds.toFixed(2)} s, ${(ms / seconds).toFixed(1)} ms per second of audio`);
    t.true(seconds > 2.5 && seconds < 9, `${voice}: ${seconds} s`);
    t.true(voicedShare(pcm) > 0.4, `${voice}: voiced share ${voicedShare(pcm)}`);
  }
  await tts.close();
});

test.serial('long text comes sentence by sentence: the first audio arrives before the whole is synthesised', async (t) => {
  const tts = new FliteTts({ log });
  await speak(tts, 'Warm up.');
  const sentences = Array.from({ length: 6 }, (_, i) => `This is sentence number ${i + 1} of a rather long answer.`);
  const { chunks, firstMs, ms } = await speak(tts, sentences.join(' '));
  t.log(`${chunks} chunks, first after ${firstMs.toFixed(0)} ms, all after ${ms.toFixed(0)} ms`);
  t.is(chunks, 6);
  t.true(firstMs < ms / 3);
  await tts.close();
});

/** The largest event-loop delay (ms) and the loop's utilisation (0-1) while `work` runs. */
async function loopLoad(work: () => Promise<unknown>): Promise<{ maxMs: number; elu: number }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const elu0 = performance.eventLoopUtilization();
  await work();
  const elu = performance.eventLoopUtilization(elu0).utilization;
  h.disable();
  return { maxMs: h.max / 1e6, elu };
}

test.serial('the event loop keeps running during 5 concurrent syntheses (delay max < 30 ms, loop busy < 10%)', async (t) => {
  const tts = new FliteTts({ log });
  await speak(tts, 'Warm up.');
  const text = 'Thank you for calling the clinic. Our opening hours are Monday to Friday, eight to six. Please hold.';
  // Synthesis on the loop would keep it busy most of the time and block it 100-500 ms per
  // sentence. An overloaded shared machine (load average over twice the cores) also delays an
  // idle loop's timers by 20-50 ms now and then (measured beside each attempt, loop busy ~1%):
  // the best of 3 attempts counts, and on such a machine the delay bound is 100 ms, said in the log.
  const attempts: { maxMs: number; elu: number; idleMs: number }[] = [];
  for (let i = 0; i < 3 && !attempts.some((a) => a.maxMs < 30); i++) {
    const idle = await loopLoad(() => new Promise((r) => setTimeout(r, 1000)));
    let seconds = 0;
    const busy = await loopLoad(async () => {
      const results = await Promise.all(Array.from({ length: 5 }, () => speak(tts, text, 'slt')));
      for (const r of results) t.true(r.pcm.length > 8000 * 3);
      seconds = results.reduce((n, r) => n + r.pcm.length / 8000, 0);
    });
    attempts.push({ ...busy, idleMs: idle.maxMs });
    t.log(`attempt ${i + 1}: ${seconds.toFixed(1)} s of speech; loop delay max ${busy.maxMs.toFixed(1)} ms (idle beside it ${idle.maxMs.toFixed(1)} ms), loop busy ${(busy.elu * 100).toFixed(1)}%`);
  }
  const best = attempts.reduce((a, b) => (b.maxMs < a.maxMs ? b : a));
  const load = os.loadavg()[0]!;
  const bound = load > 2 * os.cpus().length ? 100 : 30;
  if (bound !== 30) t.log(`load average ${load.toFixed(1)} on ${os.cpus().length} cores (overloaded): delay bound 100 ms instead of 30`);
  t.true(best.maxMs < bound, `event loop delay max ${attempts.map((a) => a.maxMs.toFixed(1)).join(', ')} ms`);
  for (const a of attempts) t.true(a.elu < 0.1, `loop busy ${a.elu}`);
  await tts.close();
});

test.serial('abort stops early and quietly, and drops the sentences queued behind', async (t) => {
  const tts = new FliteTts({ log });
  await speak(tts, 'Warm up.');
  const ac = new AbortController();
  const text = Array.from({ length: 20 }, (_, i) => `Sentence ${i + 1} would go on for a while if nobody stopped it.`).join(' ');
  let chunks = 0;
  const t0 = performance.now();
  for await (const _ of tts.synthesize({ text, voiceId: 'kal', signal: ac.signal })) {
    chunks++;
    if (chunks === 2) ac.abort();
  }
  t.log(`ended ${(performance.now() - t0).toFixed(0)} ms after the start, ${chunks} chunks of 20`);
  t.is(chunks, 2);
  // The thread is free at once for the next caller.
  const next = await speak(tts, 'Next caller.');
  t.true(next.pcm.length > 4000);
  await tts.close();
});

test.serial('an aborted signal before the start yields nothing', async (t) => {
  const tts = new FliteTts({ log });
  const { chunks } = await speak(tts, 'Never said.', 'kal', AbortSignal.abort());
  t.is(chunks, 0);
  await tts.close();
});

test.serial('an unknown voice is a ProviderError that lists the voices', async (t) => {
  const tts = new FliteTts({ log });
  const err = await t.throwsAsync(speak(tts, 'Hello.', 'darth'), { instanceOf: ProviderError });
  t.is(err?.code, 'unavailable');
  t.is(err?.message, "flite: unknown voice 'darth' (voices: kal, kal16, slt, rms, awb)");
  await tts.close();
});

test.serial('a synthesis past the timeout fails with timeout, and the next one gets a fresh thread', async (t) => {
  // 400 ms: 'Hi.' takes 20-150 ms, 300 digits read out by slt (~75 s of speech) 1-3 s.
  const tts = new FliteTts({ log, timeoutMs: 400 });
  await speak(tts, 'Hi.');
  const t0 = performance.now();
  const err = await t.throwsAsync(speak(tts, '1234567890'.repeat(30), 'slt'), { instanceOf: ProviderError });
  t.is(err?.code, 'timeout');
  t.is(err?.message, 'flite: synthesis took longer than 400 ms');
  t.log(`timed out after ${(performance.now() - t0).toFixed(0)} ms`);
  const after = await speak(tts, 'Hello again.');
  t.true(after.pcm.length > 4000);
  await tts.close();
});

test.serial('a thread that cannot start (a broken flite.wasm) fails requests with unavailable, not a hang', async (t) => {
  const dir = tempDir();
  const wasmPath = path.join(dir, 'flite.wasm');
  fs.writeFileSync(wasmPath, 'not webassembly');
  const tts = new FliteTts({ log, wasmPath });
  for (let i = 0; i < 2; i++) {
    const err = await t.throwsAsync(speak(tts, 'Hello.'), { instanceOf: ProviderError });
    t.is(err?.code, 'unavailable');
    t.regex(err?.message ?? '', /thread exited/);
  }
  await tts.close();
});

test.serial('after close, a request fails with unavailable', async (t) => {
  const tts = new FliteTts({ log });
  await tts.close();
  const err = await t.throwsAsync(speak(tts, 'Hello.'), { instanceOf: ProviderError });
  t.is(err?.code, 'unavailable');
});

/** With node:wasi, slt and this sentence aborted the process after ~18 syntheses (a destructor's failed uv_mutex_destroy). */
const crasher = 'Our opening hours are Monday to Friday, eight to six.';
const many = 30;
test.serial(`${many} syntheses of a sentence that crashed node:wasi, one WASI instance each`, async (t) => {
  const tts = new FliteTts({ log });
  const t0 = performance.now();
  let samples = 0;
  for (let i = 0; i < many; i++) samples += (await speak(tts, crasher, 'slt')).pcm.length;
  const ms = performance.now() - t0;
  t.log(`${many} syntheses, ${(samples / 8000).toFixed(0)} s of audio in ${ms.toFixed(0)} ms (${(ms / many).toFixed(1)} ms each)`);
  t.true(samples > many * 8000 * 2);
  await tts.close();
});
