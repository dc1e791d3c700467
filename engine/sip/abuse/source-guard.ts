/**
 * Per-source protection of the SIP server against scanners, credential guessing and floods,
 * consulted by the transport layer before a message reaches the transactions:
 *
 * - **Request rate.** Two token buckets per source address: out-of-dialog requests (no To tag:
 *   INVITE, REGISTER, OPTIONS...) and requests with a To tag (in-dialog requests and ACKs of
 *   non-2xx). A flood of new requests cannot spend the budget of the source's live calls, so an
 *   established call is not cut. Requests past a bucket are dropped silently.
 * - **Failed authentication.** The server watches its own final responses: a 403, or a 401/407
 *   to a request that carried credentials (and is not a stale-nonce re-challenge), is a failure
 *   of that source. From `tarpitAfter` failures in `failureWindowMs` each failure response is
 *   delayed (doubling up to `tarpitMaxMs`); at `banAfter` the source is banned.
 * - **Unanswered challenges.** A 401/407 to a request without credentials is how digest
 *   authentication starts, so it is no failure; but a source that piles up `challengeBanAfter`
 *   challenges in the window without once authenticating (a scanner, a challenge flood) is
 *   banned too. Any authenticated request answered otherwise than 401/403/407 clears the count.
 * - **Ban list.** A banned source's datagrams are dropped before parsing, its connections
 *   refused and its open ones closed, until the ban expires (`banMs`). Addresses in `exempt`
 *   are never tarpitted or banned (they are still rate limited).
 *
 * Memory is bounded: at most `maxSources` sources and `maxSources` bans are remembered, the
 * least recently seen forgotten first, so a flood from spoofed addresses cannot grow it.
 */
import { cidrContains, parseCidr, parseIp, type Cidr } from '../../../lib/cidr.js';
import { TypedEmitter } from '../../../lib/typed-emitter.js';
import { fullBucket, take, type Bucket, type BucketLimit } from './token-bucket.js';

export interface AbuseOptions {
  /** Out-of-dialog requests per source: tokens per second and burst. */
  requests: BucketLimit;
  /** Requests with a To tag (in-dialog, ACK) per source. */
  dialogRequests: BucketLimit;
  /** Failures older than this are forgotten (the count restarts). */
  failureWindowMs: number;
  /** Failures before failure responses are delayed. */
  tarpitAfter: number;
  /** First delay; each further failure doubles it. */
  tarpitMs: number;
  tarpitMaxMs: number;
  /** Failures that ban the source. */
  banAfter: number;
  /** Challenges without one successful authentication in between that ban the source. */
  challengeBanAfter: number;
  banMs: number;
  /** Sources remembered (and bans held) at most. */
  maxSources: number;
  /** Addresses or CIDR blocks never tarpitted or banned. */
  exempt: readonly string[];
}

/** Counters, all monotonic except `bansActive` and `sourcesTracked` (gauges). */
export interface AbuseStats {
  requestsRateLimited: number;
  dialogRequestsRateLimited: number;
  failedAuths: number;
  challengesSent: number;
  responsesTarpitted: number;
  bansTotal: number;
  bansActive: number;
  datagramsDroppedBanned: number;
  connectionsRefusedBanned: number;
  responsesSuppressedBanned: number;
  sourcesTracked: number;
  sourcesEvicted: number;
}

interface SourceGuardEvents extends Record<string, unknown[]> {
  /** A source was banned until `until` (ms on the guard's clock), after `failures` failures. */
  banned: [address: string, until: number, failures: number];
  /** A source's requests started being dropped (once per episode: until one is admitted again). */
  limited: [address: string, inDialog: boolean];
}

/** What the server knows of one source address. */
interface Source {
  requests: Bucket;
  dialogRequests: Bucket;
  failures: number;
  lastFailureAt: number;
  /** Challenges since the source last authenticated, and when the latest was sent. */
  challenges: number;
  lastChallengeAt: number;
  /** `callId cseq` of the latest requests that carried credentials (a short ring). */
  credentialed: string[];
  /** Which bucket is dropping this source's requests now, if any (one log line per episode). */
  dropping: 'requests' | 'dialogRequests' | null;
}

/** The requests with credentials remembered per source, to match their 401/403 answers. */
const CREDENTIALED_KEPT = 8;

/** The response facts the guard judges (status, CSeq, Call-ID and any challenge). */
export interface FinalResponseFacts {
  status: number;
  callId: string;
  cseq: number;
  /** WWW-Authenticate or Proxy-Authenticate, when present. */
  challenge: string | undefined;
}

