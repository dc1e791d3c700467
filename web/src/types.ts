/** The API's objects, as far as the dashboard reads them (the OpenAPI document has them whole). */

export interface Agent {
  id: string;
  name: string;
  description: string | null;
  status: 'active' | 'inactive';
  config: AgentConfig;
  updatedAt: string;
}

export interface AgentConfig {
  prompt: { system: string };
  kind?: 'builtin' | 'websocket';
  websocket?: { url: string; audio?: 'pcmu' | 'l16'; headers?: Record<string, string> };
  firstMessage?: string | null;
  language?: string;
  voice?: { provider: string; voiceId: string };
  transcriber?: { provider: string; model?: string; language?: string };
  llm?: { provider: string; model: string; temperature?: number };
  toolIds?: string[];
  workflowId?: string | null;
  bargeIn?: boolean;
  recording?: boolean;
}

export interface Named {
  id: string;
  name: string;
}

export interface PhoneNumber {
  id: string;
  number: string;
  name: string | null;
  agentId: string | null;
  /** The SIP user whose registered devices ring (instead of an agent). */
  sipUserId: string | null;
  trunkId: string | null;
}

export interface SipUser {
  id: string;
  username: string;
}

export interface SipTrunk {
  id: string;
  name: string;
  inbound: { allowlist: string[]; username: string | null; hasPassword: boolean };
  outbound: { host: string; port: number; transport: 'udp' | 'tcp' | 'tls'; username: string | null; hasPassword: boolean } | null;
  callerId: string | null;
  cpsLimit: number | null;
  maxConcurrentCalls: number | null;
}

export interface CallSummary {
  id: string;
  direction: 'inbound' | 'outbound' | 'web';
  status: string;
  from: string | null;
  to: string | null;
  agentId: string | null;
  startedAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  endReason: string | null;
  hangupBy: string | null;
  sipCode: number | null;
}

export interface TranscriptEntry {
  role: 'caller' | 'agent' | 'tool' | 'system';
  text: string;
  at?: string;
}

export interface Call extends CallSummary {
  transcript: TranscriptEntry[];
  rtpStats: Record<string, unknown> | null;
  recording: { status: string; durationMs: number | null; bytes: number | null; error: string | null } | null;
}

export interface CallEvent {
  id: number;
  type: string;
  data: Record<string, unknown>;
  createdAt: string;
}

/** What `POST /api/v1/calls/web` answers. */
export interface WebCallGrant {
  websocketUrl: string;
  sip: { uri: string; username: string; password: string; realm: string; expiresAt: string };
  target: string;
  iceServers: RTCIceServer[];
}
