/**
 * The part of drachtio-srf's API the ported test apps use, typed here: the package's bundled
 * typings (lib/@types/index.d.ts) miss several methods and get some signatures wrong.
 */
import type { EventEmitter } from 'node:events';

/** A SIP message as drachtio-srf exposes it. */
export interface SrfMessage {
  method: string;
  uri: string;
  status: number;
  reason: string;
  body: string;
  get(name: string): string;
  has(name: string): boolean;
  getParsedHeader(name: string): unknown;
  readonly stackTxnId: string;
  readonly stackDialogId: string;
  readonly server?: { address: string; hostport: string };
}

export interface SrfRequest extends SrfMessage, EventEmitter {
  canceled?: boolean;
  cancel(opts?: { headers?: Record<string, string> }): void;
}

export type AckFn = (req: SrfRequest) => void;

export interface SrfResponse extends SrfMessage {
  readonly finalResponseSent: boolean;
  send(status: number, opts?: object, callback?: ((err: unknown, msg: SrfMessage) => void) | null, fnAck?: AckFn): void;
  send(status: number, reason: string, opts?: object, callback?: ((err: unknown, msg: SrfMessage) => void) | null, fnAck?: AckFn): void;
}

export interface SrfDialog extends EventEmitter {
  readonly id: string;
  readonly type: 'uas' | 'uac';
  readonly sip: { callId: string; localTag: string; remoteTag: string };
  readonly local: { uri: string; sdp: string; contact: string };
  readonly remote: { uri: string; sdp: string };
  readonly connected: boolean;
  other?: SrfDialog;
  destroy(opts?: object): Promise<unknown>;
  modify(sdp: string, opts?: object): Promise<string>;
  request(opts: { method: string; headers?: Record<string, string>; body?: string }): Promise<SrfMessage>;
  getCountOfSubscriptions(): number;
}

export type Handler = (req: SrfRequest, res: SrfResponse) => void;

/** Results of `srf.proxyRequest` (drachtio-srf lib/request.js). */
export interface ProxyResults {
  connected: boolean;
  finalStatus?: number;
  responses: { address: string; port: number; msgs: { status: number }[] }[];
}

export interface SrfApp extends EventEmitter {
  connect(opts: { host: string; port: number; secret: string; enablePing?: boolean; pingInterval?: number }): void;
  disconnect(): void;
  invite(h: Handler): void;
  subscribe(h: Handler): void;
  register(h: Handler): void;
  options(h: Handler): void;
  use(method: string, h: Handler): void;
  createUAS(req: SrfRequest, res: SrfResponse, opts?: object): Promise<SrfDialog>;
  createUAS(req: SrfRequest, res: SrfResponse, opts: object, cb: (err: unknown, d: SrfDialog) => void): void;
  createUAC(uri: string | object, opts?: object, progress?: object): Promise<SrfDialog>;
  createUAC(uri: string, opts: object, progress: object, cb: (err: (Error & { status?: number }) | null, d: SrfDialog) => void): void;
  createB2BUA(req: SrfRequest, res: SrfResponse, uri: string | object, opts?: object, progress?: object): Promise<{ uas: SrfDialog; uac: SrfDialog }>;
  request(uri: string | object, opts?: object): Promise<SrfRequest>;
  request(uri: string, opts: object, cb: (err: unknown, req: SrfRequest) => void): void;
  proxyRequest(req: SrfRequest, dest: string | string[], opts?: object): Promise<ProxyResults>;
  proxyRequest(req: SrfRequest, dest: string | string[], opts: object, cb: (err: unknown, r: ProxyResults) => void): void;
  findDialogByCallIDAndFromTag(callId: string, tag: string): SrfDialog | undefined;
}

/** A SIP error as drachtio-srf rejects with it. */
export type SipError = Error & { status?: number };
