/**
 * Splits text for speech into pieces that can be synthesised one by one: at sentence ends,
 * and a sentence longer than `maxChars` at a comma, semicolon, colon or space. The first piece
 * is short when the first sentence is, so the first audio is ready early.
 *
 * A sentence ends at . ! ? or … (closing quotes and brackets may follow) before white space
 * and a word that starts with a capital, a digit or a quote, unless the word before the stop
 * is a common abbreviation ("Dr.", "Jan.") or a single letter ("J. Smith"): "3 p.m. on Jan. 5"
 * stays one piece.
 */

/** Long enough for any ordinary sentence, short enough for ~15 s of speech per piece. */
const defaultMaxChars = 300;

const abbreviations = new Set(
  'mr mrs ms dr prof st jr sr vs etc no nos approx dept est inc ltd co corp ave blvd rd mt ft jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun e.g i.e a.m p.m'.split(' '),
);

const sentenceEnd = /[.!?…]["'’”)\]]*\s+(?=["'“‘(]?[\p{Lu}\p{N}])/gu;

export function splitSentences(text: string, maxChars = defaultMaxChars): string[] {
  // Control characters are not speech (and a NUL would cut the argument short).
  const clean = text.replace(/[\p{Cc}\p{Cf}]/gu, ' ');
  const out: string[] = [];
  let start = 0;
  for (const m of clean.matchAll(sentenceEnd)) {
    const end = m.index + m[0].length;
    const before = clean.slice(start, m.index + 1);
    const lastWord = /([\p{L}.]+)\.$/u.exec(before.trimEnd())?.[1]?.toLowerCase() ?? '';
    if (abbreviations.has(lastWord) || /^\p{L}$/u.test(lastWord)) continue;
    pushPiece(out, clean.slice(start, end), maxChars);
    start = end;
  }
  pushPiece(out, clean.slice(start), maxChars);
  return out;
}

function pushPiece(out: string[], sentence: string, maxChars: number): void {
  let rest = sentence.replace(/\s+/gu, ' ').trim();
  while (rest.length > maxChars) {
    const window = rest.slice(0, maxChars);
    let cut = Math.max(window.lastIndexOf(', '), window.lastIndexOf('; '), window.lastIndexOf(': '));
    if (cut < maxChars / 3) cut = window.lastIndexOf(' ');
    if (cut < maxChars / 3) cut = maxChars - 1;
    out.push(rest.slice(0, cut + 1).trim());
    rest = rest.slice(cut + 1).trim();
  }
  // A piece with nothing to say (punctuation, symbols) is dropped.
  if (/[\p{L}\p{N}]/u.test(rest)) out.push(rest);
}
