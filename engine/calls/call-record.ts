/**
 * What the store keeps about a call: its status values and the shapes of its JSON columns
 * (transcript, RTP statistics, metrics). Call control writes them; the API reads them.
 */
import { z } from 'zod';
import type { Mode } from '../store/mode.js';

export const callStatuses = ['queued', 'ringing', 'in_progress', 'completed', 'failed', 'busy', 'no_answer', 'canceled'] as const;
export type CallStatus = (typeof callStatuses)[number];
/** Statuses a call ends in. */
export const finalStatuses = ['completed', 'failed', 'busy', 'no_answer', 'canceled'] as const;
export type FinalStatus = (typeof finalStatuses)[number];

export const callDirections = ['inbound', 'outbound', 'web'] as const;
export type CallDirection = (typeof callDirections)[number];

export const hangupParties = ['caller', 'callee', 'agent', 'system'] as const;
export type HangupBy = (typeof hangupParties)[number];

/** Why a call ended: stable codes, stored in calls.end_reason and sent in call.ended. */
export const endReasons = [
  'caller_hangup',
  'callee_hangup',
  'agent_hangup',
  'canceled',
  'no_common_codec',
  'bad_sdp',
  'no_offer',
  'ack_timeout',
  'session_timer_expired',
  'rtp_timeout',
  'media_worker_died',
  'media_error',
  'shutdown',
  'api_hangup',
  /** The agent's maximum call duration (`timeouts.maxDurationMs`) was reached. */
  'max_duration',
  /** A blind transfer succeeded (the caller's side reached the target after our REFER); hung up by `agent`. */
  'transferred',
  /** The process died with the call live (closed at the next start, see orphans.ts). */
  'engine_restart',
  /** A defect in the engine's handling of the call (logged at error level). */
  'engine_error',
  /** Outbound, or a number that rings a SIP user: the far end was busy (486 Busy Here, 600 Busy Everywhere); status `busy`. */
  'busy',
  /** Outbound, or a number that rings a SIP user: no answer before the ring timeout (the engine CANCELed), or 408/480 from the far end; status `no_answer`. */
  'no_answer',
  /** Outbound, or a number that rings a SIP user: the far end or the carrier refused the call with another final status (403, 404, 503, 603…; see `sipCode`). */
  'rejected',
  /** Outbound: the INVITE could not be placed or got no final answer (transport error, timeout, no media). */
  'dial_error',
  /** To a SIP user (outbound, or a number that rings it): the user had no registered binding when the call was to be dialled; status `failed`. */
  'not_registered',
  /** An external (`websocket`) agent could not be reached when the call was answered. */
  'agent_unreachable',
  /** An external agent's socket dropped, and again after its one reconnection (or that failed). */
  'agent_disconnected',
  /** A browser (WebRTC) leg: ICE and DTLS did not come up in time. */
  'ice_failed',
  /** A browser leg went silent, not even consent checks (a closed tab, a lost network), past its grace. */
  'ice_disconnected',
  /** A browser leg's DTLS handshake failed (a certificate not matching the offered fingerprint). */
  'dtls_failed',
  /** The browser closed its peer connection (DTLS close_notify): its side hung up without a BYE. */
  'dtls_closed',
] as const;
export type EndReason = (typeof endReasons)[number];

export const transcriptEntrySchema = z
  .looseObject({
    role: z.enum(['caller', 'agent', 'tool', 'system']),
    text: z.string(),
    at: z.string().optional().meta({ description: 'When the utterance started (ISO 8601)' }),
  })
  .meta({ id: 'TranscriptEntry' });
export type TranscriptEntry = z.infer<typeof transcriptEntrySchema>;

/** Media counters of the call's leg(s), as the media layer reports them. */
export const rtpStatsSchema = z
  .looseObject({
    packetsSent: z.number().int().optional(),
    packetsReceived: z.number().int().optional(),
    bytesSent: z.number().int().optional(),
    bytesReceived: z.number().int().optional(),
    packetsLost: z.number().int().optional(),
    jitterMs: z.number().optional(),
  })
  .meta({ id: 'RtpStats' });
export type RtpStats = z.infer<typeof rtpStatsSchema>;

/**
 * Per-call measurements. `turnLatencyMs` holds, per agent turn, the time from the end of the
 * caller's speech to the agent's first audio; analytics computes its percentiles.
 */
