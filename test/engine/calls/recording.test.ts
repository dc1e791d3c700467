/**
 * Call recording end to end: a SIPp caller plays its G.711 recording, the test opens the leg's
 * audio seam as the agent runtime will, records, and speaks a tone; the API then serves a stereo
 * WAV with the caller on the left and the tone on the right, to its tenant only, and the file
 * goes with the tenant.
 */
import fs from 'node:fs';
import test from 'ava';
import Database from 'better-sqlite3';
import type { Call } from '../../../engine/calls/call.js';
import { rms, sine } from '../../../media/audio/tone.js';
import { parseWav } from '../../../media/audio/wav.js';
import { channel, frames, toneLevel } from '../../helpers/audio.js';
import { assertError } from '../../helpers/envelope.js';
import { request, waitFor } from '../../helpers/http.js';
import { inboundSetup, scenario, sippCall } from '../../helpers/inbound.js';
import { sippMissing } from '../../helpers/sipp.js';
import { seedTenant } from '../../helpers/tenant.js';

const missing = sippMissing();
const sippTest = missing ? test.skip : test.serial;
if (missing) test('recording tests are skipped: ' + missing, (t) => t.pass());

const toneHz = 1000;
const toneMs = 1500;

interface CallBody {
  id: string;
  endReason: string | null;
  durationMs: number | null;
  recording: { status: string; durationMs: number | null; bytes: number | null; error: string | null } | null;
}

sippTest('a recorded call: caller left, agent right, served as WAV to its tenant only, deleted with the tenant', async (t) => {
  const s = await inboundSetup();
  t.teardown(() => s.close());
  const h = s.tenant.headers;

  const sipp = sippCall(s, scenario('inbound-pcap.xml', { holdMs: 4000 }));
  const call = await waitFor(() => [...s.app.engine.calls.calls.values()].find((c: Call) => c.state === 'answered' && c.parts.leg), 15_000);
  const audio = await call.parts.leg!.openAudio();
  const recStart = performance.now();
  const recorder = s.app.engine.recordings.start(call, audio, 60_000);
  t.is(recorder.state, 'recording');
  t.is(s.app.engine.recordings.start(call, audio, 60_000), recorder, 'one recording per call');
  const live = await request<CallBody>(s.base, 'GET', `/api/v1/calls/${call.id}`, { headers: h });
  t.like(live.body.recording, { status: 'recording', durationMs: null, bytes: null });
  assertError(t, await request(s.base, 'GET', `/api/v1/calls/${call.id}/recording`, { headers: h }), 'conflict', 'The call is still being recorded');

  await new Promise((r) => setTimeout(r, 1000));
  const toneAt = performance.now() - recStart;
  audio.send(sine(toneHz, toneMs, { amplitude: 0.3 }));
  const r = await sipp;
  t.is(r.code, 0, r.output + r.errors);

  const ended = await waitFor(async () => {
    const c = await request<CallBody>(s.base, 'GET', `/api/v1/calls/${call.id}`, { headers: h });
    return c.body.endReason && c.body.recording?.status !== 'recording' ? c.body : undefined;
  }, 10_000);
  t.like(ended, { endReason: 'caller_hangup', recording: { status: 'complete', error: null } });
  const rec = ended.recording as { durationMs: number; bytes: number };

  const res = await fetch(`${s.base}/api/v1/calls/${call.id}/recording`, { headers: h });
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'audio/wav');
  t.is(res.headers.get('accept-ranges'), 'bytes');
  t.is(Number(res.headers.get('content-length')), rec.bytes);
  const body = Buffer.from(await res.arrayBuffer());
  t.is(body.length, rec.bytes);
  const wav = parseWav(body);
  t.is(wav.sampleRate, 8000);
  t.is(wav.channels, 2);
  t.is(wav.samples.length / 2 / 8, rec.durationMs); // 8 samples a millisecond
  // The recording runs from its start to the call's end: about the 4 s SIPp held the call.
  t.true(rec.durationMs > 3000 && rec.durationMs < 6000, `${rec.durationMs} ms recorded`);

  const left = frames(channel(wav.samples, 2, 0));
  const right = frames(channel(wav.samples, 2, 1));
  const loud = (f: Int16Array) => rms(f) > 200;
  const callerTicks = left.filter(loud).length;
  const toneTicks = right.map((f, i) => (toneLevel(f, toneHz) > 3000 ? i : -1)).filter((i) => i >= 0);
  const otherRight = right.filter((f, i) => loud(f) && !toneTicks.includes(i)).length;
  t.log(`${left.length} ticks: caller audible in ${callerTicks}; tone in ${toneTicks.length} (ticks ${toneTicks[0]}-${toneTicks.at(-1)}, sent at tick ${Math.floor(toneAt / 20)}); other right-channel audio in ${otherRight}`);
  t.true(callerTicks > left.length / 3, 'the left channel holds SIPp\'s audio');
  t.true(Math.abs(toneTicks.length - toneMs / 20) <= 3, `the tone lasts ${toneTicks.length} ticks`);
  t.true(Math.abs(toneTicks[0]! - Math.floor(toneAt / 20)) <= 4, 'the tone is where it was sent');
  t.true(otherRight <= 2, 'the right channel holds only the agent\'s tone');
  t.true(left.filter((f) => toneLevel(f, toneHz) > 3000).length === 0, 'the tone does not leak into the left channel');

  // One byte range.
  const part = await fetch(`${s.base}/api/v1/calls/${call.id}/recording`, { headers: { ...h, range: 'bytes=0-43' } });
  t.is(part.status, 206);
  t.is(part.headers.get('content-range'), `bytes 0-43/${rec.bytes}`);
  t.deepEqual(Buffer.from(await part.arrayBuffer()), body.subarray(0, 44));

  // Another tenant sees nothing; nor does anyone for a call that does not exist.
  const other = await seedTenant(s.app);
  assertError(t, await request(s.base, 'GET', `/api/v1/calls/${call.id}/recording`, { headers: other.headers }), 'not_found', 'No such call');
  assertError(t, await request(s.base, 'GET', '/api/v1/calls/00000000-0000-4000-8000-000000000000/recording', { headers: h }), 'not_found', 'No such call');

  // Deleting the tenant removes the file along with the rows.
  const file = s.app.engine.recordings.fileFor(call.id);
  t.true(fs.existsSync(file));
  const operator = await seedTenant(s.app, { superAdmin: true });
  const login = await request<{ accessToken: string }>(s.base, 'POST', '/api/v1/auth/login', { body: { email: operator.ownerEmail, password: operator.ownerPassword } });
  const sa = { authorization: `Bearer ${login.body.accessToken}` };
  const del = await request(s.base, 'DELETE', `/api/v1/tenants/${s.tenant.tenantId}`, { headers: sa });
  t.is(del.status, 204, JSON.stringify(del.body));
  t.false(fs.existsSync(file), 'the recording went with its tenant');
  t.is(s.app.engine.store.calls.getById(call.id), undefined, 'and so did the call');
});

