/**
 * Serving a recording file: whole, by byte range, to a slow reader (backpressure: the file is
 * read a chunk at a time as the client takes it) and to one that hangs up (the file is closed).
 * The recording is a real file where the engine keeps them; the call row is the store's.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import test from 'ava';
import { writeWavHeader } from '../../media/audio/wav.js';
import { useApp } from '../helpers/app.js';
import { seedTenant, type SeededTenant } from '../helpers/tenant.js';

const r = useApp(test);
let tenant: SeededTenant;
let callId: string;
let file: string;
/** A 4 MB recording: more than the socket and uWS buffer, so a slow reader makes uWS wait. */
let bytes: Buffer;

test.before(async () => {
  await r.ready;
  tenant = await seedTenant(r.app);
  const calls = r.app.engine.store.calls;
  callId = calls.create({ tenantId: tenant.tenantId, mode: 'live', direction: 'inbound' }).id;
  const data = randomBytes(4 * 1024 * 1024);
  const header = Buffer.alloc(44);
  writeWavHeader(header, 8000, 2, data.length);
  bytes = Buffer.concat([header, data]);
  file = r.app.engine.recordings.fileFor(callId);
  fs.writeFileSync(file, bytes);
  calls.setRecording(callId, { status: 'complete', startedAt: new Date().toISOString(), durationMs: data.length / 32, bytes: bytes.length, error: null });
});

const url = () => `${r.base}/api/v1/calls/${callId}/recording`;

/** File descriptors of this process open on the recording. */
const openOnFile = () =>
  fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false;
    }
  }).length;

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

test.serial('the whole file, with its length, type and a download name', async (t) => {
  const res = await fetch(url(), { headers: tenant.headers });
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'audio/wav');
  t.is(res.headers.get('content-length'), String(bytes.length));
  t.is(res.headers.get('content-disposition'), `attachment; filename="${callId}.wav"`);
  t.true(Buffer.from(await res.arrayBuffer()).equals(bytes));
  await sleep(50);
  t.is(openOnFile(), 0, 'the file is closed after the response');
});

test.serial('one byte range is 206 with Content-Range; several, or one past the end, get the whole file', async (t) => {
  const size = bytes.length;
  const cases: [string, number, string | null, Buffer][] = [
    ['bytes=100-199', 206, `bytes 100-199/${size}`, bytes.subarray(100, 200)],
    ['bytes=-10', 206, `bytes ${size - 10}-${size - 1}/${size}`, bytes.subarray(size - 10)],
    [`bytes=${size - 5}-`, 206, `bytes ${size - 5}-${size - 1}/${size}`, bytes.subarray(size - 5)],
    [`bytes=${size - 5}-${size + 100}`, 206, `bytes ${size - 5}-${size - 1}/${size}`, bytes.subarray(size - 5)],
    [`bytes=${size}-`, 200, null, bytes],
    ['bytes=0-1,5-9', 200, null, bytes],
    ['items=0-9', 200, null, bytes],
  ];
  for (const [range, status, contentRange, body] of cases) {
    const res = await fetch(url(), { headers: { ...tenant.headers, range } });
    t.is(res.status, status, range);
    t.is(res.headers.get('content-range'), contentRange, range);
    t.is(res.headers.get('content-length'), String(body.length), range);
    t.true(Buffer.from(await res.arrayBuffer()).equals(body), range);
  }
});

test.serial('a slow reader gets every byte (the file is read as the client takes it)', async (t) => {
  const got = await new Promise<Buffer>((resolve, reject) => {
    http.get(url(), { headers: tenant.headers }, (res) => {
      const chunks: Buffer[] = [];
      let paused = 0;
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        // Three pauses of 300 ms: the socket fills and uWS waits for onWritable.
        if (paused < 3 && chunks.length % 20 === 1) {
          paused++;
          res.pause();
          setTimeout(() => res.resume(), 300);
        }
      });
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    }).on('error', reject);
  });
  t.is(got.length, bytes.length);
  t.true(got.equals(bytes));
});

test.serial('a client that hangs up mid-file: the file is closed and the engine serves on', async (t) => {
  await new Promise<void>((resolve, reject) => {
    const req = http.get(url(), { headers: tenant.headers }, (res) => {
      res.once('data', () => {
        res.pause();
        req.destroy();
        resolve();
      });
    });
    req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(e)));
  });
  let open = 1;
  for (let i = 0; i < 50 && open; i++) {
    await sleep(20);
    open = openOnFile();
  }
  t.is(open, 0, 'no descriptor left on the recording');
  const res = await fetch(url(), { headers: { ...tenant.headers, range: 'bytes=0-3' } });
  t.is(res.status, 206);
  t.is(await res.text(), 'RIFF');
});
