/**
 * Where the engine may send requests that a tenant aimed: event webhooks, tool webhooks, external
 * agents' sockets and provider base URLs. A tenant must not use the engine to reach what only the
 * engine's host can reach (server-side request forgery): its loopback (the engine's own admin API,
 * a database), the private networks around it, or the cloud's metadata service.
 *
 * - Always refused: link-local (169.254.0.0/16, with the metadata service at 169.254.169.254, and
 *   fe80::/10), unspecified (0.0.0.0/8, ::), multicast and broadcast addresses.
 * - Refused unless `outbound.allowPrivateNetworks` (`AS_OUTBOUND_ALLOW_PRIVATE_NETWORKS=true`):
 *   loopback (127.0.0.0/8, ::1), private (10/8, 172.16/12, 192.168/16, fc00::/7), shared
 *   (100.64/10). Turn it on when the tenants are trusted and their agents, tools or models run
 *   on the same host or network (a local Ollama, an agent server on localhost).
 *
 * The check is made on the address actually connected to, after DNS (a host name that resolves
 * to a refused address is refused, and so is one that changes its answer between a check and the
 * connection: the lookup *is* the connection's), and on IP literals in the URL (Node connects to
 * those without a lookup). IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
 *
 * One guard per process, set from the settings when the engine starts (`configureOutbound`); it
 * refuses private addresses until then.
 */
import dns from 'node:dns';
import net from 'node:net';
import { Agent } from 'undici';

/** A request refused before any byte left: `message` says what and how to allow it. */
export class OutboundRefusedError extends Error {
  readonly code = 'outbound_refused';
  constructor(message: string) {
    super(message);
    this.name = 'OutboundRefusedError';
  }
}

type AddressKind = 'public' | 'private' | 'forbidden';

const forbidden = new net.BlockList();
forbidden.addSubnet('0.0.0.0', 8, 'ipv4');
forbidden.addSubnet('169.254.0.0', 16, 'ipv4');
forbidden.addSubnet('224.0.0.0', 4, 'ipv4');
forbidden.addSubnet('240.0.0.0', 4, 'ipv4'); // reserved, and 255.255.255.255 (broadcast)
forbidden.addAddress('::', 'ipv6');
forbidden.addSubnet('fe80::', 10, 'ipv6');
forbidden.addSubnet('ff00::', 8, 'ipv6');

const privateNets = new net.BlockList();
privateNets.addSubnet('127.0.0.0', 8, 'ipv4');
privateNets.addSubnet('10.0.0.0', 8, 'ipv4');
privateNets.addSubnet('172.16.0.0', 12, 'ipv4');
privateNets.addSubnet('192.168.0.0', 16, 'ipv4');
privateNets.addSubnet('100.64.0.0', 10, 'ipv4');
privateNets.addAddress('::1', 'ipv6');
privateNets.addSubnet('fc00::', 7, 'ipv6');

/** What kind of address `ip` is (an IP literal; anything else is `forbidden`). */
export function addressKind(ip: string): AddressKind {
  let address = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  let family = net.isIP(address);
  if (family === 6) {
    // ::ffff:a.b.c.d (and its hex form) is an IPv4 address in IPv6 clothing.
    const mapped = /^::ffff:(?:0:)?([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
    const dotted = /^::ffff:(?:0:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (dotted) {
      address = dotted[1]!;
      family = 4;
    } else if (mapped) {
      const hi = parseInt(mapped[1]!, 16);
      const lo = parseInt(mapped[2]!, 16);
      address = `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
      family = 4;
    }
  }
  if (family === 0) return 'forbidden';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (forbidden.check(address, type)) return 'forbidden';
  if (privateNets.check(address, type)) return 'private';
  return 'public';
}

const howToAllow = 'set AS_OUTBOUND_ALLOW_PRIVATE_NETWORKS=true to allow private and loopback targets';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

export class OutboundGuard {
  /** For `fetch(url, { dispatcher })`: connections whose address passed the guard. */
  readonly dispatcher: Agent;

  constructor(readonly allowPrivateNetworks: boolean) {
    this.dispatcher = new Agent({ connect: { lookup: this.lookup } });
  }

  /** Why `ip` may not be connected to, or null when it may. */
  refusal(ip: string): string | null {
    const kind = addressKind(ip);
    if (kind === 'public') return null;
    if (kind === 'forbidden') return `${ip} is a link-local, unspecified, multicast or reserved address, never a target`;
    return this.allowPrivateNetworks ? null : `${ip} is a loopback or private address (${howToAllow})`;
  }

  /**
   * Throws `OutboundRefusedError` for a URL that is not http(s)/ws(s) or whose host is an IP
   * literal the guard refuses. Host names are judged when they are resolved (`lookup`).
   */
  check(url: string | URL): void {
    let u: URL;
    try {
      u = typeof url === 'string' ? new URL(url) : url;
    } catch {
      throw new OutboundRefusedError('not a valid URL');
    }
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) throw new OutboundRefusedError(`${u.protocol} URLs are not allowed`);
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    if (net.isIP(host)) {
      const why = this.refusal(host);
      if (why) throw new OutboundRefusedError(`refused: ${why}`);
    }
  }

  /**
   * A `dns.lookup` for sockets (`net.connect`'s and `ws`'s `lookup` option): resolves, and fails
   * with `OutboundRefusedError` when any address of the answer is refused.
   */
  readonly lookup = (hostname: string, options: dns.LookupOptions | number | LookupCallback, callback?: LookupCallback): void => {
    const cb = (typeof options === 'function' ? options : callback)!;
    const opts: dns.LookupOptions = typeof options === 'object' ? options : typeof options === 'number' ? { family: options } : {};
    dns.lookup(hostname, { ...opts, all: true }, (err, addresses) => {
      if (err) return cb(err, []);
      for (const a of addresses) {
        const why = this.refusal(a.address);
        if (why) return cb(new OutboundRefusedError(`refused: ${hostname} resolves to ${why}`), []);
      }
      if (opts.all) return cb(null, addresses);
      const first = addresses[0];
      if (!first) return cb(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      cb(null, first.address, first.family);
    });
  };

  /** `fetch` through the guard: the URL checked, the connection made by `dispatcher`. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    this.check(url);
    return fetch(url, { ...init, dispatcher: this.dispatcher } as RequestInit);
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}

let current = new OutboundGuard(false);

/** The process's guard (see the module comment). */
export function outbound(): OutboundGuard {
  return current;
}

/** Sets the process's guard from the settings (at start; a test may set it too). */
export function configureOutbound(settings: { allowPrivateNetworks: boolean }): OutboundGuard {
  // The old guard's dispatcher is left to finish what it has out (its idle sockets time out).
  if (current.allowPrivateNetworks !== settings.allowPrivateNetworks) current = new OutboundGuard(settings.allowPrivateNetworks);
  return current;
}

/** The refusal inside a failed `fetch` (undici wraps connect errors in `cause`), if that is what it was. */
export function outboundRefusal(err: unknown): OutboundRefusedError | null {
  for (let e = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof OutboundRefusedError) return e;
  }
  return null;
}
