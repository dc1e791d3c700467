/**
 * fast-check arbitraries that break valid SIP requests the ways peers, scanners and fuzzers do:
 * byte flips, truncation, duplicated or deleted header lines, huge values, random header names,
 * odd Content-Length values, bad start lines, random methods and URIs, CR/LF games, binary junk.
 * Every case is made unique (branch, Call-ID) so that no case is taken for a retransmission of
 * another. Targets in the seeds are loopback addresses, and mutations never write a host: what the
 * server answers goes back to the test's socket.
 */
import fc from 'fast-check';

export type Mutation =
  | { kind: 'flip'; at: number; xor: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'duplicate-line'; line: number }
  | { kind: 'delete-line'; line: number }
  | { kind: 'huge-value'; bytes: number }
  | { kind: 'header-name'; name: string }
  | { kind: 'content-length'; value: string }
  | { kind: 'start-line'; line: string }
  | { kind: 'method'; method: string; cseqToo: boolean }
  | { kind: 'uri'; uri: string }
  | { kind: 'crlf'; how: 'lf-only' | 'no-empty-line' | 'bare-cr' | 'leading-crlf' }
  | { kind: 'junk'; bytes: Uint8Array };

const token = fc.stringMatching(/^[A-Za-z0-9!%*_+`'~.-]{1,24}$/);
const anyText = fc.string({ unit: 'binary', maxLength: 80 });

export const mutation = (maxHuge: number): fc.Arbitrary<Mutation> =>
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('duplicate-line' as const), line: fc.nat() }),
    fc.record({ kind: fc.constant('delete-line' as const), line: fc.nat() }),
    fc.record({ kind: fc.constant('huge-value' as const), bytes: fc.integer({ min: 1000, max: maxHuge }) }),
    fc.record({ kind: fc.constant('header-name' as const), name: fc.oneof(token, anyText) }),
    fc.record({
      kind: fc.constant('content-length' as const),
      value: fc.oneof(fc.constantFrom('-1', '999999', 'abc', '1e3', '', '0x10', '00000000000000000000000001', '4294967296', '1 2'), fc.integer({ min: -5, max: 70000 }).map(String)),
    }),
    fc.record({ kind: fc.constant('start-line' as const), line: fc.oneof(anyText, fc.constantFrom('SIP/2.0 200 OK', 'INVITE', 'INVITE sip:a@127.0.0.1', 'GET / HTTP/1.1', 'OPTIONS sip:a@127.0.0.1 SIP/3.0', ' OPTIONS sip:a@127.0.0.1 SIP/2.0')) }),
    fc.record({ kind: fc.constant('method' as const), method: fc.oneof(token, fc.constantFrom('INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE')), cseqToo: fc.boolean() }),
    fc.record({
      kind: fc.constant('uri' as const),
      uri: fc.oneof(
        fc.constantFrom('sip:127.0.0.1', 'sips:a@127.0.0.1', 'tel:+15550001111', 'urn:x', 'sip:@', 'sip:a@[::1', 'sip:a@127.0.0.1:99999', 'sip:a%zz@127.0.0.1', '*', 'sip:a@127.0.0.1;maddr', 'sip:a@127.0.0.1?Route=x'),
        fc.stringMatching(/^[a-z][a-z0-9+.-]{0,10}:[^\s]{0,40}$/),
      ),
    }),
    fc.record({ kind: fc.constant('crlf' as const), how: fc.constantFrom('lf-only' as const, 'no-empty-line' as const, 'bare-cr' as const, 'leading-crlf' as const) }),
    fc.record({ kind: fc.constant('junk' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 1500 }) }),
  );

const CRLF = '\r\n';

/** Header lines (after the start line, before the empty line) and the body of a text message. */
function split(buf: Buffer): { lines: string[]; body: Buffer } {
  const end = buf.indexOf('\r\n\r\n');
  const head = (end < 0 ? buf : buf.subarray(0, end)).toString('latin1');
  return { lines: head.split(CRLF), body: end < 0 ? Buffer.alloc(0) : buf.subarray(end + 4) };
}

const join = (lines: string[], body: Buffer) => Buffer.concat([Buffer.from(lines.join(CRLF) + CRLF + CRLF, 'latin1'), body]);

/** Applies one mutation. Lines are handled as latin1 so that any byte survives. */
export function mutate(buf: Buffer, m: Mutation): Buffer {
  const { lines, body } = split(buf);
  const pick = (n: number) => 1 + (n % Math.max(1, lines.length - 1));
  switch (m.kind) {
    case 'flip': {
      if (buf.length === 0) return buf;
      const out = Buffer.from(buf);
      const i = m.at % out.length;
      out[i] = out[i]! ^ m.xor;
      return out;
    }
    case 'truncate':
      return buf.subarray(0, m.at % (buf.length + 1));
    case 'duplicate-line': {
      const i = pick(m.line);
      return join([...lines.slice(0, i + 1), ...lines.slice(i)], body);
    }
    case 'delete-line': {
      const i = pick(m.line);
      return join([...lines.slice(0, i), ...lines.slice(i + 1)], body);
    }
    case 'huge-value':
      return join([...lines, `X-Huge: ${'v'.repeat(m.bytes)}`], body);
    case 'header-name':
      return join([...lines, `${m.name}: value`], body);
    case 'content-length': {
      const out = lines.filter((l) => !/^(content-length|l)\s*:/i.test(l));
      return join([...out, `Content-Length: ${m.value}`], body);
    }
    case 'start-line':
      return join([m.line, ...lines.slice(1)], body);
    case 'method': {
      const parts = lines[0]!.split(' ');
      const out = [[m.method, ...parts.slice(1)].join(' '), ...lines.slice(1)];
      return join(m.cseqToo ? out.map((l) => l.replace(/^(CSeq\s*:\s*\d+\s+)\S+/i, `$1${m.method}`)) : out, body);
    }
    case 'uri': {
      const parts = lines[0]!.split(' ');
      return join([[parts[0], m.uri, ...parts.slice(2)].join(' '), ...lines.slice(1)], body);
    }
    case 'crlf':
      if (m.how === 'lf-only') return Buffer.from(buf.toString('latin1').replaceAll(CRLF, '\n'), 'latin1');
      if (m.how === 'no-empty-line') return Buffer.concat([Buffer.from(lines.join(CRLF) + CRLF, 'latin1'), body]);
      if (m.how === 'leading-crlf') return Buffer.concat([Buffer.from(CRLF.repeat(3)), buf]);
      return join(lines.map((l, i) => (i === 1 ? `${l}\r` : l)), body);
    case 'junk':
      return Buffer.from(m.bytes);
  }
}

/** A seed made unique for case `n`: its branch and Call-ID carry the number. */
export function uniqueSeed(seed: Buffer, n: number): Buffer {
  const text = seed.toString('latin1');
  // Fixed width, so that a case replayed (same fast-check seed and path) mutates the same offsets.
  const id = String(n % 1e8).padStart(8, '0');
  return Buffer.from(
    text
      .replace(/branch\s*=\s*([^;,\s]*)/i, (_, b: string) => `branch=${b.startsWith('z9hG4bK') ? 'z9hG4bK' : ''}p${id}x${b.replace(/^z9hG4bK/, '')}`)
      .replace(/^(Call-ID|i)([ \t]*:[ \t]*)/im, `$1$2p${id}.`),
    'latin1',
  );
}
