import test from 'ava';
import fc from 'fast-check';
import { splitSentences } from '../../../../engine/agents/providers/tts/sentences.js';

test('text is cut at sentence ends, not after abbreviations, initials or times', (t) => {
  t.deepEqual(splitSentences('Hello, thank you for calling. How can I help?  "Great!" she said.'), [
    'Hello, thank you for calling.',
    'How can I help?',
    '"Great!" she said.',
  ]);
  t.deepEqual(splitSentences('Dr. Smith will see you at 3 p.m. on Jan. 5th. J. R. Jones is away. Call 555 1234.'), [
    'Dr. Smith will see you at 3 p.m. on Jan. 5th.',
    'J. R. Jones is away.',
    'Call 555 1234.',
  ]);
  t.deepEqual(splitSentences('It costs 3.50 dollars. Thank you. fruit, e.g. apples.'), ['It costs 3.50 dollars.', 'Thank you. fruit, e.g. apples.']);
});

test('nothing to say gives no piece; control characters become spaces', (t) => {
  t.deepEqual(splitSentences(''), []);
  t.deepEqual(splitSentences(' ... !!! '), []);
  t.deepEqual(splitSentences('x\u0000y\u202ez'), ['x y z']);
});

test('a long sentence is cut at a comma, else a space, else anywhere, within the limit', (t) => {
  const long = `${'word '.repeat(30)}, and then ${'more '.repeat(40)}`;
  const pieces = splitSentences(long, 200);
  t.true(pieces.every((p) => p.length <= 200));
  t.true(pieces[0]!.endsWith(','));
  t.deepEqual(splitSentences('a'.repeat(250), 100).map((p) => p.length), [100, 100, 50]);
});

const runs = 300;
test(`any text: pieces are within the limit and keep every word, in order (${runs} cases)`, (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 600, unit: fc.constantFrom('a', 'B', '7', ' ', '.', '!', '?', ',', 'é', '\n', '"', 'Dr') }), (text) => {
      const pieces = splitSentences(text, 80);
      const squash = (s: string) => s.replace(/[^\p{L}\p{N}]/gu, '');
      return pieces.every((p) => p.length <= 80 && p.length > 0) && squash(pieces.join('')) === squash(text);
    }),
    { numRuns: runs },
  );
  t.pass();
});
