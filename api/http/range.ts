/**
 * `Range: bytes=…` requests (RFC 9110 §14), for bodies served from files (recordings). Only a
 * single range is served; anything else is answered with the whole body, which §14.2 allows
 * ("A server MAY ignore the Range header field").
 */

/** Bytes `start` to `end` inclusive, as in Content-Range. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The one range `header` asks of a `size`-byte body (`bytes=0-99`, `bytes=100-`, `bytes=-100`),
 * clipped to the body; null to send the whole body: no header, several ranges, another unit, a
 * malformed or unsatisfiable range.
 */
export function singleByteRange(header: string | undefined, size: number): ByteRange | null {
  if (!header || size === 0) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    // A suffix: the last N bytes (§14.1.2).
    const n = Number(m[2]);
    return n > 0 ? { start: Math.max(0, size - n), end: size - 1 } : null;
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return Number.isSafeInteger(start) && start <= end && start < size ? { start, end } : null;
}