export class SourceGuard extends TypedEmitter<SourceGuardEvents> {
  readonly #sources = new Map<string, Source>();
  /** Banned address -> ban end (ms). Insertion order is ban order. */
  readonly #bans = new Map<string, number>();
  readonly #exempt: Cidr[];
  readonly #stats: Omit<AbuseStats, 'bansActive' | 'sourcesTracked'> = {
    requestsRateLimited: 0,
    dialogRequestsRateLimited: 0,
    failedAuths: 0,
    challengesSent: 0,
    responsesTarpitted: 0,
    bansTotal: 0,
    datagramsDroppedBanned: 0,
    connectionsRefusedBanned: 0,
    responsesSuppressedBanned: 0,
    sourcesEvicted: 0,
  };

  constructor(
    private readonly opts: AbuseOptions,
    private readonly now: () => number = () => performance.now(),
  ) {
    super(() => undefined);
    this.#exempt = opts.exempt.map((e) => {
      const c = parseCidr(e);
      if (!c) throw new Error(`sip abuse: not an address or CIDR block: ${e}`);
      return c;
    });
  }

  /** True while `address` is banned; an expired ban is lifted here. */
  isBanned(address: string): boolean {
    const until = this.#bans.get(address);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.#bans.delete(address);
    return false;
  }

  /** A datagram or stream message from `address`: false (and counted) when banned. */
  admitMessage(address: string): boolean {
    if (!this.isBanned(address)) return true;
    this.#stats.datagramsDroppedBanned++;
    return false;
  }

  /** A new stream connection from `address`: false (and counted) when banned. */
  admitConnection(address: string): boolean {
    if (!this.isBanned(address)) return true;
    this.#stats.connectionsRefusedBanned++;
    return false;
  }

  /**
   * A parsed request from `address`: spends a token of the dialog bucket (`withToTag`) or of the
   * new-request bucket. False when that bucket is empty: the request is to be dropped.
   */
  admitRequest(address: string, withToTag: boolean): boolean {
    const s = this.#source(address);
    const bucket = withToTag ? 'dialogRequests' : 'requests';
    if (take(s[bucket], this.opts[bucket], this.now())) {
      if (s.dropping === bucket) s.dropping = null;
      return true;
    }
    this.#stats[withToTag ? 'dialogRequestsRateLimited' : 'requestsRateLimited']++;
    if (s.dropping !== bucket) {
      s.dropping = bucket;
      this.emit('limited', address, withToTag);
    }
    return false;
  }

  /** A request from `address` carried Authorization or Proxy-Authorization. */
  noteCredentials(address: string, callId: string, cseq: number): void {
    const ring = this.#source(address).credentialed;
    ring.push(`${callId} ${cseq}`);
    if (ring.length > CREDENTIALED_KEPT) ring.shift();
  }

  /**
   * A final response about to be sent to `address`. Returns how long to hold it (the tarpit),
   * or null when it must not be sent at all (the address is banned). A failure may ban the
   * source; the response that does so is still sent, after its delay.
   */
  onResponse(address: string, res: FinalResponseFacts): number | null {
    if (this.isBanned(address)) {
      this.#stats.responsesSuppressedBanned++;
      return null;
    }
    const verdict = this.#judge(address, res);
    if (verdict === 'other' || this.#isExempt(address)) return 0;
    if (verdict === 'authenticated') {
      this.#sources.get(address)!.challenges = 0;
      return 0;
    }
    const s = this.#source(address);
    const now = this.now();
    if (verdict === 'challenge') {
      if (now - s.lastChallengeAt > this.opts.failureWindowMs) s.challenges = 0;
      s.challenges++;
      s.lastChallengeAt = now;
      this.#stats.challengesSent++;
      if (s.challenges >= this.opts.challengeBanAfter) this.#ban(address, s.challenges, now);
      return 0;
    }
    if (now - s.lastFailureAt > this.opts.failureWindowMs) s.failures = 0;
    s.failures++;
    s.lastFailureAt = now;
    this.#stats.failedAuths++;
    if (s.failures >= this.opts.banAfter) this.#ban(address, s.failures, now);
    if (s.failures < this.opts.tarpitAfter) return 0;
    this.#stats.responsesTarpitted++;
    return Math.min(this.opts.tarpitMaxMs, this.opts.tarpitMs * 2 ** (s.failures - this.opts.tarpitAfter));
  }

  /** The counters, for health (flat numbers, ready for a metrics exporter). */
  stats(): AbuseStats {
    const now = this.now();
    for (const [address, until] of this.#bans) if (until <= now) this.#bans.delete(address);
    return { ...this.#stats, bansActive: this.#bans.size, sourcesTracked: this.#sources.size };
  }

  /**
   * `failure`: a 403, or a 401/407 answering credentials. `challenge`: a 401/407 to a request
   * without them, or a stale-nonce re-challenge (RFC 2617 §3.2.1: the credentials were right).
   * `authenticated`: any other final answer to a request with credentials.
   */
  #judge(address: string, res: FinalResponseFacts): 'failure' | 'challenge' | 'authenticated' | 'other' {
    if (res.status === 403) return 'failure';
    const s = this.#sources.get(address);
    const credentialed = !!s && s.credentialed.includes(`${res.callId} ${res.cseq}`);
    if (res.status !== 401 && res.status !== 407) return credentialed && s.challenges > 0 ? 'authenticated' : 'other';
    if (res.challenge && /\bstale\s*=\s*"?true"?/i.test(res.challenge)) return 'challenge';
    return credentialed ? 'failure' : 'challenge';
  }

  #isExempt(address: string): boolean {
    if (this.#exempt.length === 0) return false;
    const ip = parseIp(address);
    return !!ip && this.#exempt.some((c) => cidrContains(c, ip));
  }

  #ban(address: string, failures: number, now: number): void {
    const until = now + this.opts.banMs;
    this.#bans.delete(address);
    this.#bans.set(address, until);
    if (this.#bans.size > this.opts.maxSources) this.#bans.delete(this.#bans.keys().next().value!);
    this.#stats.bansTotal++;
    // The failures start again after the ban: the next one does not re-ban at once.
    this.#sources.delete(address);
    this.emit('banned', address, until, failures);
  }

  /** The source's record, made most recently used; the least recently used is forgotten past the cap. */
  #source(address: string): Source {
    let s = this.#sources.get(address);
    if (s) {
      this.#sources.delete(address);
    } else {
      const now = this.now();
      s = { requests: fullBucket(this.opts.requests, now), dialogRequests: fullBucket(this.opts.dialogRequests, now), failures: 0, lastFailureAt: 0, challenges: 0, lastChallengeAt: 0, credentialed: [], dropping: null };
    }
    this.#sources.set(address, s);
    if (this.#sources.size > this.opts.maxSources) {
      this.#sources.delete(this.#sources.keys().next().value!);
      this.#stats.sourcesEvicted++;
    }
    return s;
  }
}
