/**
 * Audio files through the real API: uploads at several rates and in stereo are converted to
 * 8 kHz mono (the tone is still there, at its frequency and length), metadata and content agree,
 * bad uploads are 422 naming the problem, other tenants and modes see nothing, a file a workflow
 * plays cannot be deleted, and a deleted tenant's files leave the disk.
 */
import fs from 'node:fs';
import test from 'ava';
import { startApp, type App } from '../../api/app.js';
import { g711Encode } from '../../media/audio/g711.js';
import { sine } from '../../media/audio/tone.js';
import { parseWav, writeWav, writeWavHeader } from '../../media/audio/wav.js';
import { toneLevel } from '../helpers/audio.js';
import { testConfig, testLogger } from '../helpers/config.js';
import { assertError } from '../helpers/envelope.js';
import { client, type Client } from '../helpers/resources.js';
import { mintKey, seedTenant, userWithRole } from '../helpers/tenant.js';

let app: App;
let member: Client;
let viewer: Client;
let viewerHeaders: Record<string, string>;
let other: Client;
let testKey: Client;
let superAdmin: Client;
let tenantId: string;

test.before(async () => {
  const config = testConfig();
  app = await startApp(config, testLogger(config));
  const t1 = await seedTenant(app);
  tenantId = t1.tenantId;
  member = client(app, (await userWithRole(app, t1.tenantId, 'member')).headers);
  viewerHeaders = (await userWithRole(app, t1.tenantId, 'viewer')).headers;
  viewer = client(app, viewerHeaders);
  testKey = client(app, { 'x-api-key': mintKey(app, t1.tenantId, { mode: 'test' }) });
  other = client(app, (await seedTenant(app)).headers);
  const sa = await seedTenant(app, { superAdmin: true });
  superAdmin = client(app, (await login(app, sa.ownerEmail, sa.ownerPassword)).headers);
});
test.after.always(() => app?.close());

/** Bearer headers from a real sign-in (super-admin rights belong to users, not keys). */
async function login(a: App, email: string, password: string): Promise<{ headers: Record<string, string> }> {
  const res = await client(a, {}).post('/api/v1/auth/login', { email, password });
  return { headers: { authorization: `Bearer ${res.body.accessToken}` } };
}

/** `ms` of a 1 kHz tone at `rate`, as a 16-bit WAV; stereo when asked, the tone on the left and silence on the right. */
function toneWav(rate: number, ms: number, channels = 1): Buffer {
  const mono = sine(1000, ms, { rate, amplitude: 0.5 });
  if (channels === 1) return writeWav({ sampleRate: rate, channels: 1, samples: mono });
  const stereo = new Int16Array(mono.length * 2);
  for (let i = 0; i < mono.length; i++) stereo[2 * i] = mono[i]!;
  return writeWav({ sampleRate: rate, channels: 2, samples: stereo });
}

const upload = (c: Client, name: string, wav: Buffer) => c.post('/api/v1/audio-files', { name, wav: wav.toString('base64') });


for (const [rate, channels] of [
  [8000, 1],
  [16000, 1],
  [44100, 1],
  [48000, 2],
] as const) {
  test(`a ${rate} Hz ${channels === 1 ? 'mono' : 'stereo'} upload is stored as 8 kHz mono with its tone intact`, async (t) => {
    const res = await upload(member, `tone ${rate} ${channels}`, toneWav(rate, 1000, channels));
    t.is(res.status, 201, JSON.stringify(res.body));
    t.like(res.body, { name: `tone ${rate} ${channels}`, mode: 'live', durationMs: 1000, sampleRate: 8000, bytes: 44 + 16000, source: { encoding: 'pcm16', sampleRate: rate, channels } });
    const got = await member.get(`/api/v1/audio-files/${res.body.id}`);
    t.deepEqual(got.body, res.body);
    const file = fs.readFileSync(app.engine.audioFiles.fileFor(res.body.id));
    const wav = parseWav(file);
    t.is(wav.sampleRate, 8000);
    t.is(wav.channels, 1);
    t.is(wav.samples.length, 8000);
    // The middle half second (away from the filter's edges) holds the tone at its level (a mix
    // of tone and silence is half of it), and no 2 kHz.
    const mid = wav.samples.subarray(2000, 6000);
    const expected = channels === 1 ? 16384 : 8192;
    t.true(Math.abs(toneLevel(mid, 1000) - expected) < 400, `1 kHz level ${toneLevel(mid, 1000).toFixed(0)}`);
    t.true(toneLevel(mid, 2000) < 100, `2 kHz level ${toneLevel(mid, 2000).toFixed(0)}`);
    t.log(`${rate} Hz x${channels}: 1 kHz at ${toneLevel(mid, 1000).toFixed(0)} (expected ${expected})`);
  });
}

