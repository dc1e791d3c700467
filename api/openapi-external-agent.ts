/**
 * The external agent protocol in the OpenAPI document. The engine is the WebSocket client here
 * (it connects to the agent of kind `websocket`), so there is no operation to hang it on: the
 * message schemas are named components (`ExternalAgent*`), and a top-level `x-external-agent`
 * extension describes the connection, the framing, the bounds and the reconnect rule.
 */
import { agentMessageSchema, engineMessageSchema, externalLimits as defaults, PROTOCOL_VERSION, type ExternalLimits } from '../engine/agents/external/protocol.js';
import { toSchema } from './openapi.js';

type Json = Record<string, unknown>;

/**
 * Adds the external agent protocol's components and `x-external-agent` to a built document, with
 * the bounds this engine runs with (the settings' `externalAgents` over the protocol's defaults).
 */
export function documentExternalAgent(doc: Json, configured: Partial<ExternalLimits> = {}): Json {
  const externalLimits = { ...defaults, ...configured };
  const components = (doc.components as { schemas: Json }).schemas;
  toSchema(engineMessageSchema, 'output', components);
  toSchema(agentMessageSchema, 'input', components);
  doc['x-external-agent'] = {
    description:
      'An agent of kind `websocket` (config.kind, config.websocket): for each answered call the engine opens a WebSocket to config.websocket.url ' +
      '(with config.websocket.headers on the upgrade) and speaks this protocol. Text messages are JSON; binary messages are audio.',
    version: PROTOCOL_VERSION,
    engineMessages: { $ref: '#/components/schemas/ExternalAgentEngineMessage' },
    agentMessages: { $ref: '#/components/schemas/ExternalAgentMessage' },
    audio: {
      pcmu: 'G.711 μ-law, 8 kHz mono: 160 bytes per 20 ms frame',
      l16: '16-bit signed little-endian linear PCM, 8 kHz mono: 320 bytes per 20 ms frame',
      toAgent: 'the caller’s audio, one binary message per 20 ms frame, from start to stop',
      fromAgent: 'binary messages of any length in the same format, queued and played at real time (20 ms frames)',
    },
    limits: {
      connectTimeoutMs: externalLimits.connectTimeoutMs,
      maxMessageBytes: `${externalLimits.maxMessageBytes}: a larger message closes the socket (1009), which counts as a drop`,
      maxTextBytes: `${externalLimits.maxTextBytes}: a larger text message is answered with error too_large`,
      maxPlayoutMs: `${externalLimits.maxPlayoutMs}: audio past this much queued is dropped (error playout_full)`,
      maxPendingMarks: externalLimits.maxPendingMarks,
      maxBufferedBytes: `${externalLimits.maxBufferedBytes}: while more than this is unsent to the agent, the caller’s audio frames are dropped (counted in stop.droppedFrames); control messages are always sent`,
    },
    reconnect:
      'A first connection that fails (refused, not upgraded, or not open within connectTimeoutMs) ends the call agent_unreachable. ' +
      'A connection that drops is reopened once, with start.reconnect true; if that fails or drops too, the call ends agent_disconnected. ' +
      'A close by the agent, whatever its code, is a drop: to end the call send hangup.',
    end: 'When the call ends or is handed over by a transfer, the engine sends stop and closes the socket (1000).',
  };
  return doc;
}
