/**
 * IP allowlists of IPv4/IPv6 addresses and CIDR blocks, on node's net.BlockList (which already
 * handles IPv4-mapped IPv6 and both families).
 */
import net from 'node:net';

export class AddressList {
  readonly #list = new net.BlockList();
  readonly size: number;

  /** Entries like `203.0.113.7`, `198.51.100.0/24`, `2001:db8::/32`. Invalid ones are skipped. */
  constructor(entries: readonly string[]) {
    let n = 0;
    for (const e of entries) {
      const [ip, bits] = e.trim().split('/');
      const family = net.isIPv4(ip ?? '') ? 'ipv4' : net.isIPv6(ip ?? '') ? 'ipv6' : undefined;
      if (!family || !ip) continue;
      if (bits === undefined) this.#list.addAddress(ip, family);
      else this.#list.addSubnet(ip, Number(bits), family);
      n++;
    }
    this.size = n;
  }

  has(address: string): boolean {
    const family = net.isIPv4(address) ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : undefined;
    if (!family) return false;
    if (this.#list.check(address, family)) return true;
    // An IPv4 peer seen as ::ffff:a.b.c.d on a dual-stack socket.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    return Boolean(mapped && this.#list.check(mapped[1]!, 'ipv4'));
  }
}
