/**
 * Writes a message as bytes (RFC 3261 §7). Received header lines that were not changed are
 * written exactly as they came; other lines as `Name: value`. Content-Length always matches the
 * body: a received line is kept when its value is right, rewritten otherwise, and added when
 * missing ("the Content-Length header field MUST be used" on streams, §18.3; we always send it).
 */
import type { SipMessage } from './message.js';

export function serialize(msg: SipMessage): Buffer {
  const lines: string[] = [msg.startLine];
  let hasLength = false;
  for (const f of msg.headers.fields()) {
    if (f.key === 'content-length') {
      if (hasLength) continue;
      hasLength = true;
      const ok = f.raw !== undefined && /^[0-9]+$/.test(f.value) && Number(f.value) === msg.body.length;
      lines.push(ok ? f.raw! : `${f.name.length === 1 ? 'Content-Length' : f.name}: ${msg.body.length}`);
      continue;
    }
    lines.push(f.raw ?? `${f.name}: ${f.value}`);
  }
  if (!hasLength) lines.push(`Content-Length: ${msg.body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8');
  return msg.body.length === 0 ? head : Buffer.concat([head, msg.body]);
}