sippTest('a call that was not recorded has no recording: 404', async (t) => {
  const s = await inboundSetup();
  t.teardown(() => s.close());
  const r = await sippCall(s, scenario('inbound-pcap.xml', { holdMs: 500 }));
  t.is(r.code, 0, r.output + r.errors);
  const c = await waitFor(async () => {
    const list = await request<{ items: { id: string; endReason: string | null }[] }>(s.base, 'GET', '/api/v1/calls', { headers: s.tenant.headers });
    return list.body.items.find((x) => x.endReason);
  }, 10_000);
  const full = await request<CallBody>(s.base, 'GET', `/api/v1/calls/${c.id}`, { headers: s.tenant.headers });
  t.is(full.body.recording, null);
  assertError(t, await request(s.base, 'GET', `/api/v1/calls/${c.id}/recording`, { headers: s.tenant.headers }), 'not_found', 'The call has no recording');
});

sippTest('a recording that cannot be written (disk full) stops with an error value; the call goes on undisturbed', async (t) => {
  const s = await inboundSetup();
  t.teardown(() => s.close());
  const h = s.tenant.headers;
  const sipp = sippCall(s, scenario('inbound-pcap.xml', { holdMs: 2500 }));
  const call = await waitFor(() => [...s.app.engine.calls.calls.values()].find((c: Call) => c.state === 'answered' && c.parts.leg), 15_000);
  // The call's recording file is /dev/full: every write fails with ENOSPC, as on a full disk.
  fs.symlinkSync('/dev/full', s.app.engine.recordings.fileFor(call.id));
  const audio = await call.parts.leg!.openAudio();
  const recorder = s.app.engine.recordings.start(call, audio, 60_000);
  audio.send(sine(toneHz, 1000, { amplitude: 0.3 }));
  await waitFor(() => recorder.state === 'stopped', 5000);
  t.is(recorder.error?.code, 'disk_full');
  t.is(call.state, 'answered', 'the call is still up');
  const r = await sipp;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.slice(-2), ['-> BYE', '<- 200 BYE'], 'the caller hung up as planned');
  const ended = await waitFor(async () => {
    const c = await request<CallBody>(s.base, 'GET', `/api/v1/calls/${call.id}`, { headers: h });
    return c.body.endReason && c.body.recording?.status !== 'recording' ? c.body : undefined;
  }, 10_000);
  t.like(ended, { endReason: 'caller_hangup', recording: { status: 'failed', bytes: 0 } });
  t.regex(ended.recording!.error!, /ENOSPC/);
  assertError(t, await request(s.base, 'GET', `/api/v1/calls/${call.id}/recording`, { headers: h }), 'not_found', /holds no audio \(cannot create the recording: ENOSPC/);
});

