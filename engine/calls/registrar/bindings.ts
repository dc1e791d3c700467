/**
 * The registrar's location service (RFC 3261 §10.3): bindings of an address-of-record to contact
 * URIs, each with its Call-ID, CSeq, expiry and the flow it came on. In memory: a binding is only
 * good while its flow can reach the device (a WebSocket's bindings die with the socket, RFC 7118
 * §5), and no flow outlives a restart, so neither do bindings. Each binding has one named
 * expiry timer; `close()` clears them all.
 */
import { splitTopLevel } from '../../sip/message/lexer.js';
import { parseNameAddr, type NameAddr } from '../../sip/message/name-addr.js';
import { getParam } from '../../sip/message/params.js';
import { formatUri, parseUri, uriEquals, uriParam, type Uri } from '../../sip/message/uri.js';

/** Where a device is reached: the flow its REGISTER came on. */
export interface Flow {
  protocol: string;
  address: string;
  port: number;
}

export interface Binding {
  aor: string;
  /** The Contact URI as registered. */
  contact: string;
  callId: string;
  cseq: number;
  /** Seconds granted. */
  expires: number;
  /** `performance.now()` when the binding expires. */
  expiresAt: number;
  registeredAt: Date;
  flow: Flow;
  userAgent: string | null;
}

/**
 * What a binding's device speaks: a contact reached down a WebSocket (`transport=ws` or `wss`, RFC
 * 7118 §5) is a browser, which takes only WebRTC media (ICE, DTLS-SRTP, RFC 8827); any other is a
 * device with plain RTP (even when it registered over a WebSocket, its Contact names where it
 * takes calls).
 */
export function mediaOfBinding(b: Pick<Binding, 'contact'>): 'webrtc' | 'rtp' {
  try {
    const uri = parseUri(b.contact);
    const transport = uri.kind === 'sip' ? uriParam(uri, 'transport')?.toLowerCase() : undefined;
    return transport === 'ws' || transport === 'wss' ? 'webrtc' : 'rtp';
  } catch {
    return 'rtp';
  }
}

export interface ExpiryRules {
  /** §10.2.1.1: used when neither Contact `expires` nor Expires is given (RFC default 3600). */
  defaultSeconds: number;
  /** §10.3 step 6: a shorter non-zero expiry gets 423 Interval Too Brief with Min-Expires. */
  minSeconds: number;
  /** §10.3 step 6: "the registrar MAY shorten" a longer one to this. */
  maxSeconds: number;
}

/** A REGISTER as the location service needs it. */
export interface RegisterRequest {
  aor: string;
  /** Contact header values as received (may hold several comma-separated contacts each). */
  contacts: string[];
  expiresHeader: string | undefined;
  callId: string;
  cseq: number;
  flow: Flow;
  userAgent: string | null;
}

/** The outcome: the bindings now current (200), or the failure to answer. */
export type RegisterResult =
  | { status: 200; bindings: Binding[] }
  | { status: 400 | 500; reason: string }
  | { status: 423; minExpires: number };

interface Entry {
  binding: Binding;
  uri: Uri;
  timer: NodeJS.Timeout;
}

export class Bindings {
  readonly #byAor = new Map<string, Entry[]>();
  /** The AORs with a binding on each flow, so a closed WebSocket finds its bindings without a scan. */
  readonly #aorsByFlow = new Map<string, Set<string>>();
  #closed = false;

  constructor(
    readonly rules: ExpiryRules,
    /** Called when a binding goes for any reason but a REGISTER (expiry, flow closed). */
    private readonly onRemoved: (b: Binding, why: 'expired' | 'flow closed') => void = () => {},
  ) {}

