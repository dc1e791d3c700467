/**
 * An incremental decoder of `text/event-stream` (WHATWG HTML, "Server-sent events", §9.2.6
 * "Event stream interpretation"): bytes in, in pieces of any size, the `data` of each complete
 * event out. Lines end with CRLF, LF or CR (a CRLF may be split across two reads); a line
 * starting with ":" is a comment; "data:" lines append to the event's data (joined with "\n",
 * one leading space dropped); a blank line dispatches the event. Other fields (event, id,
 * retry) do not matter to a chat completion stream and are ignored.
 */

const LF = 10;
const CR = 13;

export class SseDecoder {
  private readonly utf8 = new TextDecoder('utf-8');
  /** The current line so far (text after the last line end). */
  private line = '';
  /** The data lines of the event being read. */
  private data: string[] = [];
  /** The previous piece ended with CR: a LF starting this one belongs to the same line end. */
  private afterCr = false;

  /** Feeds bytes (or text); returns the data of every event completed by them. */
  push(piece: Uint8Array | string): string[] {
    let text = typeof piece === 'string' ? piece : this.utf8.decode(piece, { stream: true });
    if (text === '') return [];
    if (this.afterCr && text.charCodeAt(0) === LF) text = text.slice(1);
    this.afterCr = text.charCodeAt(text.length - 1) === CR;
    const events: string[] = [];
    let start = 0;
    // Line ends are found with indexOf (native), not a loop over every character.
    let lf = text.indexOf('\n');
    let cr = text.indexOf('\r');
    while (lf >= 0 || cr >= 0) {
      const end = cr < 0 || (lf >= 0 && lf < cr) ? lf : cr;
      this.endLine(start === 0 ? this.line + text.slice(0, end) : text.slice(start, end), events);
      if (start === 0) this.line = '';
      start = end + (end === cr && lf === cr + 1 ? 2 : 1);
      if (lf >= 0 && lf < start) lf = text.indexOf('\n', start);
      if (cr >= 0 && cr < start) cr = text.indexOf('\r', start);
    }
    this.line = start === 0 ? this.line + text : this.line + text.slice(start);
    return events;
  }

  /**
   * The end of the stream. The standard drops an event not followed by a blank line; servers
   * that omit the last blank line are common enough that a pending event is dispatched instead.
   */
  end(): string[] {
    const events: string[] = [];
    const rest = this.line + this.utf8.decode();
    this.line = '';
    if (rest !== '') this.endLine(rest, events);
    if (this.data.length > 0) events.push(this.data.join('\n'));
    this.data = [];
    return events;
  }

  /** Characters held for an unfinished line: lets a reader cap a stream that never ends a line. */
  get pendingChars(): number {
    return this.line.length;
  }

  private endLine(line: string, events: string[]): void {
    if (line === '') {
      if (this.data.length > 0) events.push(this.data.join('\n'));
      this.data = [];
      return;
    }
    if (line.charCodeAt(0) === 58 /* ":" comment */) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    if (field !== 'data') return;
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    this.data.push(value);
  }
}