test('G.711 μ-law and A-law WAV at 8 kHz are accepted', async (t) => {
  for (const [law, tag, encoding] of [
    ['PCMU', 7, 'ulaw'],
    ['PCMA', 6, 'alaw'],
  ] as const) {
    const data = g711Encode(law, sine(1000, 500));
    const wav = Buffer.alloc(44 + data.length);
    writeWavHeader(wav, 8000, 1, data.length);
    wav.writeUInt16LE(tag, 20);
    wav.writeUInt16LE(8, 34);
    data.copy(wav, 44);
    const res = await upload(member, `g711 ${law}`, wav);
    t.is(res.status, 201, JSON.stringify(res.body));
    t.like(res.body, { durationMs: 500, source: { encoding, sampleRate: 8000, channels: 1 } });
    const pcm = parseWav(fs.readFileSync(app.engine.audioFiles.fileFor(res.body.id))).samples;
    t.true(toneLevel(pcm, 1000) > 15000, `${law}: ${toneLevel(pcm, 1000)}`);
  }
});

test('calls that miss the sample cache at once read the file once and count its bytes once; a delete during the read leaves nothing cached', async (t) => {
  const files = app.engine.audioFiles;
  const made = await upload(member, 'cached once', toneWav(8000, 300));
  t.is(made.status, 201);
  const before = files.cachedBytes;
  const all = await Promise.all(Array.from({ length: 10 }, () => files.samples(made.body.id)));
  t.true(all.every((s) => s === all[0]), 'one read: the same samples for every caller');
  t.is(files.cachedBytes - before, all[0]!.byteLength);
  t.is((await files.samples(made.body.id))!, all[0]!, 'then a hit');
  // A read overtaken by the delete: its caller gets the samples, the cache keeps nothing.
  const other = await upload(member, 'deleted while read', toneWav(8000, 300));
  const reading = files.samples(other.body.id);
  t.is((await member.del(`/api/v1/audio-files/${other.body.id}`)).status, 204);
  t.truthy(await reading);
  t.is(files.cachedBytes - before, all[0]!.byteLength);
  t.is(await files.samples(other.body.id), null);
});

test('content is the stored WAV; list shows the files; viewers read but cannot write', async (t) => {
  const made = await upload(member, 'round trip', toneWav(8000, 200));
  const res = await fetch(`http://127.0.0.1:${app.http.port}/api/v1/audio-files/${made.body.id}/content`, { headers: viewerHeaders });
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'audio/wav');
  const bytes = Buffer.from(await res.arrayBuffer());
  t.deepEqual(bytes, fs.readFileSync(app.engine.audioFiles.fileFor(made.body.id)));
  t.deepEqual(parseWav(bytes).samples, sine(1000, 200, { amplitude: 0.5 }));
  const list = await viewer.get('/api/v1/audio-files?limit=100');
  t.is(list.status, 200);
  t.true(list.body.items.some((a: { id: string }) => a.id === made.body.id));
  assertError(t, await upload(viewer, 'nope', toneWav(8000, 100)), 'authorization_error', /role/i);
  assertError(t, await viewer.del(`/api/v1/audio-files/${made.body.id}`), 'authorization_error', /role/i);
});