export const callMetricsSchema = z
  .looseObject({
    turnLatencyMs: z.array(z.number()).optional(),
    workflowPath: z.array(z.string()).optional().meta({ description: 'The workflow nodes the call went through, in order' }),
    turns: z
      .array(
        z.looseObject({
          sttFinalMs: z.number().nullable(),
          llmFirstTokenMs: z.number().nullable(),
          ttsFirstAudioMs: z.number().nullable(),
          firstAudioOutMs: z.number().nullable(),
        }),
      )
      .optional()
      .meta({ description: 'Per agent turn, ms from the end of the caller’s speech to: the final transcript, the LLM’s first token, the first synthesised audio, the first audio frame out' }),
  })
  .meta({ id: 'CallMetrics' });
export type CallMetrics = z.infer<typeof callMetricsSchema>;

export const recordingStatuses = ['recording', 'complete', 'stopped', 'failed', 'interrupted'] as const;

/**
 * A call's recording (`calls.recording`, JSON; null when the call was not recorded). The file is
 * `<recordings dir>/<call id>.wav`: its name comes from the call id only.
 * - `recording`: being written; `complete`: closed with the call;
 * - `stopped`: cut at the agent's maximum call duration; `failed`: a write error stopped it
 *   (what was written before it is kept, `error` says why);
 * - `interrupted`: the engine died while recording (the file holds what reached the disk).
 */
export const callRecordingSchema = z
  .object({
    status: z.enum(recordingStatuses),
    startedAt: z.iso.datetime(),
    durationMs: z.number().int().nullable().meta({ description: 'Audio in the file; null while recording' }),
    bytes: z.number().int().nullable().meta({ description: 'Size of the WAV file; null while recording' }),
    error: z.string().nullable(),
  })
  .meta({ id: 'CallRecording', description: 'Stereo 16-bit 8 kHz WAV: the caller on the left channel, the agent on the right' });
export type CallRecording = z.infer<typeof callRecordingSchema>;

/** A call without its heavy JSON (transcript, stats, metrics), as lists show it. */
export interface CallSummary {
  id: string;
  tenantId: string;
  mode: Mode;
  direction: CallDirection;
  status: CallStatus;
  fromUri: string | null;
  toUri: string | null;
  fromNumber: string | null;
  toNumber: string | null;
  trunkId: string | null;
  agentId: string | null;
  phoneNumberId: string | null;
  workflowId: string | null;
  workflowVersion: number | null;
  sipCallId: string | null;
  startedAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  /** Talk time, answer to end; null until an answered call ends, and for unanswered calls. */
  durationMs: number | null;
  endReason: EndReason | null;
  hangupBy: HangupBy | null;
  /** Outbound: the final SIP status the far end sent (486, 603, 200…); null when none came. */
  sipCode: number | null;
  createdAt: string;
  updatedAt: string;
}

export interface Call extends CallSummary {
  rtpStats: RtpStats;
  transcript: TranscriptEntry[];
  metrics: CallMetrics;
  metadata: Record<string, unknown>;
  /** Null when the call was not recorded. */
  recording: CallRecording | null;
}

/** One entry of a call's timeline (a row of the event log). */
export interface CallEvent {
  id: number;
  type: string;
  data: unknown;
  createdAt: string;
}

/** What call control knows when a call starts. */
export interface NewCall {
  tenantId: string;
  mode: Mode;
  direction: CallDirection;
  /** `queued` (outbound, not yet dialled) or `ringing`; default `ringing`. */
  status?: 'queued' | 'ringing';
  fromUri?: string | null;
  toUri?: string | null;
  fromNumber?: string | null;
  toNumber?: string | null;
  trunkId?: string | null;
  agentId?: string | null;
  phoneNumberId?: string | null;
  workflowId?: string | null;
  workflowVersion?: number | null;
  sipCallId?: string | null;
  metadata?: Record<string, unknown>;
  /** Default now. */
  startedAt?: string;
}

/** How a call ended. */
export interface CallEnd {
  /** Machine-readable (`endReasons`); a new cause (e.g. outbound busy) is added there first. */
  reason: EndReason;
  hangupBy?: HangupBy | null;
  /** The final SIP status of an outbound INVITE, when one came. */
  sipCode?: number | null;
  /** Default: `completed` when it was answered, else `failed`. */
  status?: FinalStatus;
  rtpStats?: RtpStats;
  transcript?: TranscriptEntry[];
  metrics?: CallMetrics;
  /** Default now. */
  at?: string;
}
