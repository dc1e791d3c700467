/**
 * HTTP/1.1 over a bare socket, for requests `fetch` would rewrite: `..` segments, encoded
 * slashes, control bytes, huge request lines. Resolves with whatever came back (maybe nothing)
 * when the server closes, or after `ms`.
 */
import net from 'node:net';

export interface RawResponse {
  /** 0 when no status line came back (the server closed the connection). */
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export function rawGet(port: number, target: string, ms = 3000, host = '127.0.0.1'): Promise<RawResponse> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(parse(Buffer.concat(chunks)));
    };
    const timer = setTimeout(done, ms);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('close', done);
    s.on('error', done);
    s.write(Buffer.from(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 'latin1'));
  });
}

function parse(raw: Buffer): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return { status: 0, headers: {}, body: Buffer.alloc(0) };
  const head = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = raw.subarray(end + 4);
  const length = headers['content-length'];
  if (length !== undefined) body = body.subarray(0, Number(length));
  return { status, headers, body };
}