test('scoped keys need audio_files:read to read and audio_files:write to upload', async (t) => {
  const reader = client(app, { 'x-api-key': mintKey(app, tenantId, { scopes: ['audio_files:read'] }) });
  const toolsOnly = client(app, { 'x-api-key': mintKey(app, tenantId, { scopes: ['tools:read', 'tools:write'] }) });
  t.is((await reader.get('/api/v1/audio-files')).status, 200);
  assertError(t, await upload(reader, 'scoped', toneWav(8000, 100)), 'authorization_error', /audio_files:write/);
  assertError(t, await toolsOnly.get('/api/v1/audio-files'), 'authorization_error', /audio_files:read/);
});

// Serial (ava runs these before the others): it counts the files on disk.
test.serial('bad uploads are 422 on wav, naming the problem; nothing is stored', async (t) => {
  const before = fs.readdirSync(app.engine.audioFiles.dir).length;
  const stereo24 = toneWav(24000, 100);
  const eightBit = Buffer.from(stereo24);
  eightBit.writeUInt16LE(8, 34);
  const surround = toneWav(8000, 100);
  surround.writeUInt16LE(6, 22);
  const odd = toneWav(8000, 100);
  odd.writeUInt32LE(11025, 24);
  const empty = toneWav(8000, 0);
  const cases: [string, Buffer, string][] = [
    ['text', Buffer.from('hello, not a wav'), 'Not a usable WAV file: not a RIFF/WAVE file'],
    ['no data', toneWav(8000, 100).subarray(0, 36), 'Not a usable WAV file: no data chunk'],
    ['8-bit PCM', eightBit, 'pcm16 WAV must have 16 bits per sample, not 8'],
    ['6 channels', surround, 'Only mono or stereo WAV is accepted, not 6 channels'],
    ['11025 Hz', odd, 'Unsupported sample rate 11025 Hz for pcm16 (accepted: 8000, 16000, 22050, 24000, 44100, 48000)'],
    ['empty', empty, 'The WAV file has no audio'],
  ];
  for (const [label, wav, message] of cases) {
    assertError(t, await upload(member, `bad ${label}`, wav), 'validation_error', 'Invalid request body', [{ field: 'wav', message }]);
  }
  assertError(t, await member.post('/api/v1/audio-files', { name: 'b64', wav: 'not base64!' }), 'validation_error', 'Invalid request body', [
    { field: 'wav', message: 'Must be base64 (A–Z a–z 0–9 + /, = padding, no line breaks)' },
  ]);
  t.is(fs.readdirSync(app.engine.audioFiles.dir).length, before);
  t.is((await member.get('/api/v1/audio-files?limit=100')).body.items.filter((a: { name: string }) => a.name.startsWith('bad ')).length, 0);
});

test('over the duration limit is 422 before any conversion', async (t) => {
  // 10 min 1 s of 8 kHz silence: 9.6 MB, under the body limit; refused on the header's figures.
  const samples = 8000 * 601;
  const wav = Buffer.alloc(44 + samples * 2);
  writeWavHeader(wav, 8000, 1, samples * 2);
  assertError(t, await upload(member, 'too long', wav), 'validation_error', 'Invalid request body', [
    { field: 'wav', message: 'The audio lasts 601000 ms; the limit is 600000 ms' },
  ]);
});

test('names are unique per tenant and mode: conflict', async (t) => {
  t.is((await upload(member, 'jingle', toneWav(8000, 100))).status, 201);
  assertError(t, await upload(member, 'jingle', toneWav(8000, 100)), 'conflict', 'An audio file named "jingle" already exists');
  t.is((await upload(testKey, 'jingle', toneWav(8000, 100))).status, 201, 'another mode');
  t.is((await upload(other, 'jingle', toneWav(8000, 100))).status, 201, 'another tenant');
});

