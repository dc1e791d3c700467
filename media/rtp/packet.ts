/** RTP fixed header (RFC 3550 §5.1): read the fields we need, write packets for tests and the audio seam. */

export interface RtpHeader {
  marker: boolean;
  payloadType: number;
  sequence: number;
  timestamp: number;
  ssrc: number;
  /** Offset of the payload: after CSRCs and the header extension. */
  payloadOffset: number;
  /** Payload length without padding. */
  payloadLength: number;
}

/** RFC 3550 §5.1: version 2, and 12 bytes of fixed header. */
const rtpVersion = 2;
const fixedHeader = 12;

/**
 * Reads an RTP header, or `null` when the datagram is not RTP: wrong version, too short, or a
 * payload type in 64-95, which RFC 5761 §4 reserves so RTCP (PT 200-204 with the marker bit)
 * can share the port.
 */
export function readRtpHeader(b: Uint8Array): RtpHeader | null {
  if (b.length < fixedHeader || b[0]! >> 6 !== rtpVersion) return null;
  const payloadType = b[1]! & 0x7f;
  if (payloadType >= 64 && payloadType <= 95) return null;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let offset = fixedHeader + (b[0]! & 0x0f) * 4;
  if (b[0]! & 0x10) {
    if (b.length < offset + 4) return null;
    offset += 4 + view.getUint16(offset + 2) * 4;
  }
  let end = b.length;
  if (b[0]! & 0x20) end -= b[b.length - 1]!;
  if (offset > end) return null;
  return {
    marker: (b[1]! & 0x80) !== 0,
    payloadType,
    sequence: view.getUint16(2),
    timestamp: view.getUint32(4),
    ssrc: view.getUint32(8),
    payloadOffset: offset,
    payloadLength: end - offset,
  };
}

/** Writes a plain RTP packet: no CSRC, no extension, no padding. */
export function writeRtpPacket(h: Omit<RtpHeader, 'payloadOffset' | 'payloadLength'>, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(fixedHeader + payload.length);
  b[0] = rtpVersion << 6;
  b[1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f);
  b.writeUInt16BE(h.sequence & 0xffff, 2);
  b.writeUInt32BE(h.timestamp >>> 0, 4);
  b.writeUInt32BE(h.ssrc >>> 0, 8);
  b.set(payload, fixedHeader);
  return b;
}
