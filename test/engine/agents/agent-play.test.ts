/**
 * Workflow `play` nodes on a real call, end to end on loopback: tones are uploaded through the
 * API (at 16 kHz, so they go through the converter), SIPp places the call, the test's phone
 * carries its media and presses keys as RFC 4733, and what the phone hears is measured: which
 * tone (Goertzel at 1 kHz and 600 Hz on each 20 ms frame) and for how long.
 */
import anyTest, { type TestFn } from 'ava';
import { legAudioObserver, type LegAudio } from '../../../media/audio/leg-audio.js';
import { rms, sine } from '../../../media/audio/tone.js';
import { writeWav } from '../../../media/audio/wav.js';
import { toneLevel } from '../../helpers/audio.js';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, scenario, sippCall, type InboundSetup } from '../../helpers/inbound.js';
import { sippMissing } from '../../helpers/sipp.js';
import { Phone } from '../../helpers/phone.js';
import { speech8k } from '../../helpers/speech.js';

const test = anyTest as TestFn<{ s: InboundSetup }>;
const missing = sippMissing();
/** The caller is SIPp: without it the file has nothing to call with. */
const sippTest = missing ? test.skip : test.serial;
if (missing) test(`agent call tests skipped: ${missing}`, (t) => t.pass());

test.before(async (t) => {
  if (missing) return;
  t.context.s = await inboundSetup();
});
test.after.always(async (t) => {
  await t.context.s?.close();
});

/** A frame "holds" a tone when its Goertzel level passes this (the tones are sent at 8192 peak). */
const TONE_LEVEL = 3000;

