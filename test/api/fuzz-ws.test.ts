/**
 * Property: on `/api/v1/ws` of a real engine process, any sequence of frames (valid per the
 * `x-websocket` client-frame schema of `/openapi.json`, mutated, random JSON, deep, wide, binary,
 * empty, with prototype keys, not UTF-8, oversized), on a connection authenticated by header, by
 * `auth` frame, by a bad credential or not at all, gets only documented server frames and
 * documented close codes; a connection that is authenticated and sent nothing the document says
 * drops it is still open and answers a final ping; the process lives; tenant B is untouched.
 *
 * `FUZZ_SEED` replays a run; `FUZZ_RUNS` changes the number of connections.
 */
import test from 'ava';
import fc from 'fast-check';
import { errorTable } from '../../api/http/errors.js';
import { serverFrameSchema } from '../../api/realtime/ws-frames.js';
import type { EngineProcess } from '../helpers/engine-process.js';
import { startFuzzEngine } from '../helpers/fuzz-engine.js';
import { request } from '../helpers/http.js';
import { fromSchema, mutated, type OpenApiDoc } from '../helpers/openapi-arbitraries.js';
import { UpgradeRefused, WsClient, type Frame } from './realtime/ws-client.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

let engine: EngineProcess;
let port: number;
let clientFrames: Record<string, unknown>;
let doc: OpenApiDoc;
let closeCodes: Set<number>;
let snapshotB: () => string;
const creds: Record<string, string> = {};

test.before(async () => {
  const f = await startFuzzEngine('fuzz-ws');
  ({ engine, port, snapshotB } = f);
  await f.call('POST', '/api/v1/agents', f.ownerB, { name: 'b', config: { prompt: { system: 'x' } } });
  creds.key = f.adminKey(['--rate-limit', '1000000']);
  creds.viewerKey = f.adminKey(['--role', 'viewer', '--scopes', 'calls:read']);
  creds.token = (f.owner.headers.authorization ?? '').slice('Bearer '.length);
  doc = (await request<OpenApiDoc>(f.base, 'GET', '/openapi.json')).body;
  const ws = (doc.paths['/api/v1/ws']!.get as unknown as { 'x-websocket': { clientFrames: Record<string, unknown>; closeCodes: Record<string, string> } })['x-websocket'];
  clientFrames = ws.clientFrames;
  closeCodes = new Set(Object.keys(ws.closeCodes).map(Number));
});

test.after.always(() => engine?.child.kill('SIGKILL'));

/** A frame to send: its opcode and bytes, and whether the document says it drops the connection. */
interface Out {
  kind: string;
  binary: boolean;
  bytes: Buffer;
  drops: boolean;
  [k: symbol]: () => string;
}

const out = (kind: string, bytes: Buffer, binary = false, drops = false): Out => ({
  kind,
  binary,
  bytes,
  drops,
  [fc.toStringMethod]: () => `${kind}(${bytes.length} B): ${JSON.stringify(bytes.subarray(0, 120).toString('latin1'))}`,
});

function frameArb(): fc.Arbitrary<Out> {
  const valid = fromSchema(doc, clientFrames);
  const text = (kind: string, a: fc.Arbitrary<unknown>) => a.map((v) => out(kind, Buffer.from(JSON.stringify(v) ?? 'null')));
  return fc.oneof(
    { arbitrary: text('valid', valid), weight: 6 },
    { arbitrary: text('mutated', mutated(valid)), weight: 4 },
    { arbitrary: text('random-json', fc.jsonValue({ maxDepth: 3 })), weight: 2 },
    { arbitrary: fc.integer({ min: 65, max: 3000 }).map((n) => out('deep', Buffer.from(`{"type":"subscribe","id":1,"topics":${'['.repeat(n)}${']'.repeat(n)}}`))), weight: 1 },
    { arbitrary: fc.constantFrom('{"type":"ping","id":1,"__proto__":{"x":1}}', '{"type":"auth","id":2,"constructor":{"prototype":{}}}').map((s) => out('proto', Buffer.from(s))), weight: 1 },
    { arbitrary: fc.uint8Array({ maxLength: 512 }).map((b) => out('binary', Buffer.from(b), true)), weight: 1 },
    { arbitrary: fc.constantFrom('', ' ', 'null', '[]', '{}', '"ping"', '1e999', '{"type":"ping"}', '{"type":"ping","id":null}').map((s) => out('scalar', Buffer.from(s))), weight: 2 },
    { arbitrary: fc.constant(out('bad-utf8', Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), false, true)), weight: 1 },
    { arbitrary: fc.constant(out('oversized', Buffer.from(`"${'x'.repeat(70_000)}"`), false, true)), weight: 1 },
  );
}

