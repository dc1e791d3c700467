/**
 * Cuts a model's streamed text into sentences, so that speech can start on the first sentence
 * while the rest is still being generated. A sentence ends at `.`, `!`, `?` or `…` (with any
 * closing quotes or brackets after it) followed by whitespace, at a newline, or at `:`/`;`
 * followed by whitespace once the sentence is already long. A period does not end a sentence
 * after a common abbreviation (Dr., Mr., e.g., etc.), an initial (J. R. Tolkien) or a list
 * number at the start ("1. First"); decimals, times and amounts (3.5, 10.30, 1,000.50) have no
 * whitespace after the period, so they never split. A sentence with no end is cut at the first
 * whitespace past `maxChars`, and anywhere past `hardMaxChars` (one endless word).
 *
 * The cut depends only on the text, never on how it was split into deltas: a terminator at the
 * end of what arrived so far waits for the next character.
 */

export interface SentenceOptions {
  /** `:` and `;` end a sentence only past this many characters. */
  longChars?: number;
  /** Past this many characters, the next whitespace ends the sentence. */
  maxChars?: number;
  /** Past this many characters, the sentence is cut even inside a word. */
  hardMaxChars?: number;
}

/** A clause this long is worth speaking on its own when a `:` or `;` closes it. */
const DEFAULT_LONG_CHARS = 80;
/** About two spoken lines: a caller should not wait for a run-on sentence to be generated. */
const DEFAULT_MAX_CHARS = 200;
const DEFAULT_HARD_MAX_CHARS = 400;

const TERMINATORS = new Set(['.', '!', '?', '…']);
/** Characters that stay with the sentence after its terminator: `"Stop!" he said`. */
const CLOSERS = new Set(['"', "'", '”', '’', ')', ']', '»']);
/** Characters that may precede a word: `("Dr. Who")`. */
const OPENERS = new Set(['(', '[', '"', "'", '“', '‘', '«']);
/** Lower-case words after which a period is not a sentence end. */
const ABBREVIATIONS = new Set(['mr', 'mrs', 'ms', 'dr', 'prof', 'sr', 'jr', 'st', 'vs', 'etc', 'approx', 'dept', 'est', 'fig', 'cf']);

const isSpace = (c: string | undefined) => c !== undefined && /\s/.test(c);

export class SentenceChunker {
  private readonly longChars: number;
  private readonly maxChars: number;
  private readonly hardMaxChars: number;
  /** Text received and not yet returned, never starting with whitespace. */
  private pending = '';

  constructor(opts: SentenceOptions = {}) {
    this.longChars = opts.longChars ?? DEFAULT_LONG_CHARS;
    this.maxChars = opts.maxChars ?? DEFAULT_MAX_CHARS;
    this.hardMaxChars = Math.max(opts.hardMaxChars ?? DEFAULT_HARD_MAX_CHARS, this.maxChars);
  }

  /** Adds a delta; returns the sentences it completed (trimmed, never empty), in order. */
  push(delta: string): string[] {
    this.pending += delta;
    const out: string[] = [];
    for (;;) {
      const start = this.pending.search(/\S/);
      this.pending = start < 0 ? '' : this.pending.slice(start);
      const end = this.boundary(this.pending);
      if (end < 0) return out;
      const sentence = this.pending.slice(0, end).trim();
      this.pending = this.pending.slice(end);
      if (sentence !== '') out.push(sentence);
    }
  }

  /** The end of the text: what is left, trimmed, or null when nothing is. */
  flush(): string | null {
    const rest = this.pending.trim();
    this.pending = '';
    return rest === '' ? null : rest;
  }

  /** Where the first sentence of `s` ends (exclusive), or -1 when that is not known yet. */
  private boundary(s: string): number {
    for (let i = 0; i < s.length; i++) {
      const c = s[i]!;
      if (c === '\n') return i + 1;
      if (i >= this.maxChars && isSpace(c)) return i;
      // Never between the two halves of a surrogate pair.
      if (i >= this.hardMaxChars && !isLowSurrogate(s.charCodeAt(i))) return i;
      if (TERMINATORS.has(c)) {
        let j = i + 1;
        while (j < s.length && j < this.hardMaxChars && (TERMINATORS.has(s[j]!) || CLOSERS.has(s[j]!))) j++;
        if (j === s.length) return -1;
        if (isSpace(s[j]) && !(c === '.' && j === i + 1 && this.periodInside(s, i))) return j;
        i = j - 1;
      } else if ((c === ':' || c === ';') && i >= this.longChars) {
        if (i + 1 === s.length) return -1;
        if (isSpace(s[i + 1])) return i + 1;
      }
    }
    return -1;
  }

  /** Whether the period at `i` belongs to the word before it rather than ending the sentence. */
  private periodInside(s: string, i: number): boolean {
    let k = i;
    while (k > 0 && !isSpace(s[k - 1]) && !OPENERS.has(s[k - 1]!)) k--;
    const word = s.slice(k, i);
    if (word === '') return false;
    if (ABBREVIATIONS.has(word.toLowerCase())) return true;
    // e.g., i.e., U.S., a.m.: letters separated by periods.
    if (/^(\p{L}\.)+\p{L}$/u.test(word)) return true;
    // An initial; "I." is the pronoun ending a sentence far more often than an initial.
    if (/^\p{Lu}$/u.test(word) && word !== 'I') return true;
    // "1. Open the app": a list number opening the sentence.
    return k === 0 && /^\d{1,3}$/.test(word);
  }
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