async function uploadTone(s: InboundSetup, name: string, hz: number, ms: number): Promise<string> {
  const wav = writeWav({ sampleRate: 16000, channels: 1, samples: sine(hz, ms, { rate: 16000, amplitude: 0.25 }) });
  const res = await request<{ id: string }>(s.base, 'POST', '/api/v1/audio-files', { headers: s.tenant.headers, body: { name, wav: wav.toString('base64') } });
  if (res.status !== 201) throw new Error(`upload: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

/** Saves `graph` as a workflow and makes it the agent's. */
async function useWorkflow(s: InboundSetup, name: string, graph: unknown): Promise<void> {
  const h = s.tenant.headers;
  const wf = await request<{ id: string }>(s.base, 'POST', '/api/v1/workflows', { headers: h, body: { name, graph } });
  if (wf.status !== 201) throw new Error(`workflow: ${wf.status} ${JSON.stringify(wf.body)}`);
  const patched = await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: h, body: { config: { workflowId: wf.body.id } } });
  if (patched.status !== 200) throw new Error(`agent: ${patched.status} ${JSON.stringify(patched.body)}`);
}

/** A linear graph: start, then the nodes in order. */
function chain(nodes: Record<string, unknown>[]): unknown {
  const all = [{ id: 'start', kind: 'start' }, ...nodes];
  return { nodes: all, edges: all.slice(1).map((n, i) => ({ from: all[i]!.id, to: n.id })) };
}

/** Places the call; resolves with the live call, the phone streaming to its leg, and SIPp's outcome. */
async function placeCall(s: InboundSetup) {
  const phone = await Phone.open();
  const sipp = sippCall(s, scenario('agent-call.xml', { rtpPort: phone.port, byeTimeoutMs: 30_000 }));
  const live = await waitFor(() => [...s.app.engine.calls.calls.values()].find((c) => c.parts.leg && c.state === 'answered'), 10_000);
  const started = performance.now();
  phone.start(Number(/m=audio (\d+)/.exec(live.parts.leg!.answerSdp)![1]));
  return { phone, sipp, live, started };
}

/** Milliseconds of received audio holding the `hz` tone. */
const toneMs = (phone: Phone, since: number, hz: number) => phone.heard(since).filter((f) => toneLevel(f.pcm, hz) > TONE_LEVEL).length * 20;

async function endedCall(s: InboundSetup, id: string) {
  return waitFor(async () => {
    const c = await request<{ endReason: string | null; hangupBy: string; transcript: { role: string; text: string }[]; metrics: { workflowPath?: string[] } }>(s.base, 'GET', `/api/v1/calls/${id}`, { headers: s.tenant.headers });
    return c.body.endReason ? c.body : undefined;
  }, 10_000);
}

sippTest('a play node plays the uploaded tone to the caller, whole and without gaps, then the workflow hangs up', async (t) => {
  const { s } = t.context;
  // 5 s: longer than the speaker's 2 s chunks, so the joins between them are heard too.
  const beep = await uploadTone(s, 'beep', 1000, 5000);
  await useWorkflow(s, 'beep then hang up', chain([{ id: 'beep', kind: 'play', audioFileId: beep }, { id: 'bye', kind: 'hangup' }]));
  const { phone, sipp, live, started } = await placeCall(s);
  t.teardown(() => phone.close());
  const r = await sipp;
  t.is(r.code, 0, r.errors);
  const call = await endedCall(s, live.id);
  t.is(call.endReason, 'agent_hangup');
  t.deepEqual(call.metrics.workflowPath, ['start', 'beep', 'bye']);
  t.deepEqual(call.transcript.map((e) => `${e.role}: ${e.text}`), ['agent: [played beep]']);
  // The tone, at its frequency and for its length: 250 frames of 1 kHz (±2 for the edges), no 600 Hz.
  const heard = phone.heard(started);
  const toneFrames = heard.filter((f) => toneLevel(f.pcm, 1000) > TONE_LEVEL);
  const levels = toneFrames.map((f) => toneLevel(f.pcm, 1000));
  t.log(`1 kHz heard for ${toneFrames.length * 20} ms of ${heard.length * 20} ms received; level ${Math.min(...levels).toFixed(0)}–${Math.max(...levels).toFixed(0)} (sent 8192)`);
  t.true(toneFrames.length >= 248 && toneFrames.length <= 252, `${toneFrames.length} frames`);
  t.is(toneMs(phone, started, 600), 0);
  // Unbroken: one talkspurt (RFC 3551: one marker bit), RTP timestamps 160 apart throughout, and
  // the 5 s arrived over 5 s. The pacer's clock catches up after a late timer, so load adds little
  // to the span; a queue that ran dry at the joins of the speaker's 2 s chunks adds up to 200 ms a
  // join (measured: 5040–5060 ms whole, 5290 ms with the read-ahead set to 0).
  const packets = phone.peer.receivedSince(started).filter((r) => r.header.payloadType === 0);
  const markers = packets.filter((r) => r.header.marker).length;
  const steps = new Set(packets.slice(1).map((r, i) => (r.header.timestamp - packets[i]!.header.timestamp) >>> 0));
  const spanMs = toneFrames.at(-1)!.at - toneFrames[0]!.at;
  const gapMs = Math.max(...toneFrames.slice(1).map((f, i) => f.at - toneFrames[i]!.at));
  t.log(`${packets.length} packets, ${markers} marker(s), timestamp steps ${[...steps].join(',')}; arrived over ${spanMs.toFixed(0)} ms, largest gap ${gapMs.toFixed(0)} ms`);
  t.is(markers, 1);
  t.deepEqual([...steps], [160]);
  t.true(spanMs >= 4900 && spanMs <= 5200, `span ${spanMs.toFixed(0)} ms`);
});

sippTest('a key press cuts an interruptible play node, but not one that is not interruptible', async (t) => {
  const { s } = t.context;
  const fixed = await uploadTone(s, 'notice', 1000, 1500);
  const music = await uploadTone(s, 'music', 600, 6000);
  await useWorkflow(
    s,
    'notice then music',
    chain([
      { id: 'notice', kind: 'play', audioFileId: fixed, interruptible: false },
      { id: 'music', kind: 'play', audioFileId: music },
      { id: 'bye', kind: 'hangup', reason: 'done' },
    ]),
  );
  const { phone, sipp, live, started } = await placeCall(s);
  t.teardown(() => phone.close());
  // A key half a second into the notice: it plays on.
  await waitFor(() => toneMs(phone, started, 1000) >= 500, 10_000);
  phone.press('1');
  // A key half a second into the music: it stops.
  await waitFor(() => toneMs(phone, started, 600) >= 500, 10_000);
  const pressedAt = performance.now();
  phone.press('2');
  const r = await sipp;
  t.is(r.code, 0, r.errors);
  const call = await endedCall(s, live.id);
  t.is(call.endReason, 'agent_hangup');
  t.deepEqual(call.metrics.workflowPath, ['start', 'notice', 'music', 'bye']);
  t.deepEqual(call.transcript.map((e) => `${e.role}: ${e.text}`), [
    'caller: (pressed 1)',
    'agent: [played notice]',
    'caller: (pressed 2)',
    'agent: [played music] [interrupted]',
    'system: hangup: done',
  ]);
  const noticeMs = toneMs(phone, started, 1000);
  const musicMs = toneMs(phone, started, 600);
  const afterKey = toneMs(phone, pressedAt + 200, 600);
  t.log(`notice heard ${noticeMs} ms of 1500; music heard ${musicMs} ms of 6000, ${afterKey} ms of it from 200 ms after the key`);
  t.true(noticeMs >= 1460, `notice ${noticeMs} ms`);
  t.true(musicMs >= 500 && musicMs <= 1500, `music ${musicMs} ms`);
  t.true(afterKey <= 200, `music after the key: ${afterKey} ms`);
});

sippTest('the caller talking over an interruptible play node cuts it (barge-in, voice activity)', async (t) => {
  const { s } = t.context;
  const music = await uploadTone(s, 'hold music', 600, 6000);
  await useWorkflow(s, 'music', chain([{ id: 'music', kind: 'play', audioFileId: music }, { id: 'bye', kind: 'hangup' }]));
  const { phone, sipp, live, started } = await placeCall(s);
  t.teardown(() => phone.close());
  await waitFor(() => toneMs(phone, started, 600) >= 500, 10_000);
  phone.say(speech8k('Hello? Can I talk to someone?'));
  const r = await sipp;
  t.is(r.code, 0, r.errors);
  const call = await endedCall(s, live.id);
  t.deepEqual(call.transcript.map((e) => `${e.role}: ${e.text}`), ['system: caller barged in', 'agent: [played hold music] [interrupted]']);
  // From the caller's first word to the last frame of music the phone heard.
  const music600 = phone.heard(started).filter((f) => toneLevel(f.pcm, 600) > TONE_LEVEL);
  const cutMs = music600.at(-1)!.at - phone.saidAt!;
  t.log(`music heard ${music600.length * 20} ms of 6000; its last frame ${cutMs.toFixed(0)} ms after the caller started talking`);
  t.true(music600.length * 20 <= 2000, `${music600.length * 20} ms`);
  t.true(cutMs < 1000, `${cutMs.toFixed(0)} ms`);
});

sippTest('a play node whose file is gone at call time is a fault; the workflow goes on', async (t) => {
  const { s } = t.context;
  const gone = await uploadTone(s, 'gone', 1000, 200);
  await useWorkflow(s, 'plays a file that goes', chain([{ id: 'gone', kind: 'play', audioFileId: gone }, { id: 'after', kind: 'say', text: 'Still here.' }, { id: 'bye', kind: 'hangup' }]));
  // The row stays (the workflow still names it); the file leaves the disk behind the API's back.
  await s.app.engine.audioFiles.remove([gone]);
  const { phone, sipp, live } = await placeCall(s);
  t.teardown(() => phone.close());
  const r = await sipp;
  t.is(r.code, 0, r.errors);
  const call = await endedCall(s, live.id);
  t.deepEqual(call.metrics.workflowPath, ['start', 'gone', 'after', 'bye']);
  t.deepEqual(call.transcript.map((e) => `${e.role}: ${e.text}`), ['agent: Still here.']);
  const errors = await request<{ items: { code: string; message: string; callId: string }[] }>(s.base, 'GET', `/api/v1/analytics/errors?limit=100&callId=${live.id}`, { headers: s.tenant.headers });
  t.true(
    errors.body.items.some((e) => e.callId === live.id && e.code === 'audio_file_missing' && e.message === `audio file ${gone} no longer exists`),
    JSON.stringify(errors.body),
  );
});

sippTest('a long spoken sentence goes to the wire a couple of seconds at a time, not all at once: the queue stays under 3.2 s and the speech arrives whole', async (t) => {
  const { s } = t.context;
  // One sentence of about 12 s of offline speech: the TTS yields it as one chunk.
  const text = Array.from({ length: 4 }, () => 'this sentence is long on purpose so that the speaker has more audio than it should queue at once').join(' and ');
  await useWorkflow(s, 'long sentence', chain([{ id: 'long', kind: 'say', text }, { id: 'bye', kind: 'hangup' }]));
  let maxQueuedMs = 0;
  let samples = 0;
  const watch = (audio: LegAudio) => {
    const timer = setInterval(() => {
      if (audio.closed) return clearInterval(timer);
      maxQueuedMs = Math.max(maxQueuedMs, audio.queuedMs);
      samples++;
    }, 20);
  };
  legAudioObserver.on('open', watch);
  t.teardown(() => legAudioObserver.off('open', watch));
  const { phone, sipp, live, started } = await placeCall(s);
  t.teardown(() => phone.close());
  t.is((await sipp).code, 0);
  const call = await endedCall(s, live.id);
  t.is(call.endReason, 'agent_hangup');
  const spoken = phone.heard(started).filter((f) => rms(f.pcm) > 300).length * 20;
  t.log(`queue at most ${maxQueuedMs} ms over ${samples} looks; ${spoken} ms of speech heard`);
  t.true(samples > 100, 'the queue was watched while the agent spoke');
  t.true(maxQueuedMs <= 3200, `queue at most ${maxQueuedMs} ms`);
  t.true(spoken > 8000, `${spoken} ms of speech heard`);
});
