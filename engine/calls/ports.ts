/**
 * What call control needs from the store, as narrow interfaces: inbound routing (trunks and
 * numbers) and call records. Media comes from `media/` directly (MediaService, SipLeg).
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

