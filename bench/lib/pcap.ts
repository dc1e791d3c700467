/**
 * The RTP SSRC of a pcap file's first packet (Ethernet, IPv4, UDP; the files SIPp plays), for
 * peers that must know the caller's stream before it arrives (`peers/stack-floor.ts`).
 */
import fs from 'node:fs';

export function pcapSsrc(file: string): number {
  const d = fs.readFileSync(file);
  const magic = d.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && d.readUInt32BE(0) !== 0xa1b2c3d4 && d.readUInt32BE(0) !== 0xa1b23c4d) throw new Error(`${file}: not a pcap file`);
  const u32 = (o: number) => (le ? d.readUInt32LE(o) : d.readUInt32BE(o));
  if (u32(20) !== 1) throw new Error(`${file}: link type ${u32(20)}, expected Ethernet (1)`);
  const packet = 24 + 16;
  const ip = packet + 14;
  const udp = ip + (d[ip]! & 0x0f) * 4;
  const rtp = udp + 8;
  if (d.length < rtp + 12 || d[ip + 9] !== 17) throw new Error(`${file}: the first packet is not UDP`);
  return d.readUInt32BE(rtp + 8);
}
