/**
 * Parses one SIP message from bytes (RFC 3261 §7, §18.3, §25). The header section is UTF-8 text
 * ending at the first empty line; the body is bytes, framed by Content-Length. Everything is
 * bounded by `ParseLimits`, and every failure is a `SipParseError` saying what is wrong.
 */
import { SipParseError, type PartialMessage } from './errors.js';
import { Headers, type HeaderField } from './headers.js';
import { isToken, trimLws } from './lexer.js';
import { SipRequest, SipResponse, type SipMessage } from './message.js';
import { parseContentLength } from './scalar-headers.js';

/** Bounds on what a peer may make us hold or parse. */
export interface ParseLimits {
  /** Largest header section (start line + headers + empty line), in bytes. */
  maxHeaderBytes: number;
  /** Most header lines (a folded header counts once). */
  maxHeaders: number;
  /** Largest body, in bytes. */
  maxBodyBytes: number;
}

/**
 * Defaults. 32 KiB of headers holds RFC 4475's long-values message (§3.1.1.7) several times over;
 * 256 lines is far more than any real message has; 64 KiB of body is about the most a UDP
 * datagram can carry.
 */
export const DEFAULT_LIMITS: ParseLimits = { maxHeaderBytes: 32 * 1024, maxHeaders: 256, maxBodyBytes: 64 * 1024 };

const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The start line and headers of a message, before the start line is interpreted. */
interface ParsedHead {
  startLine: string;
  headers: Headers;
}

/** Index of the first byte after any CRLFs that precede the start line (§7.5: they are ignored). */
function skipLeadingCrlf(buf: Buffer, from = 0): number {
  let i = from;
  while (i + 1 < buf.length && buf[i] === 0x0d && buf[i + 1] === 0x0a) i += 2;
  return i;
}

/** Index of the CRLFCRLF that ends the header section, or -1. */
export function findHeadEnd(buf: Buffer, from = 0): number {
  return buf.indexOf(CRLFCRLF, from);
}

/** Decodes and splits a header section (without its final empty line) into start line and headers. */
export function parseHead(head: Buffer, limits: ParseLimits): ParsedHead {
  if (head.length > limits.maxHeaderBytes) {
    throw new SipParseError('headers-too-large', `header section larger than ${limits.maxHeaderBytes} bytes`);
  }
  let text: string;
  try {
    text = utf8.decode(head);
  } catch {
    throw new SipParseError('encoding', 'header section is not valid UTF-8');
  }
  const lines = text.split('\r\n');
  const startLine = lines[0]!;
  const fields: HeaderField[] = [];
  let name = '';
  // The header being read: its first line, and its continuation lines when it is folded (rare:
  // the common header costs no array).
  let first: string | null = null;
  let folded: string[] | null = null;
  const flush = () => {
    if (first === null) return;
    if (fields.length >= limits.maxHeaders) {
      throw new SipParseError('too-many-headers', `more than ${limits.maxHeaders} header lines`);
    }
    const raw = folded === null ? first : [first, ...folded].join('\r\n');
    const after = raw.slice(raw.indexOf(':') + 1);
    // Folding: "CRLF followed by white space is treated as a single SP" (§7.3.1).
    const value = trimLws(folded === null ? after : after.replace(/\r\n/g, ' '));
    fields.push(Headers.received(name, value, raw));
    first = null;
    folded = null;
  };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (/[\r\n]/.test(line)) throw new SipParseError('header-syntax', `bare CR or LF in header line ${i}`);
    if (line[0] === ' ' || line[0] === '\t') {
      if (first === null) throw new SipParseError('header-syntax', 'continuation line before any header');
      (folded ??= []).push(line);
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    // header-name HCOLON: white space is allowed before the colon (RFC 4475 §3.1.1.1 "TO :").
    name = colon < 0 ? '' : line.slice(0, colon);
    const last = name.charCodeAt(name.length - 1);
    if (last === 0x20 || last === 0x09) name = name.replace(/[ \t]+$/, '');
    if (!isToken(name)) {
      throw new SipParseError('header-syntax', colon < 0 ? `header line without colon: "${line.slice(0, 40)}"` : `bad header name "${name.slice(0, 40)}"`);
    }
    first = line;
  }
  flush();
  return { startLine, headers: new Headers(fields) };
}

const REQUEST_LINE = /^([^ ]+) ([^ ]+) (SIP\/[0-9]+\.[0-9]+)$/i;
const STATUS_LINE = /^(SIP\/[0-9]+\.[0-9]+) ([0-9]{3})(?: (.*))?$/i;

