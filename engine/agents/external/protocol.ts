/**
 * The external agent protocol: what the engine and an agent of kind `websocket` say to each other
 * over the WebSocket the engine opens for each answered call. JSON text messages (zod-checked
 * both ways; each schema a named component of the OpenAPI document) and binary audio messages.
 *
 * Engine -> agent: `start` (first, once per connection; `reconnect: true` on the second), the
 * caller's audio as binary messages of one 20 ms frame each, `dtmf` (a key the caller pressed),
 * `mark` (a mark the agent sent has been played, or was cleared), `transfer_result`, `error` (a
 * message of the agent's was refused; the connection stays open) and `stop` (the call ended or
 * was handed over; the engine then closes the socket).
 *
 * Agent -> engine: binary audio to play (any length, same format; queued and paced at 20 ms),
 * `mark`, `clear` (drop the audio queued), `hangup`, `transfer`, `dtmf`.
 */
import os from 'node:os';
import { z } from 'zod';
import { g711Decode, g711Encode } from '../../../media/audio/g711.js';
import { externalAudioFormats } from '../agent-config.js';

export type ExternalAudioFormat = (typeof externalAudioFormats)[number];

/** The protocol's version, in `start`: a later incompatible protocol changes it. */
export const PROTOCOL_VERSION = 1;

/**
 * Bounds. A message past `MAX_MESSAGE_BYTES` makes the `ws` package close the socket (1009), which
 * counts as a drop: 256 KiB is 16 s of PCMU or 8 s of L16 in one message, far above the 20 ms
 * frames an agent should stream. A text message (a command) past `MAX_TEXT_BYTES` is refused
 * with an `error` and the socket stays open: no command needs more than a few hundred bytes.
 */
export interface ExternalLimits {
  maxMessageBytes: number;
  maxTextBytes: number;
  maxPlayoutMs: number;
  maxPendingMarks: number;
  maxBufferedBytes: number;
  connectTimeoutMs: number;
  closeGraceMs: number;
}

/** The defaults; `connectTimeoutMs` and `maxBufferedBytes` are settings (`externalAgents.*`). */
export const externalLimits: Readonly<ExternalLimits> = {
  maxMessageBytes: 256 * 1024,
  maxTextBytes: 16 * 1024,
  /** Agent audio queued for the caller; audio past it is dropped (an `error` says so): one minute. */
  maxPlayoutMs: 60_000,
  /** Marks waiting for their audio to play; more are refused. */
  maxPendingMarks: 256,
  /**
   * Unsent bytes on the socket before the caller's audio frames are dropped (an agent that cannot
   * keep up loses caller audio, never the call): 256 KiB is 16 s of PCMU. Control messages
   * (`dtmf`, `mark`, `stop`...) are always sent.
   */
  maxBufferedBytes: 256 * 1024,
  /** Opening the socket (TCP, TLS and the upgrade) must take less than this. */
  connectTimeoutMs: 5000,
  /** After our close frame, the agent has this long to close too before the socket is destroyed. */
  closeGraceMs: 1000,
};

const frameBytes: Record<ExternalAudioFormat, number> = { pcmu: 160, l16: 320 };

// --- Engine -> agent -------------------------------------------------------------------------------

const startMessageSchema = z
  .strictObject({
    type: z.literal('start'),
    version: z.literal(PROTOCOL_VERSION),
    reconnect: z.boolean().meta({ description: 'True on the one reconnection after a drop (the call went on meanwhile)' }),
    callId: z.string(),
    agentId: z.string().nullable(),
    direction: z.enum(['inbound', 'outbound']),
    from: z.string().nullable().meta({ description: 'The caller’s number (or SIP user)' }),
    to: z.string().nullable().meta({ description: 'The number dialled' }),
    variables: z.record(z.string(), z.unknown()).meta({
      description: 'The call variables: caller, callee, call_id, agent_id, trunk_id, sip (the INVITE’s X- headers as sip.x_customer_tier), and the agent’s own variables',
    }),
    media: z.strictObject({
      format: z.enum(externalAudioFormats),
      sampleRate: z.literal(8000),
      channels: z.literal(1),
      frameMs: z.literal(20),
      frameBytes: z.number().int().meta({ description: '160 for pcmu, 320 for l16' }),
    }),
  })
  .meta({ id: 'ExternalAgentStart', description: 'The first message on each connection' });

const dtmfEventSchema = z
  .strictObject({ type: z.literal('dtmf'), digit: z.string(), durationMs: z.number().optional() })
  .meta({ id: 'ExternalAgentDtmfEvent', description: 'The caller pressed a key (RFC 4733 or SIP INFO)' });

const markEventSchema = z
  .strictObject({
    type: z.literal('mark'),
    name: z.string(),
    cleared: z.boolean().optional().meta({ description: 'True when a clear (or the agent being muted) dropped the audio before it, rather than it playing' }),
  })
  .meta({ id: 'ExternalAgentMarkEvent', description: 'The audio sent before the agent’s mark of that name has been played to the caller' });

const transferResultSchema = z
  .strictObject({ type: z.literal('transfer_result'), target: z.string(), result: z.enum(['transferred', 'failed']) })
  .meta({ id: 'ExternalAgentTransferResult', description: 'How a transfer command ended; after `transferred` comes `stop`' });

export const externalErrorCodes = ['bad_message', 'too_large', 'bad_audio', 'playout_full', 'too_many_marks', 'refused', 'dtmf_failed'] as const;

