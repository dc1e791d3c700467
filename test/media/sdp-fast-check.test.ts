/**
 * parseSdp's check without zod (`checkedSession`) against the zod schema it stands in for
 * (`checkedBySchema`): whenever it answers, the schema accepts the same parse and returns the
 * same value; whenever the schema refuses, it declines (null) and the schema words the refusal.
 */
import test from 'ava';
import fc from 'fast-check';
import sdpTransform from 'sdp-transform';
import { checkedBySchema, checkedSession } from '../../media/sdp/parse.js';
import { baresipHold, baresipInvite, baresipResume, carrierPcma, sippUac } from './fixtures/sdp-offers.js';
import { chromiumOffer } from './fixtures/webrtc-offers.js';

const offers = { sippUac, carrierPcma, baresipInvite, baresipHold, baresipResume, chromiumOffer };

/** The schema's verdict: its value, or 'refused'. */
function bySchema(raw: unknown): unknown {
  try {
    return checkedBySchema(raw);
  } catch {
    return 'refused';
  }
}

function agrees(raw: unknown): { fast: boolean; ok: boolean; why?: string } {
  const fast = checkedSession(raw);
  const ref = bySchema(raw);
  if (fast === null) return { fast: false, ok: true };
  if (ref === 'refused') return { fast: true, ok: false, why: 'the fast check accepted what the schema refuses' };
  const same = JSON.stringify(fast) === JSON.stringify(ref);
  return same ? { fast: true, ok: true } : { fast: true, ok: false, why: `${JSON.stringify(fast)} != ${JSON.stringify(ref)}` };
}

test('real offers (SIPp, a carrier, baresip, Chromium) take the fast check and get the schema\'s value', (t) => {
  for (const [name, text] of Object.entries(offers)) {
    const r = agrees(sdpTransform.parse(text));
    t.true(r.fast, `${name} fell back to the schema`);
    t.true(r.ok, `${name}: ${r.why}`);
  }
});

/**
 * An edit of a parsed SDP: a walk down its real fields (each step picks one of the keys there,
 * or a stray one), then the last field replaced by a value or removed.
 */
const edit = fc.record({
  steps: fc.array(fc.nat(40), { minLength: 1, maxLength: 6 }),
  value: fc.oneof(
    fc.anything({ maxDepth: 2 }),
    fc.integer({ min: -10, max: 70000 }),
    fc.double(),
    fc.constantFrom(0, 4, 6, 127, 128, 200, 65535, 65536, -1, 1.5, '', 'x', 'sendrecv', 'nope', '127.0.0.1', 'a..b', null, undefined, [], {}),
  ),
  remove: fc.boolean(),
});

const strays = ['stray', 'rate', 'encoding', 'mid', 'ptime', 'rtcp', 'ssrcs', 'connection', 'direction', 'payloads'];

function applyEdit(raw: Record<string, unknown>, e: { steps: number[]; value: unknown; remove: boolean }): void {
  let at = raw as Record<string, unknown>;
  for (let i = 0; i < e.steps.length; i++) {
    const keys = [...Object.keys(at), strays[e.steps[i]! % strays.length]!];
    const key = keys[e.steps[i]! % keys.length]!;
    const next = at[key];
    if (i === e.steps.length - 1 || typeof next !== 'object' || next === null) {
      if (e.remove) delete at[key];
      else at[key] = e.value;
      return;
    }
    at = next as Record<string, unknown>;
  }
}

const runs = 3000;

test(`property: over edited parses of real offers, the fast check never accepts what the schema refuses and returns the schema's value (${runs} cases)`, (t) => {
  let fast = 0;
  let fellBack = 0;
  fc.assert(
    fc.property(fc.constantFrom(...Object.values(offers)), fc.array(edit, { minLength: 1, maxLength: 3 }), (text, edits) => {
      const raw = sdpTransform.parse(text) as unknown as Record<string, unknown>;
      for (const e of edits) applyEdit(raw, e);
      const r = agrees(raw);
      if (r.fast) fast++;
      else fellBack++;
      if (!r.ok) throw new Error(r.why);
    }),
    { numRuns: runs },
  );
  t.log(`${fast} answered by the fast check, ${fellBack} left to the schema`);
  t.true(fast > 0 && fellBack > 0);
});

test('every checked field at its boundaries and past them: the fast check agrees with the schema', (t) => {
  const fields = [
    ['version'], ['origin', 'ipVer'], ['origin', 'username'], ['origin', 'sessionId'], ['origin', 'address'], ['connection', 'version'], ['connection', 'ip'],
    ['direction'], ['media', 0, 'type'], ['media', 0, 'port'], ['media', 0, 'protocol'], ['media', 0, 'payloads'], ['media', 0, 'rtp', 0, 'payload'],
    ['media', 0, 'rtp', 0, 'codec'], ['media', 0, 'rtp', 0, 'rate'], ['media', 0, 'rtp', 0, 'encoding'], ['media', 0, 'fmtp', 0, 'payload'],
    ['media', 0, 'fmtp', 0, 'config'], ['media', 0, 'rtcp', 'port'], ['media', 0, 'rtcpMux'], ['media', 0, 'direction'], ['media', 0, 'ptime'],
    ['media', 0, 'ssrcs', 0, 'id'], ['media', 0, 'mid'], ['media', 0, 'connection', 'ip'], ['media', 0, 'connection', 'version'],
  ] as const;
  const values = [-1, 0, 0.5, 1, 4, 5, 6, 127, 128, 65535, 65536, 2 ** 53, Infinity, NaN, '', 'x', 'X1', '0', 'sendrecv', 'recvonly', 'bogus', '192.0.2.1', '::1', 'a..b', 'host.example', null, true, [], {}, { port: 1 }];
  let cases = 0;
  for (const text of [sippUac, baresipInvite, chromiumOffer]) {
    for (const path of fields) {
      for (const value of values) {
        const raw = sdpTransform.parse(text) as unknown as Record<string, unknown>;
        let at = raw as Record<string | number, unknown>;
        let reachable = true;
        const steps: readonly (string | number)[] = path;
        for (let i = 0; i < steps.length - 1; i++) {
          const k = steps[i]!;
          const next = at[k];
          if (typeof next !== 'object' || next === null) at[k] = typeof steps[i + 1] === 'number' ? [{}] : {};
          at = at[k] as Record<string | number, unknown>;
          if (typeof at !== 'object' || at === null) reachable = false;
        }
        if (!reachable) continue;
        at[steps[steps.length - 1]!] = value;
        const r = agrees(raw);
        cases++;
        if (!r.ok) t.fail(`${path.join('.')} = ${JSON.stringify(value)}: ${r.why}`);
      }
    }
  }
  t.log(`${cases} edits`);
  t.pass();
});