  /** The current bindings of `aor`, each with its remaining seconds. */
  list(aor: string): Binding[] {
    return (this.#byAor.get(aor) ?? []).map((e) => e.binding);
  }

  get size(): number {
    let n = 0;
    for (const list of this.#byAor.values()) n += list.length;
    return n;
  }

  /**
   * §10.3 steps 5 to 8, all or nothing: nothing changes unless the whole request is good.
   */
  register(req: RegisterRequest): RegisterResult {
    if (this.#closed) return { status: 500, reason: 'registrar closed' };
    let contacts: NameAddr[];
    let star = false;
    try {
      const values = req.contacts.flatMap((v) => splitTopLevel(v, ',', 'Contact')).map((v) => v.trim()).filter((v) => v !== '');
      star = values.some((v) => v === '*');
      contacts = star ? [] : values.map((v) => parseNameAddr(v, 'Contact'));
      // §10.3 step 6 "If the request has additional Contact fields or an expiration time other
      // than zero, the request is invalid, and the server MUST return a 400 (Invalid Request)".
      if (star && (values.length !== 1 || parseExpires(req.expiresHeader) !== 0)) {
        return { status: 400, reason: 'Contact * needs Expires: 0 and no other contact' };
      }
    } catch (e) {
      return { status: 400, reason: (e as Error).message };
    }
    const current = this.#byAor.get(req.aor) ?? [];
    if (star) {
      // Step 6: for each binding, a different Call-ID removes it; the same Call-ID removes it only
      // with a higher CSeq, "Otherwise, the update MUST be aborted and the request fails."
      if (current.some((e) => e.binding.callId === req.callId && req.cseq <= e.binding.cseq)) return { status: 500, reason: 'Out of order CSeq' };
      for (const e of current) clearTimeout(e.timer);
      this.#set(req.aor, []);
      return { status: 200, bindings: [] };
    }
    const headerExpires = parseExpires(req.expiresHeader);
    const changes: { na: NameAddr; expires: number; existing: Entry | undefined }[] = [];
    for (const na of contacts) {
      const param = getParam(na.params, 'expires');
      // Step 6: the Contact parameter first, then the Expires header, then the local default.
      const asked = param != null ? parseExpires(param) : headerExpires;
      const expires = asked ?? this.rules.defaultSeconds;
      if (expires !== 0 && expires < this.rules.minSeconds) return { status: 423, minExpires: this.rules.minSeconds };
      const existing = current.find((e) => uriEquals(e.uri, na.uri));
      // Step 7: same Call-ID and a CSeq not higher than the stored one: abort.
      if (existing && existing.binding.callId === req.callId && req.cseq <= existing.binding.cseq) return { status: 500, reason: 'Out of order CSeq' };
      changes.push({ na, expires: Math.min(expires, this.rules.maxSeconds), existing });
    }
    const next = [...current];
    for (const c of changes) {
      if (c.existing) {
        clearTimeout(c.existing.timer);
        next.splice(next.indexOf(c.existing), 1);
      }
      if (c.expires === 0) continue;
      const binding: Binding = {
        aor: req.aor,
        contact: formatUri(c.na.uri),
        callId: req.callId,
        cseq: req.cseq,
        expires: c.expires,
        expiresAt: performance.now() + c.expires * 1000,
        registeredAt: new Date(),
        flow: { ...req.flow },
        userAgent: req.userAgent,
      };
      next.push({ binding, uri: c.na.uri, timer: this.#expiryTimer(binding) });
    }
    this.#set(req.aor, next);
    return { status: 200, bindings: next.map((e) => e.binding) };
  }

  /** Removes every binding of `aor`. */
  removeAor(aor: string): void {
    for (const e of this.#byAor.get(aor) ?? []) clearTimeout(e.timer);
    this.#set(aor, []);
  }

  /** RFC 7118 §5 / RFC 5626: the flow is gone, so are the bindings that reach through it. */
  removeFlow(flow: Flow): number {
    let removed = 0;
    for (const aor of [...(this.#aorsByFlow.get(flowKey(flow)) ?? [])]) {
      const list = this.#byAor.get(aor) ?? [];
      const keep = list.filter((e) => !sameFlow(e.binding.flow, flow));
      for (const e of list) {
        if (keep.includes(e)) continue;
        clearTimeout(e.timer);
        removed++;
        this.onRemoved(e.binding, 'flow closed');
      }
      this.#set(aor, keep);
    }
    return removed;
  }

  /** Clears every timer and binding. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const list of this.#byAor.values()) for (const e of list) clearTimeout(e.timer);
    this.#byAor.clear();
    this.#aorsByFlow.clear();
  }

  /** The one way an AOR's bindings change: the list and the flow index together. */
  #set(aor: string, list: Entry[]): void {
    for (const e of this.#byAor.get(aor) ?? []) {
      const key = flowKey(e.binding.flow);
      const aors = this.#aorsByFlow.get(key);
      aors?.delete(aor);
      if (aors?.size === 0) this.#aorsByFlow.delete(key);
    }
    if (list.length === 0) {
      this.#byAor.delete(aor);
      return;
    }
    this.#byAor.set(aor, list);
    for (const e of list) {
      const key = flowKey(e.binding.flow);
      let aors = this.#aorsByFlow.get(key);
      if (!aors) this.#aorsByFlow.set(key, (aors = new Set()));
      aors.add(aor);
    }
  }

  /** Flows with a binding (tests: the index empties with the bindings). */
  get flowCount(): number {
    return this.#aorsByFlow.size;
  }

  /** The binding's expiry: removes it when its time is up (§10.2.1 "the registrar ... removes the binding"). */
  #expiryTimer(binding: Binding): NodeJS.Timeout {
    const expiry = setTimeout(() => {
      const list = this.#byAor.get(binding.aor) ?? [];
      this.#set(binding.aor, list.filter((e) => e.binding !== binding));
      this.onRemoved(binding, 'expired');
    }, binding.expires * 1000);
    expiry.unref();
    return expiry;
  }
}

/** The Contact values of a 200 (§10.3 step 8): each binding with its remaining seconds. */
export function contactsOf(bindings: readonly Binding[], now = performance.now()): string[] {
  // `contact` is the registered URI as formatted (with its parameters): quoted as it is, not parsed again.
  return bindings.map((b) => `<${b.contact}>;expires=${remainingSeconds(b, now)}`);
}

export function remainingSeconds(b: Binding, now = performance.now()): number {
  return Math.max(0, Math.round((b.expiresAt - now) / 1000));
}

/** delta-seconds (§20.19, §20.10): digits, capped at 2^32-1 as §20.19 advises; undefined when absent or bad. */
function parseExpires(v: string | null | undefined): number | undefined {
  if (v == null) return undefined;
  const t = v.trim();
  if (!/^\d{1,10}$/.test(t)) return undefined;
  return Math.min(Number(t), 4294967295);
}

const sameFlow = (a: Flow, b: Flow) => a.protocol === b.protocol && a.address === b.address && a.port === b.port;
const flowKey = (f: Flow) => `${f.protocol}|${f.address}|${f.port}`;