test('other tenants and modes see nothing', async (t) => {
  const made = await upload(member, 'private', toneWav(8000, 100));
  for (const c of [other, testKey]) {
    assertError(t, await c.get(`/api/v1/audio-files/${made.body.id}`), 'not_found', 'No such audio file');
    assertError(t, await c.get(`/api/v1/audio-files/${made.body.id}/content`), 'not_found', 'No such audio file');
    assertError(t, await c.del(`/api/v1/audio-files/${made.body.id}`), 'not_found', 'No such audio file');
    t.false((await c.get('/api/v1/audio-files?limit=100')).body.items.some((a: { id: string }) => a.id === made.body.id));
  }
  t.is((await member.get(`/api/v1/audio-files/${made.body.id}`)).status, 200);
});

test('a workflow must name an existing file of its tenant; a file it plays cannot be deleted', async (t) => {
  const sound = await upload(member, 'welcome', toneWav(8000, 100));
  const foreign = await upload(other, 'foreign', toneWav(8000, 100));
  const graph = (audioFileId: string) => ({
    nodes: [
      { id: 'start', kind: 'start' },
      { id: 'welcome', kind: 'play', audioFileId },
      { id: 'bye', kind: 'hangup' },
    ],
    edges: [
      { from: 'start', to: 'welcome' },
      { from: 'welcome', to: 'bye' },
    ],
  });
  assertError(t, await member.post('/api/v1/workflows', { name: 'foreign', graph: graph(foreign.body.id) }), 'validation_error', 'Invalid request body', [
    { field: 'graph.nodes[1].audioFileId', message: `Audio file ${foreign.body.id} not found` },
  ]);
  const wf = await member.post('/api/v1/workflows', { name: 'plays welcome', graph: graph(sound.body.id) });
  t.is(wf.status, 201, JSON.stringify(wf.body));
  assertError(t, await member.del(`/api/v1/audio-files/${sound.body.id}`), 'conflict', `Audio file is used by workflow(s) ${wf.body.id}`);
  // A new version without it frees it.
  const noPlay = { nodes: [{ id: 'start', kind: 'start' }, { id: 'bye', kind: 'hangup' }], edges: [{ from: 'start', to: 'bye' }] };
  t.is((await member.patch(`/api/v1/workflows/${wf.body.id}`, { graph: noPlay })).status, 200);
  t.is((await member.del(`/api/v1/audio-files/${sound.body.id}`)).status, 204);
  t.false(fs.existsSync(app.engine.audioFiles.fileFor(sound.body.id)));
  assertError(t, await member.get(`/api/v1/audio-files/${sound.body.id}`), 'not_found', 'No such audio file');
});

test("a deleted tenant's audio files leave the disk", async (t) => {
  const doomed = await seedTenant(app);
  const c = client(app, doomed.headers);
  const a = await upload(c, 'one', toneWav(8000, 100));
  const b = await upload(client(app, { 'x-api-key': mintKey(app, doomed.tenantId, { mode: 'test' }) }), 'two', toneWav(8000, 100));
  const files = [a.body.id, b.body.id].map((id: string) => app.engine.audioFiles.fileFor(id));
  t.true(files.every((f) => fs.existsSync(f)));
  t.is((await superAdmin.del(`/api/v1/tenants/${doomed.tenantId}`)).status, 204);
  t.deepEqual(files.map((f) => fs.existsSync(f)), [false, false]);
});

test.serial('start-up sweep removes files without a row', async (t) => {
  const stray = app.engine.audioFiles.fileFor('00000000-0000-4000-8000-000000000001');
  fs.writeFileSync(stray, toneWav(8000, 20));
  const kept = await upload(member, 'kept', toneWav(8000, 20));
  t.is(await app.engine.audioFiles.sweep(), 1);
  t.false(fs.existsSync(stray));
  t.true(fs.existsSync(app.engine.audioFiles.fileFor(kept.body.id)));
});