const errorMessageSchema = z
  .strictObject({ type: z.literal('error'), code: z.enum(externalErrorCodes), message: z.string() })
  .meta({
    id: 'ExternalAgentError',
    description:
      'A message of the agent’s was refused (not JSON, unknown type or bad fields: bad_message; text past 16 KiB: too_large; L16 audio of an odd length: bad_audio; past one minute of queued audio: playout_full, the rest of that audio dropped; past 256 marks waiting: too_many_marks; a command the call cannot take now: refused; DTMF that could not be sent: dtmf_failed). The connection stays open',
  });

const stopMessageSchema = z
  .strictObject({
    type: z.literal('stop'),
    reason: z.string().meta({ description: 'The call’s end reason (caller_hangup, agent_hangup…), or `transferred` when the call was handed over' }),
    droppedFrames: z.number().int().meta({ description: 'Caller audio frames dropped because the agent did not read fast enough' }),
  })
  .meta({ id: 'ExternalAgentStop', description: 'The last message: the call ended or was handed over; the engine closes the socket' });

/** Every JSON message the engine sends. */
export const engineMessageSchema = z
  .discriminatedUnion('type', [startMessageSchema, dtmfEventSchema, markEventSchema, transferResultSchema, errorMessageSchema, stopMessageSchema])
  .meta({ id: 'ExternalAgentEngineMessage', description: 'JSON text messages from the engine to the agent' });
export type EngineMessage = z.infer<typeof engineMessageSchema>;

// --- Agent -> engine -------------------------------------------------------------------------------

const markCommandSchema = z
  .strictObject({ type: z.literal('mark'), name: z.string().min(1).max(256) })
  .meta({ id: 'ExternalAgentMark', description: 'Answered with a `mark` of the same name once the audio sent before it has played' });

const clearCommandSchema = z
  .strictObject({ type: z.literal('clear') })
  .meta({ id: 'ExternalAgentClear', description: 'Drops the audio queued for the caller at once (barge-in); pending marks come back with cleared: true' });

const hangupCommandSchema = z
  .strictObject({ type: z.literal('hangup'), reason: z.string().max(256).optional() })
  .meta({ id: 'ExternalAgentHangup', description: 'Ends the call at once (agent_hangup); queued audio is not waited for (use a mark first)' });

const transferCommandSchema = z
  .strictObject({ type: z.literal('transfer'), target: z.string().min(1).max(2048).meta({ description: 'An E.164 number or a sip:/sips: URI' }) })
  .meta({ id: 'ExternalAgentTransfer', description: 'Blind transfer of the caller (as POST /calls/{id}/transfer); answered with transfer_result' });

const dtmfCommandSchema = z
  .strictObject({ type: z.literal('dtmf'), digits: z.string().regex(/^[0-9*#A-D]{1,32}$/, 'Must be 1 to 32 of 0-9, *, #, A-D') })
  .meta({ id: 'ExternalAgentDtmf', description: 'Sends digits to the caller (RFC 4733, or SIP INFO)' });

/** Every JSON message an agent may send. */
export const agentMessageSchema = z
  .discriminatedUnion('type', [markCommandSchema, clearCommandSchema, hangupCommandSchema, transferCommandSchema, dtmfCommandSchema])
  .meta({ id: 'ExternalAgentMessage', description: 'JSON text messages from the agent to the engine' });
export type AgentMessage = z.infer<typeof agentMessageSchema>;

/** A text message read: a command, or the `error` to answer it with. Never throws. */
export function readAgentText(raw: Buffer): AgentMessage | { error: { code: (typeof externalErrorCodes)[number]; message: string } } {
  if (raw.length > externalLimits.maxTextBytes) return { error: { code: 'too_large', message: `text messages are limited to ${externalLimits.maxTextBytes} bytes` } };
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    return { error: { code: 'bad_message', message: 'not JSON' } };
  }
  const r = agentMessageSchema.safeParse(json);
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const where = first?.path.length ? `${first.path.join('.')}: ` : '';
  return { error: { code: 'bad_message', message: `${where}${first?.message ?? 'invalid'}`.slice(0, 500) } };
}

// --- Audio framing ---------------------------------------------------------------------------------

const bigEndian = os.endianness() === 'BE';

/** One 20 ms frame of the caller's audio (8 kHz PCM) as the agent's format wants it. */
export function encodeFrame(format: ExternalAudioFormat, pcm: Int16Array): Buffer {
  if (format === 'pcmu') return g711Encode('PCMU', pcm, Buffer.alloc(pcm.length));
  const out = Buffer.from(new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength));
  if (bigEndian) out.swap16();
  return out;
}

/** The agent's binary audio as 8 kHz PCM, or null when it cannot be read (L16 of an odd length). */
export function decodeAudio(format: ExternalAudioFormat, data: Buffer): Int16Array | null {
  if (format === 'pcmu') return g711Decode('PCMU', data);
  if (data.length % 2 !== 0) return null;
  const copy = Buffer.from(data);
  if (bigEndian) copy.swap16();
  return new Int16Array(copy.buffer, copy.byteOffset, copy.length / 2);
}

/** The `media` of `start`. */
export function mediaOf(format: ExternalAudioFormat) {
  return { format, sampleRate: 8000, channels: 1, frameMs: 20, frameBytes: frameBytes[format] } as const;
}
