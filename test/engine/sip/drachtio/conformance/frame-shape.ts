/**
 * The shape of a wire frame, for comparing our server's frames with drachtio-server's recorded
 * ones: the pipe-separated first line field by field (which are empty, literal values), and the
 * SIP message it carries (start line, header names in order, normalized values, body). What
 * legitimately differs between two runs is replaced by a placeholder: message ids and
 * transaction ids (UUIDs), times, dialog ids, Call-IDs, tags, branches, digest hashes and every
 * number (ports, byte counts, CSeq numbers, SDP versions).
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** One first-line field with run-specific parts replaced. */
function field(f: string): string {
  if (UUID.test(f)) return '<uuid>';
  if (/;from-tag=/.test(f)) return '<dialog-id>';
  if (/^\d\d:\d\d:\d\d\.\d{6}$/.test(f)) return '<time>';
  if (/^(?:tcp|udp|tls|wss?)\//.test(f)) return '<hostports>';
  if (/^v\d+\.\d+\.\d+/.test(f)) return '<version>';
  return f.replace(/\d+/g, 'N');
}

/** A SIP message with run-specific parts replaced, one entry per line. */
function sipLines(sip: string): string[] {
  const [head = '', body = ''] = splitOnce(sip, '\r\n\r\n');
  const callId = /^(?:Call-ID|i)\s*:\s*(.+)$/im.exec(head)?.[1]?.trim();
  const norm = (s: string) => {
    let out = callId ? s.split(callId).join('<call-id>') : s;
    out = out
      .replace(/tag=[^;>,\s]+/g, 'tag=<tag>')
      .replace(/branch=[^;,\s]+/g, 'branch=<branch>')
      .replace(/\b[0-9a-f]{32}\b/g, '<md5>')
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
      .replace(/\d+/g, 'N');
    return out;
  };
  const lines = head.split('\r\n');
  const start = norm(lines[0] ?? '');
  // Header names exactly as written (case and order are part of the shape); values normalized,
  // with the value's own spacing collapsed (`Content-Length:   129` as SIPp pads it).
  const headers = lines.slice(1).map((l) => {
    const colon = l.indexOf(':');
    return colon < 0 ? norm(l) : `${l.slice(0, colon).trimEnd()}: ${norm(l.slice(colon + 1).trim())}`;
  });
  const bodyLines = body === '' ? [] : body.split('\r\n').map(norm);
  return [start, ...headers, '', ...bodyLines];
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + sep.length)];
}

/** The comparable shape of a frame body (`<msgId>|<kind>|...`, optionally CRLF + SIP). */
export function frameShape(body: string): string[] {
  const eol = body.indexOf('\r\n');
  const first = eol < 0 ? body : body.slice(0, eol);
  const fields = first.split('|').map(field);
  const line = fields.join('|');
  return eol < 0 ? [line] : [line, ...sipLines(body.slice(eol + 2))];
}
