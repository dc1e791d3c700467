/**
 * A local server that speaks Deepgram's live streaming protocol on 127.0.0.1: `/v1/listen` over
 * WebSocket, `Authorization: Token <key>` checked at the upgrade (401 with Deepgram's JSON body
 * otherwise), binary linear16 audio counted, `KeepAlive` and `CloseStream` recorded (on
 * `CloseStream` it sends `Metadata` and closes, as Deepgram does). Tests script the results, or
 * let `transcripts` answer real speech: the server then runs a VAD on the audio it receives and
 * sends `SpeechStarted`, interim `Results` and a final `speech_final` one per utterance.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { VoiceActivity } from '../../media/audio/vad.js';

export interface FakeDeepgramOptions {
  apiKey?: string;
  /** Status sent instead of the upgrade (e.g. 403, 429, 500). */
  refuseWith?: number;
  /** Never answer the upgrade (a service that hangs). */
  stallUpgrade?: boolean;
  /** Answer the upgrade after this long. */
  upgradeDelayMs?: number;
  /** One text per utterance the server's VAD finds in the audio. */
  transcripts?: string[];
}

/** One client connection as the server saw it. */
export class DeepgramConnection {
  readonly query: URLSearchParams;
  audioBytes = 0;
  /** Text messages from the client, parsed, with the audio bytes before them and the time since the message before. */
  readonly controls: { type: string; atBytes: number; sinceLastMs: number }[] = [];
  #lastMessageAt = performance.now();
  /** Set when the socket closed, with who closed it. */
  closed: { code: number; byClient: boolean } | null = null;
  #closingByServer = false;
  #vad: VoiceActivity | null = null;
  /** Audio is heard in order, one message after the other. */
  #heard: Promise<void> = Promise.resolve();
  #spoken = 0;
  #speechBytes = 0;

  constructor(
    readonly ws: WebSocket,
    url: URL,
    private readonly transcripts: string[] | undefined,
  ) {
    this.query = url.searchParams;
    ws.on('message', (data, isBinary) => this.#message(data as Buffer, isBinary));
    ws.on('close', (code) => {
      this.closed = { code, byClient: !this.#closingByServer };
      this.#vad?.close();
    });
  }

  /** Sends a message as Deepgram would (an object is sent as JSON). */
  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  results(transcript: string, flags: { is_final?: boolean; speech_final?: boolean } = {}): void {
    this.send({
      type: 'Results',
      channel_index: [0, 1],
      duration: 1,
      start: 0,
      is_final: flags.is_final ?? false,
      speech_final: flags.speech_final ?? false,
      channel: { alternatives: [{ transcript, confidence: 0.99, words: [] }] },
      metadata: { request_id: 'fake', model_info: { name: 'general-nova-2', version: 'fake', arch: 'nova-2' }, model_uuid: 'fake' },
      from_finalize: false,
    });
  }

  utteranceEnd(): void {
    this.send({ type: 'UtteranceEnd', channel: [0, 1], last_word_end: 1.5 });
  }

  /** Cuts the TCP connection without a close frame (a crash or a network cut). */
  drop(): void {
    this.#closingByServer = true;
    this.ws.terminate();
  }

  /** A clean close by the server, with `code`. */
  close(code = 1011, reason = 'NET-0001'): void {
    this.#closingByServer = true;
    this.ws.close(code, reason);
  }

  #message(data: Buffer, isBinary: boolean): void {
    const now = performance.now();
    const sinceLastMs = now - this.#lastMessageAt;
    this.#lastMessageAt = now;
    if (isBinary) {
      this.audioBytes += data.length;
      if (this.transcripts) this.#heard = this.#heard.then(() => this.#listen(data));
      return;
    }
    try {
      const msg = JSON.parse(data.toString('utf8')) as { type: string };
      this.controls.push({ type: msg.type, atBytes: this.audioBytes, sinceLastMs });
      if (msg.type === 'CloseStream') {
        this.send({ type: 'Metadata', transaction_key: 'deprecated', request_id: 'fake', duration: this.audioBytes / 16000, channels: 1 });
        this.close(1000, '');
      }
    } catch {
      this.close(1008, 'DATA-0000');
    }
  }

  async #listen(data: Buffer): Promise<void> {
    this.#vad ??= await VoiceActivity.create({ endSilenceMs: 300 });
    const pcm = new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
    for (let at = 0; at + 160 <= pcm.length && this.closed === null; at += 160) {
      const event = this.#vad.push(pcm.subarray(at, at + 160));
      if (this.#vad.speaking) this.#speechBytes += 320;
      if (event === 'speech_start') {
        this.send({ type: 'SpeechStarted', channel: [0, 1], timestamp: 0 });
      } else if (this.#vad.speaking && this.#speechBytes % 8000 === 0) {
        const text = this.transcripts![this.#spoken] ?? '';
        this.results(text.split(' ').slice(0, this.#speechBytes / 8000).join(' '));
      } else if (event === 'speech_end') {
        this.results(this.transcripts![this.#spoken++] ?? '', { is_final: true, speech_final: true });
        this.#speechBytes = 0;
      }
    }
  }
}

export interface FakeDeepgram {
  url: string;
  connections: DeepgramConnection[];
  /** Upgrade requests refused or stalled, with their status (0 when stalled). */
  refused: { status: number; authorization: string | undefined }[];
  /** The next connection. */
  nextConnection(): Promise<DeepgramConnection>;
  close(): Promise<void>;
}

export async function fakeDeepgram(opts: FakeDeepgramOptions = {}): Promise<FakeDeepgram> {
  const apiKey = opts.apiKey ?? 'dg-test-key';
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true });
  const sockets = new Set<Socket>();
  const connections: DeepgramConnection[] = [];
  const refused: FakeDeepgram['refused'] = [];
  const waiting: ((c: DeepgramConnection) => void)[] = [];
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const authorization = req.headers.authorization;
    const refuse = (status: number, body: object) => {
      refused.push({ status, authorization });
      const text = JSON.stringify(body);
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
    };
    if (opts.stallUpgrade) {
      refused.push({ status: 0, authorization });
      return;
    }
    if (url.pathname !== '/v1/listen') return refuse(404, { err_code: 'NOT_FOUND', err_msg: 'not found' });
    if (authorization !== `Token ${apiKey}`) {
      return refuse(401, { err_code: 'INVALID_AUTH', err_msg: 'Invalid credentials.', request_id: 'fake' });
    }
    if (opts.refuseWith) return refuse(opts.refuseWith, { err_code: 'REFUSED', err_msg: 'refused by the test' });
    const accept = () =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        const conn = new DeepgramConnection(ws, url, opts.transcripts);
        connections.push(conn);
        waiting.shift()?.(conn);
      });
    if (opts.upgradeDelayMs) setTimeout(accept, opts.upgradeDelayMs);
    else accept();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    connections,
    refused,
    nextConnection: () => new Promise((resolve) => waiting.push(resolve)),
    async close() {
      for (const c of wss.clients) c.terminate();
      for (const s of sockets) s.destroy();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
