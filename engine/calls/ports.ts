/**
 * What call control needs from the rest of the engine, as narrow interfaces: inbound routing
 * (trunks and numbers), call records, and media legs. Constructor injection keeps call control
 * testable against the real implementations without reaching into them.
 */

export interface InboundTrunk {
  id: string;
  tenantId: string;
  mode: 'live' | 'test';
  name: string;
}

export interface DialledNumber {
  id: string;
  tenantId: string;
  mode: 'live' | 'test';
  number: string;
  agentId: string | null;
  trunkId: string | null;
}

export interface InboundRouting {
  /** Trunks whose inbound allowlist contains `address`. */
  trunksForAddress(address: string): InboundTrunk[];
  /** The trunk with inbound digest credentials for `username`, with its password. */
  trunkForUsername(username: string): (InboundTrunk & { password: string }) | undefined;
  /** Whether any trunk authenticates by digest (else unknown sources get 403 at once). */
  hasDigestTrunks(): boolean;
  /** The phone number `number` (E.164 or SIP user), exactly as stored. */
  number(number: string): DialledNumber | undefined;
}

export interface CallRecordStart {
  id: string;
  tenantId: string;
  mode: 'live' | 'test';
  direction: 'inbound' | 'outbound' | 'web';
  fromUri: string | null;
  toUri: string | null;
  fromNumber: string | null;
  toNumber: string | null;
  trunkId: string | null;
  agentId: string | null;
  phoneNumberId: string | null;
  sipCallId: string | null;
  startedAt: string;
}

export interface CallRecordEnd {
  status: 'completed' | 'failed' | 'busy' | 'no_answer' | 'canceled';
  endedAt: string;
  durationMs: number | null;
  endReason: string;
  hangupBy: 'caller' | 'callee' | 'agent' | 'system' | null;
  rtpStats: Record<string, number>;
}

export interface CallRecords {
  create(call: CallRecordStart): void;
  answered(id: string, at: string): void;
  ended(id: string, end: CallRecordEnd): void;
  /** Calls left open (a crash): closed with `reason`. Returns how many. */
  closeOrphans(reason: string, at: string): number;
  /** Failures worth showing an admin (analytics error logs). */
  error(entry: { tenantId: string | null; mode: 'live' | 'test'; callId: string | null; code: string; message: string; details?: Record<string, unknown> }): void;
}

/** RTP counters of a media leg. */
export interface LegStats {
  rtpPacketsIn: number;
  rtpPacketsOut: number;
  bytesIn: number;
  bytesOut: number;
}

/** A call's media leg toward a SIP peer (mediasoup PlainTransport), as call control sees it. */
export interface MediaLegPort {
  readonly answerSdp: string;
  /** Loops the caller's audio back to the caller (until the agent runtime speaks instead). */
  echo(): Promise<void>;
  /** A re-INVITE's offer: returns the new answer (hold, unhold, new address). */
  updateRemote(offerSdp: string): Promise<string>;
  stats(): Promise<LegStats>;
  /** `inactive`: no RTP for the configured time. `close`: the leg is gone (reason). */
  on(event: 'inactive', fn: () => void): unknown;
  on(event: 'close', fn: (reason: string) => void): unknown;
  close(reason?: string): void;
}

export interface MediaPort {
  /**
   * A leg answering `offerSdp`. Throws `NoCommonCodec` (answer 488) or `BadSdp` (answer 400)
   * as typed errors the port's implementation defines; `isNoCommonCodec`/`isBadSdp` tell them.
   */
  createSipLeg(offerSdp: string, opts: { inactivityTimeoutMs: number; label: string }): Promise<MediaLegPort>;
  isNoCommonCodec(err: unknown): boolean;
  isBadSdp(err: unknown): boolean;
}
