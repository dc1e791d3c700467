/** A call as the API shows it (list item and whole call), shared by the call routes and the outbound ones. */
import { z } from 'zod';
import {
  callDirections,
  callMetricsSchema,
  callRecordingSchema,
  callStatuses,
  hangupParties,
  endReasons,
  rtpStatsSchema,
  transcriptEntrySchema,
  type Call,
  type CallSummary,
} from '../../engine/calls/call-record.js';
import type { QueueInfo } from '../../engine/calls/outbound-dialer.js';
import { resourceShape, timestampsShape } from './crud.js';

const summaryShape = {
  ...resourceShape,
  direction: z.enum(callDirections),
  status: z.enum(callStatuses),
  from: z.string().nullable().meta({ description: 'Caller: the number when known, else the SIP URI' }),
  to: z.string().nullable().meta({ description: 'Callee: the number when known, else the SIP URI' }),
  fromUri: z.string().nullable(),
  toUri: z.string().nullable(),
  agentId: z.uuid().nullable(),
  trunkId: z.uuid().nullable(),
  phoneNumberId: z.uuid().nullable(),
  workflowId: z.uuid().nullable(),
  workflowVersion: z.number().int().nullable(),
  sipCallId: z.string().nullable(),
  startedAt: z.iso.datetime(),
  answeredAt: z.iso.datetime().nullable(),
  endedAt: z.iso.datetime().nullable(),
  durationMs: z.number().int().nullable().meta({ description: 'Talk time, answer to end; null if unanswered or not ended' }),
  endReason: z.enum(endReasons).nullable(),
  hangupBy: z.enum(hangupParties).nullable(),
  sipCode: z.number().int().nullable().meta({ description: 'Outbound calls, and inbound calls to a number that rings a SIP user: the final SIP status the far end sent (200, 486, 603…); null when none came (no answer, canceled) and for other inbound calls' }),
  ...timestampsShape,
};

export const callSummarySchema = z.object(summaryShape).meta({ id: 'CallSummary' });
export const callSchema = z
  .object({
    ...summaryShape,
    transcript: z.array(transcriptEntrySchema),
    rtpStats: rtpStatsSchema,
    metrics: callMetricsSchema,
    metadata: z.record(z.string(), z.unknown()),
    recording: callRecordingSchema.nullable().meta({ description: 'Null when the call was not recorded; the audio is GET /calls/{id}/recording' }),
    queuePosition: z.number().int().min(1).nullable().meta({ description: "A queued outbound call's place in its trunk's queue (1 = next); null otherwise" }),
    estimatedStartAt: z.iso
      .datetime()
      .nullable()
      .meta({ description: "A queued outbound call's earliest start under its trunk's calls-per-second cap (later if a concurrency cap holds the queue); null otherwise" }),
  })
  .meta({ id: 'Call' });

export const presentSummary = (c: CallSummary) => ({
  id: c.id,
  mode: c.mode,
  direction: c.direction,
  status: c.status,
  from: c.fromNumber ?? c.fromUri,
  to: c.toNumber ?? c.toUri,
  fromUri: c.fromUri,
  toUri: c.toUri,
  agentId: c.agentId,
  trunkId: c.trunkId,
  phoneNumberId: c.phoneNumberId,
  workflowId: c.workflowId,
  workflowVersion: c.workflowVersion,
  sipCallId: c.sipCallId,
  startedAt: c.startedAt,
  answeredAt: c.answeredAt,
  endedAt: c.endedAt,
  durationMs: c.durationMs,
  endReason: c.endReason,
  hangupBy: c.hangupBy,
  sipCode: c.sipCode,
  createdAt: c.createdAt,
  updatedAt: c.updatedAt,
});

export const present = (c: Call, queue: QueueInfo | null) => ({
  ...presentSummary(c),
  transcript: c.transcript,
  rtpStats: c.rtpStats,
  metrics: c.metrics,
  metadata: c.metadata,
  recording: c.recording,
  queuePosition: queue?.position ?? null,
  estimatedStartAt: queue?.estimatedStartAt ?? null,
});