sippTest('a graceful stop finalises the recordings of live calls before the database closes', async (t) => {
  const s = await inboundSetup();
  let stopped = false;
  t.teardown(() => (stopped ? undefined : s.close()));
  const sipp = sippCall(s, scenario('inbound-callee-bye.xml', { payloadTypes: '8', rtpmaps: '      a=rtpmap:8 PCMA/8000', extraHeaders: '', why: 'engine stops', headerRegexp: 'SIP/2.0 200', byeTimeoutMs: 20_000 }));
  const call = await waitFor(() => [...s.app.engine.calls.calls.values()].find((c: Call) => c.state === 'answered' && c.parts.leg), 15_000);
  const audio = await call.parts.leg!.openAudio();
  s.app.engine.recordings.start(call, audio, 60_000);
  audio.send(sine(toneHz, 600, { amplitude: 0.3 }));
  await new Promise((r) => setTimeout(r, 1200));
  const dbPath = s.app.engine.config.database.path;
  const file = s.app.engine.recordings.fileFor(call.id);
  await s.app.close();
  stopped = true;
  const r = await sipp;
  t.is(r.code, 0, r.output + r.errors);
  t.deepEqual(r.ladder.slice(-2), ['<- BYE', '-> 200 BYE'], 'the engine hung up');

  const db = new Database(dbPath, { readonly: true });
  const row = db.prepare<[string], { recording: string }>('SELECT recording FROM calls WHERE id = ?').get(call.id)!;
  db.close();
  const rec = JSON.parse(row.recording) as { status: string; bytes: number; durationMs: number };
  t.like(rec, { status: 'complete' });
  const buf = fs.readFileSync(file);
  t.is(buf.length, rec.bytes, 'the row has the final size');
  t.is(buf.readUInt32LE(40), buf.length - 44, 'the header was fixed up before the process let go');
  t.true(rec.durationMs >= 1000, `${rec.durationMs} ms`);
  const right = frames(channel(parseWav(buf).samples, 2, 1));
  t.true(Math.abs(right.filter((f) => toneLevel(f, toneHz) > 3000).length - 30) <= 2, 'the agent\'s 600 ms tone is in it');
});

sippTest('an agent with recording: true has its calls recorded by the agent runtime: its greeting on the right, the caller on the left', async (t) => {
  const s = await inboundSetup();
  t.teardown(() => s.close());
  const h = s.tenant.headers;
  const patch = await request(s.base, 'PATCH', `/api/v1/agents/${s.agentId}`, { headers: h, body: { config: { recording: true, bargeIn: false, firstMessage: 'Hello. This call is recorded for quality.' } } });
  t.is(patch.status, 200, JSON.stringify(patch.body));
  const r = await sippCall(s, scenario('inbound-pcap.xml', { holdMs: 4000 }));
  t.is(r.code, 0, r.output + r.errors);
  const ended = await waitFor(async () => {
    const list = await request<{ items: { id: string; endReason: string | null }[] }>(s.base, 'GET', '/api/v1/calls', { headers: h });
    const id = list.body.items.find((x) => x.endReason)?.id;
    const c = id && (await request<CallBody>(s.base, 'GET', `/api/v1/calls/${id}`, { headers: h })).body;
    return c && c.recording && c.recording.status !== 'recording' ? c : undefined;
  }, 15_000);
  t.like(ended.recording, { status: 'complete', error: null });
  const res = await fetch(`${s.base}/api/v1/calls/${ended.id}/recording`, { headers: h });
  t.is(res.status, 200);
  const wav = parseWav(Buffer.from(await res.arrayBuffer()));
  const left = frames(channel(wav.samples, 2, 0)).filter((f) => rms(f) > 200).length;
  const right = frames(channel(wav.samples, 2, 1)).filter((f) => rms(f) > 200).length;
  t.log(`${wav.samples.length / 320} ticks: caller audible in ${left}, the agent's greeting in ${right}`);
  t.true(left > 50, 'the caller is on the left');
  t.true(right > 50, 'the greeting (offline TTS) is on the right');
});
