/** The INFO DTMF body parser: examples from real gateways, and properties over any input. */
import test from 'ava';
import fc from 'fast-check';
import { parseDtmfInfo } from '../../../engine/calls/dtmf-in.js';

const relay = 'application/dtmf-relay';

test('bodies as gateways send them', (t) => {
  t.deepEqual(parseDtmfInfo(relay, 'Signal=5\r\nDuration=160\r\n'), { kind: 'digit', digit: '5', durationMs: 160 });
  t.deepEqual(parseDtmfInfo('Application/DTMF-Relay; charset=utf-8', 'signal= #\nduration =250'), { kind: 'digit', digit: '#', durationMs: 250 });
  t.deepEqual(parseDtmfInfo(relay, 'Signal=*'), { kind: 'digit', digit: '*', durationMs: null });
  t.deepEqual(parseDtmfInfo(relay, 'Signal=11\rDuration=x'), { kind: 'digit', digit: '#', durationMs: null }, 'event number, CR only, bad duration dropped');
  t.deepEqual(parseDtmfInfo(relay, 'Signal=16'), { kind: 'digit', digit: 'flash', durationMs: null });
  t.deepEqual(parseDtmfInfo(relay, 'Signal=d\r\n'), { kind: 'digit', digit: 'D', durationMs: null });
  t.deepEqual(parseDtmfInfo('application/dtmf', '9\r\n'), { kind: 'digit', digit: '9', durationMs: null });
  t.deepEqual(parseDtmfInfo(relay, ''), { kind: 'empty' });
  t.deepEqual(parseDtmfInfo(relay, undefined), { kind: 'empty' });
  t.like(parseDtmfInfo(relay, 'Signal=X\r\nDuration=100'), { kind: 'malformed' });
  t.like(parseDtmfInfo(relay, 'Duration=100'), { kind: 'malformed' });
  t.like(parseDtmfInfo(relay, 'Signal=17'), { kind: 'malformed' });
  t.like(parseDtmfInfo('application/dtmf', '55'), { kind: 'malformed' });
  t.like(parseDtmfInfo(relay, `Signal=5\r\n${'x'.repeat(2000)}`), { kind: 'malformed' });
  t.deepEqual(parseDtmfInfo('application/media_control+xml', '<media_control/>'), { kind: 'other' });
  t.deepEqual(parseDtmfInfo(undefined, 'Signal=5'), { kind: 'other' });
});

const RUNS = 3000;

test(`any content type and body: never throws, one of four answers (${RUNS} cases per run)`, (t) => {
  const type = fc.oneof(fc.constantFrom(relay, 'application/dtmf', 'APPLICATION/DTMF-RELAY;x=1', 'text/plain'), fc.string());
  const body = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.array(fc.oneof(fc.constantFrom('Signal=', 'signal=', 'Duration=', '=', '\r\n', '\n', '\r', ' '), fc.string({ maxLength: 6 })), { maxLength: 12 }).map((a) => a.join('')),
    fc.constant(undefined),
  );
  fc.assert(
    fc.property(type, body, (ct, b) => {
      const r = parseDtmfInfo(ct, b);
      if (!['digit', 'empty', 'malformed', 'other'].includes(r.kind)) return false;
      if (r.kind === 'digit') return /^([0-9*#A-D]|flash)$/.test(r.digit) && (r.durationMs === null || Number.isInteger(r.durationMs));
      return true;
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test(`well-formed dtmf-relay bodies in any spelling give back their digit and duration (${RUNS} cases per run)`, (t) => {
  const digit = fc.constantFrom(...'0123456789*#ABCD');
  const caseOf = (word: string) => fc.array(fc.boolean(), { minLength: word.length, maxLength: word.length }).map((up) => [...word].map((c, i) => (up[i] ? c.toUpperCase() : c.toLowerCase())).join(''));
  const eol = fc.constantFrom('\r\n', '\n', '\r');
  const space = fc.constantFrom('', ' ', '  ', '\t');
  const body = fc.record({
    digit,
    lower: fc.boolean(),
    duration: fc.option(fc.integer({ min: 0, max: 999_999 }), { nil: undefined }),
    signalKey: caseOf('signal'),
    durationKey: caseOf('duration'),
    eol,
    space,
    durationFirst: fc.boolean(),
    junk: fc.array(fc.string({ maxLength: 10 }).filter((s) => !/[=\r\n]/.test(s)), { maxLength: 3 }),
    trailingEol: fc.boolean(),
  });
  fc.assert(
    fc.property(body, (b) => {
      const sig = `${b.signalKey}${b.space}=${b.space}${b.lower ? b.digit.toLowerCase() : b.digit}${b.space}`;
      const dur = b.duration === undefined ? [] : [`${b.durationKey}=${b.space}${b.duration}`];
      const lines = [...b.junk, ...(b.durationFirst ? [...dur, sig] : [sig, ...dur])];
      const text = lines.join(b.eol) + (b.trailingEol ? b.eol : '');
      const r = parseDtmfInfo(relay, text);
      return r.kind === 'digit' && r.digit === b.digit && r.durationMs === (b.duration ?? null);
    }),
    { numRuns: RUNS },
  );
  t.pass();
});
