/**
 * The streaming sentence chunker: where it cuts and where it must not, and, with fast-check,
 * that whatever the delta boundaries, the sentences are the same and together hold the whole
 * text (modulo whitespace).
 */
import test from 'ava';
import fc from 'fast-check';
import { SentenceChunker } from '../../../engine/agents/llm/sentences.js';

/** Pushes `deltas` one by one, then flushes: every sentence returned, in order. */
function chunk(deltas: string[], chunker = new SentenceChunker()): string[] {
  const out = deltas.flatMap((d) => chunker.push(d));
  const rest = chunker.flush();
  return rest === null ? out : [...out, rest];
}

/** The text cut at the given offsets. */
function split(text: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let prev = 0;
  for (const c of [...at, text.length]) {
    pieces.push(text.slice(prev, c));
    prev = c;
  }
  return pieces;
}

test('cuts at sentence ends, question and exclamation marks, ellipses and newlines', (t) => {
  t.deepEqual(chunk(['Hello there! How are you? I am fine. Thanks… Bye']), ['Hello there!', 'How are you?', 'I am fine.', 'Thanks…', 'Bye']);
  t.deepEqual(chunk(['He said "Stop!" and left. "Really?" she asked.']), ['He said "Stop!"', 'and left.', '"Really?"', 'she asked.']);
  t.deepEqual(chunk(['Wait... what?! No way.)']), ['Wait...', 'what?!', 'No way.)']);
  t.deepEqual(chunk(['Options:\n- one\n- two\n\nDone']), ['Options:', '- one', '- two', 'Done']);
});

test('does not cut decimals, times, amounts, abbreviations, initials or list numbers', (t) => {
  t.deepEqual(chunk(['It costs 3.5 dollars, or 1,000.50 in bulk. We open at 10.30 tomorrow.']), [
    'It costs 3.5 dollars, or 1,000.50 in bulk.',
    'We open at 10.30 tomorrow.',
  ]);
  t.deepEqual(chunk(['Dr. Smith and Mr. Jones met Mrs. Brown, e.g. at lunch, i.e. noon, etc. and so on. Done.']), [
    'Dr. Smith and Mr. Jones met Mrs. Brown, e.g. at lunch, i.e. noon, etc. and so on.',
    'Done.',
  ]);
  t.deepEqual(chunk(['J. R. R. Tolkien wrote it. So did I. Next.']), ['J. R. R. Tolkien wrote it.', 'So did I.', 'Next.']);
  t.deepEqual(chunk(['1. Open the app. 2. Tap call.']), ['1. Open the app.', '2. Tap call.']);
});

test('a terminator at the end of a delta waits for the next character', (t) => {
  const c = new SentenceChunker();
  t.deepEqual(c.push('It is 3.'), []);
  t.deepEqual(c.push('5 degrees. And'), ['It is 3.5 degrees.']);
  t.deepEqual(c.push(' sunny!'), []);
  t.deepEqual(c.push(' '), ['And sunny!']);
  t.is(c.flush(), null, 'nothing left, never an empty string');
  t.deepEqual(c.push('Dr'), []);
  t.deepEqual(c.push('. Who is here'), []);
  t.is(c.flush(), 'Dr. Who is here');
});

test('colons and semicolons cut only long sentences; a run-on sentence is cut near 200 characters', (t) => {
  t.deepEqual(chunk(['Note: this is short; keep it.']), ['Note: this is short; keep it.']);
  const long = `${'word '.repeat(20)}and then: the rest; more.`;
  t.deepEqual(chunk([long]), [`${'word '.repeat(20)}and then:`, 'the rest; more.']);
  const runOn = 'blah '.repeat(100);
  const parts = chunk([runOn]);
  t.true(parts.length >= 2);
  for (const p of parts.slice(0, -1)) t.true(p.length >= 199 && p.length <= 205, `${p.length} characters`);
  const endless = 'x'.repeat(1000);
  t.deepEqual(chunk([endless]).map((p) => p.length), [400, 400, 200], 'one endless word is cut at 400');
});

const RUNS = 400;

// Text built from pieces that exercise every rule: words, terminators, abbreviations, numbers,
// quotes, newlines, emoji and runs of whitespace.
const piece = fc.oneof(
  fc.constantFrom('Dr.', 'Mr.', 'e.g.', 'i.e.', 'etc.', 'J.', 'I.', '3.5', '10.30', '1,000.50', '1.', '…', '...', '?!', '"Hi."', ':', ';', '\n', '👋', 'é'),
  fc.constantFrom(' ', '  ', '\t', ' \n '),
  fc.stringMatching(/^[a-zA-Z]{1,12}$/),
  fc.string({ maxLength: 6 }),
);
const text = fc.array(piece, { maxLength: 120 }).map((ps) => ps.join(''));
const cuts = fc.array(fc.nat(), { maxLength: 30 });

test(`the sentences hold the whole text whatever the delta boundaries (${RUNS} runs, texts of up to 120 pieces, up to 30 cuts)`, (t) => {
  const strip = (s: string) => s.replace(/\s+/g, '');
  fc.assert(
    fc.property(text, cuts, (input, at) => {
      const sentences = chunk(split(input, at));
      if (strip(sentences.join('')) !== strip(input)) return false;
      return sentences.every((s) => s !== '' && s === s.trim() && s.length <= 401);
    }),
    { numRuns: RUNS },
  );
  t.pass();
});

test(`the cuts do not depend on the delta boundaries (${RUNS} runs, compared with the whole text pushed at once)`, (t) => {
  fc.assert(
    fc.property(text, cuts, (input, at) => {
      const whole = chunk([input]);
      const pieces = chunk(split(input, at));
      const chars = chunk([...input]);
      return JSON.stringify(pieces) === JSON.stringify(whole) && JSON.stringify(chars) === JSON.stringify(whole);
    }),
    { numRuns: RUNS },
  );
  t.pass();
});
