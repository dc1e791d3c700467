/**
 * One-request SIP clients for abuse tests, over a raw UdpPeer: ask a question (REGISTER,
 * OPTIONS, INVITE to an extension) and read the final answer, or guess a trunk's digest password
 * the way a cracker does (INVITE, 401, INVITE with credentials). ACKs non-2xx INVITE answers
 * (RFC 3261 §17.1.1.3) so the server's Timer G stops.
 */
import crypto from 'node:crypto';
import type { SipResponse } from '../../engine/sip/message/message.js';
import { asResponse, type UdpPeer } from './sip-peer.js';

export interface Answer {
  res: SipResponse;
  /** ms from sending the request to the final answer. */
  ms: number;
}

let seq = 0;

/** Sends `method` for `user` and waits for its final answer; null when none comes in `timeoutMs`. */
export async function ask(
  peer: UdpPeer,
  target: { host: string; port: number },
  method: string,
  user: string,
  opts: { extra?: string[]; callId?: string; cseq?: number; timeoutMs?: number } = {},
): Promise<Answer | null> {
  const local = peer.socket.address();
  const callId = opts.callId ?? `ask-${process.pid}-${++seq}@${local.address}`;
  const cseq = opts.cseq ?? 1;
  const branch = `z9hG4bK${crypto.randomBytes(6).toString('hex')}`;
  const uri = `sip:${user}@${target.host}:${target.port}`;
  const head = [
    `Via: SIP/2.0/UDP ${local.address}:${local.port};branch=${branch};rport`,
    `From: <sip:scanner@${local.address}>;tag=t${seq}`,
    `To: <${uri}>`,
    `Call-ID: ${callId}`,
  ];
  const lines = [`${method} ${uri} SIP/2.0`, ...head, `CSeq: ${cseq} ${method}`, `Contact: <sip:scanner@${local.address}:${local.port}>`, 'Max-Forwards: 70', ...(opts.extra ?? []), 'Content-Length: 0', '', ''];
  const t0 = performance.now();
  await peer.send(lines.join('\r\n'), target.port, target.host);
  const final = (m: Parameters<Parameters<UdpPeer['waitFor']>[0]>[0]) => m.kind === 'response' && m.status >= 200 && m.callId === callId && m.cseq.seq === cseq;
  let res: SipResponse;
  try {
    res = asResponse(await peer.waitFor(final, 1, opts.timeoutMs ?? 5000));
  } catch {
    return null;
  }
  const ms = performance.now() - t0;
  if (method === 'INVITE' && res.status >= 300) {
    const to = res.headers.get('To')!;
    const ack = [`ACK ${uri} SIP/2.0`, head[0], head[1], `To: ${to}`, head[3], `CSeq: ${cseq} ACK`, 'Max-Forwards: 70', 'Content-Length: 0', '', ''];
    await peer.send(ack.join('\r\n'), target.port, target.host);
  }
  return { res, ms };
}

/**
 * One password guess against a digest trunk: INVITE, the 401's challenge, INVITE with an
 * RFC 2617 `qop=auth` response computed from `password`. Returns the answer to the second
 * INVITE (null when the server stayed silent), or the first answer when it was not a 401.
 */
export async function guessPassword(
  peer: UdpPeer,
  target: { host: string; port: number },
  user: string,
  username: string,
  password: string,
  timeoutMs = 5000,
): Promise<Answer | null> {
  const callId = `guess-${process.pid}-${++seq}`;
  const first = await ask(peer, target, 'INVITE', user, { callId, timeoutMs });
  if (!first || first.res.status !== 401) return first;
  const challenge = first.res.headers.get('WWW-Authenticate') ?? '';
  const param = (name: string) => new RegExp(`${name}="?([^",]+)"?`).exec(challenge)?.[1] ?? '';
  const [realm, nonce] = [param('realm'), param('nonce')];
  const uri = `sip:${user}@${target.host}:${target.port}`;
  const md5 = (s: string) => crypto.createHash('md5').update(s).digest('hex');
  const cnonce = crypto.randomBytes(4).toString('hex');
  const response = md5(`${md5(`${username}:${realm}:${password}`)}:${nonce}:00000001:${cnonce}:auth:${md5(`INVITE:${uri}`)}`);
  const authorization = `Authorization: Digest username="${username}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="${cnonce}"`;
  return ask(peer, target, 'INVITE', user, { callId, cseq: 2, extra: [authorization], timeoutMs });
}