/** Builds the message object from its start line, or throws `start-line`. */
function startMessage(head: ParsedHead): SipMessage {
  const s = head.startLine;
  if (/[\r\n]/.test(s)) throw new SipParseError('start-line', 'bare CR or LF in the start line');
  const st = STATUS_LINE.exec(s);
  if (st) {
    const status = Number(st[2]);
    if (status < 100 || status > 699) throw new SipParseError('start-line', `status code ${status} out of range`);
    return new SipResponse(status, st[3] ?? '', head.headers, Buffer.alloc(0), st[1]!.toUpperCase());
  }
  const rq = REQUEST_LINE.exec(s);
  // "The Request-Line ... elements are separated by single SP characters" (§7.1): no other space.
  if (!rq || !isToken(rq[1]!)) throw new SipParseError('start-line', `bad start line "${s.slice(0, 80)}"`);
  return new SipRequest(rq[1]!, rq[2]!, head.headers, Buffer.alloc(0), rq[3]!.toUpperCase());
}

/**
 * Parses one whole message. `stream`: the bytes were framed by Content-Length already (TCP/TLS),
 * so Content-Length is mandatory and exact. Otherwise (a datagram), per §18.3: a missing
 * Content-Length means the body runs to the end of the datagram, bytes beyond Content-Length are
 * discarded, and a Content-Length beyond the datagram is an error.
 */
export function parseMessage(buf: Buffer, opts: { stream: boolean; limits: ParseLimits }): SipMessage {
  const start = skipLeadingCrlf(buf);
  if (start >= buf.length || (buf.length - start === 2 && buf.subarray(start).equals(CRLF))) {
    throw new SipParseError('empty', 'no start line');
  }
  const end = findHeadEnd(buf, start);
  if (end < 0) {
    if (buf.length - start > opts.limits.maxHeaderBytes) throw new SipParseError('headers-too-large', `header section larger than ${opts.limits.maxHeaderBytes} bytes`);
    const error = new SipParseError('headers-unterminated', 'no empty line after the headers');
    // A datagram is the whole message (§18.3): when it ends with a header line, what it holds is
    // the header section without its empty line (RFC 4475 §3.1.2.15 baddn is sent so). The
    // request is malformed, but its headers can carry the 400 back.
    if (!opts.stream && buf.length - start > 2 && buf.subarray(buf.length - 2).equals(CRLF)) error.partial = partialOf(buf.subarray(start, buf.length - 2), opts.limits);
    throw error;
  }
  const head = parseHead(buf.subarray(start, end), opts.limits);
  const partial: PartialMessage = { isRequest: !/^SIP\//i.test(head.startLine), startLine: head.startLine, headers: head.headers };
  try {
    const msg = startMessage(head);
    msg.body = readBody(buf.subarray(end + 4), head.headers, opts);
    return msg;
  } catch (e) {
    if (e instanceof SipParseError) {
      e.partial = partial;
      throw e;
    }
    throw new SipParseError('start-line', (e as Error).message);
  }
}

/** The start line and headers of a header section, or undefined when even they cannot be read. */
function partialOf(head: Buffer, limits: ParseLimits): PartialMessage | undefined {
  try {
    const h = parseHead(head, limits);
    return { isRequest: !/^SIP\//i.test(h.startLine), startLine: h.startLine, headers: h.headers };
  } catch {
    return undefined;
  }
}

function readBody(rest: Buffer, headers: Headers, opts: { stream: boolean; limits: ParseLimits }): Buffer {
  const values = headers.getAll('Content-Length');
  if (values.length > 1) throw new SipParseError('duplicate-header', 'more than one Content-Length', 'Content-Length');
  let length: number;
  if (values.length === 0) {
    // §18.3: "If the transport is stream-oriented, the Content-Length header field MUST be used."
    if (opts.stream) throw new SipParseError('content-length', 'missing Content-Length on a stream transport', 'Content-Length');
    length = rest.length;
  } else {
    try {
      length = parseContentLength(values[0]!);
    } catch (e) {
      throw new SipParseError('content-length', (e as Error).message, 'Content-Length');
    }
    if (length > rest.length) throw new SipParseError('content-length', `Content-Length ${length} larger than the ${rest.length} bytes of body`, 'Content-Length');
  }
  if (length > opts.limits.maxBodyBytes) throw new SipParseError('body-too-large', `body of ${length} bytes larger than ${opts.limits.maxBodyBytes}`);
  return Buffer.from(rest.subarray(0, length));
}