type Auth = 'header-key' | 'header-token' | 'header-viewer' | 'frame-key' | 'frame-token' | 'bad-header' | 'none';

const failures: string[] = [];

test.serial('WebSocket frames: documented frames and close codes only, the connection lives unless the document says, the process lives', async (t) => {
  t.log(`seed ${SEED} (replay with FUZZ_SEED=${SEED}); ${RUNS} connections of 1-6 frames`);
  const before = snapshotB();
  const tally = new Map<string, number>();
  const count = (k: string) => tally.set(k, (tally.get(k) ?? 0) + 1);
  let frames = 0;
  const started = Date.now();
  const auths: Auth[] = ['header-key', 'header-token', 'header-viewer', 'frame-key', 'frame-token', 'bad-header', 'none'];
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...auths), fc.array(frameArb(), { minLength: 1, maxLength: 6 }), async (auth, sent) => {
      frames += sent.length;
      const headers: Record<string, string> =
        auth === 'header-key' ? { 'x-api-key': creds.key! } : auth === 'header-token' ? { authorization: `Bearer ${creds.token!}` }
        : auth === 'header-viewer' ? { 'x-api-key': creds.viewerKey! } : auth === 'bad-header' ? { 'x-api-key': 'as_live_nope' } : {};
      let c: WsClient;
      try {
        c = await WsClient.connect(port, headers);
      } catch (e) {
        if (e instanceof UpgradeRefused && auth === 'bad-header' && e.response.status === 401) {
          count('refused 401');
          return;
        }
        throw e;
      }
      try {
        if (auth === 'frame-key') c.send({ type: 'auth', id: 'a', apiKey: creds.key });
        if (auth === 'frame-token') c.send({ type: 'auth', id: 'a', token: creds.token });
        for (const f of sent) {
          if (f.binary) c.sendBinary(f.bytes);
          else c.sendTextBytes(f.bytes);
        }
        c.send({ type: 'ping', id: 'final' });
        const end = await Promise.race([c.waitFor((f) => f.id === 'final', 10_000).then(() => 'answered'), c.closed.then(() => 'closed')]).catch(
          (e: Error) => `no answer: ${e.message.slice(0, 200)}`,
        );
        const closed = await Promise.race([c.closed, new Promise<null>((r) => setTimeout(() => r(null), 0))]);
        check(c.frames, closed?.code ?? null, end, auth, sent);
        count(`${auth}: ${end}${closed ? ` ${String(closed.code)}` : ''}`);
      } finally {
        c.destroy();
      }
      if (engine.child.exitCode !== null) throw new Error(`engine exited ${engine.child.exitCode}\n${engine.stderr().slice(-2000)}`);
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true, includeErrorInReport: true },
  );
  const s = (Date.now() - started) / 1000;
  t.log(`${RUNS} connections, ${frames} fuzzed frames in ${s.toFixed(1)} s (${(frames / s).toFixed(0)} frames/s)`);
  t.log([...tally].sort().map(([k, v]) => `${k}: ${v}`).join('\n'));
  t.deepEqual(failures, []);
  t.is(engine.child.exitCode, null);
  t.is((await request(`http://127.0.0.1:${port}`, 'GET', '/api/v1/health/live')).status, 200);
  t.is(snapshotB(), before, 'tenant B changed');
});

/** Throws when the connection's frames or end break the document. */
function check(got: Frame[], closeCode: number | null, end: string, auth: Auth, sent: Out[]): void {
  for (const f of got) {
    const parsed = serverFrameSchema.safeParse(f);
    if (!parsed.success) throw new Error(`undocumented frame ${JSON.stringify(f)}`);
    if (f.type === 'error') {
      const code = (f.error as { code: keyof typeof errorTable }).code;
      if (code === 'internal_error') throw new Error(`internal_error frame ${JSON.stringify(f)}`);
    }
  }
  if (closeCode !== null && !closeCodes.has(closeCode)) throw new Error(`undocumented close code ${closeCode}`);
  const authenticated = auth.startsWith('header-') || auth.startsWith('frame-');
  const drops = sent.some((f) => f.drops);
  // Authenticated, and nothing sent that the document says drops the connection: it is open and answers.
  if (authenticated && !drops && end !== 'answered') throw new Error(`connection ended (${end}, close ${closeCode}); frames ${JSON.stringify(got).slice(0, 500)}`);
  // Not authenticated: the first frame must be auth; anything else is an error frame, then 4401.
  if (auth === 'none' && end === 'closed' && closeCode !== null && closeCode !== 4401) throw new Error(`closed ${closeCode} without auth`);
}
