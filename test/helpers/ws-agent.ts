/**
 * A bring-your-own agent for tests: a real `ws` WebSocket server on 127.0.0.1 that the engine
 * connects to for each call of a `websocket` agent. It keeps every connection with what came in
 * (JSON messages, binary audio frames, each with when it arrived) and lets the test answer.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import { waitFor } from './http.js';

export interface AgentMessageIn {
  type: string;
  [key: string]: unknown;
}

export class AgentConnection {
  readonly messages: { msg: AgentMessageIn; at: number }[] = [];
  readonly frames: { data: Buffer; at: number }[] = [];
  readonly headers: Record<string, string | string[] | undefined>;
  closedAt: number | null = null;

  constructor(
    readonly ws: WebSocket,
    headers: Record<string, string | string[] | undefined>,
  ) {
    this.headers = headers;
    ws.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      if (isBinary) this.frames.push({ data: buf, at: performance.now() });
      else this.messages.push({ msg: JSON.parse(buf.toString('utf8')) as AgentMessageIn, at: performance.now() });
    });
    ws.on('close', () => (this.closedAt = performance.now()));
    ws.on('error', () => undefined);
  }

  /** The first message of `type` (matching `pred`) received after `since`, waiting up to `timeoutMs`. */
  next(type: string, pred: (m: AgentMessageIn) => boolean = () => true, timeoutMs = 10_000, since = 0) {
    return waitFor(() => this.messages.find((m) => m.at >= since && m.msg.type === type && pred(m.msg)), timeoutMs);
  }

  sendJson(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  sendAudio(data: Buffer): void {
    this.ws.send(data, { binary: true });
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }
}

export class WsAgentServer {
  readonly connections: AgentConnection[] = [];

  private constructor(private readonly wss: WebSocketServer) {
    wss.on('connection', (ws, req) => this.connections.push(new AgentConnection(ws, req.headers)));
  }

  static async open(): Promise<WsAgentServer> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', reject);
    });
    return new WsAgentServer(wss);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/agent`;
  }

  /** The `n`th connection (0-based) once it has arrived. */
  connection(n: number, timeoutMs = 10_000): Promise<AgentConnection> {
    return waitFor(() => this.connections[n], timeoutMs);
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
