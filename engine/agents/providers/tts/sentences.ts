/**
 * Splits text for speech into pieces that can be synthesised one by one: at sentence ends,
 * and a sentence longer than `maxChars` at a comma, semicolon or space. The first piece is
 * short when the first sentence is, so the first audio is ready early.
 */

/** Long enough for any ordinary sentence, short enough for ~5 s of speech per piece. */
const defaultMaxChars = 300;

export function splitSentences(text: string, maxChars = defaultMaxChars): string[] {
  const out: string[] = [];
  // A sentence ends at . ! ? or … (possibly followed by closing quotes) and then white space.
  for (const sentence of text.split(/(?<=[.!?…]["')\]]*)\s+|\n{2,}/u)) {
    let rest = sentence.replace(/\s+/gu, ' ').trim();
    while (rest.length > maxChars) {
      const window = rest.slice(0, maxChars);
      let cut = Math.max(window.lastIndexOf(', '), window.lastIndexOf('; '), window.lastIndexOf(': '));
      if (cut < maxChars / 3) cut = window.lastIndexOf(' ');
      if (cut < maxChars / 3) cut = maxChars - 1;
      out.push(rest.slice(0, cut + 1).trim());
      rest = rest.slice(cut + 1).trim();
    }
    if (/[\p{L}\p{N}]/u.test(rest)) out.push(rest);
  }
  return out;
}
