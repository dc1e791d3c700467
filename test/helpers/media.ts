/** A worker pool and media service for media tests, torn down after the file's tests. */
import type { ExecutionContext } from 'ava';
import { MediaService } from '../../media/media-service.js';
import { negotiateOffer } from '../../media/sdp/index.js';
import type { CallLeg } from '../../media/call-leg.js';
import { SipLeg } from '../../media/sip-leg.js';
import { WorkerPool } from '../../media/worker-pool.js';
import { testConfig, testLogger } from './config.js';
import { RtpPeer } from './rtp-peer.js';

export interface MediaRig {
  pool: WorkerPool;
  media: MediaService;
  close(): void;
}

export async function mediaRig(overrides: Record<string, unknown> = {}): Promise<MediaRig> {
  const config = testConfig(overrides);
  const pool = await WorkerPool.create(config, testLogger(config));
  const media = new MediaService(pool, config.rtp, testLogger(config));
  return {
    pool,
    media,
    close() {
      media.close();
      pool.close();
    },
  };
}

/** An RTP peer socket, closed when the test ends. */
export async function peer(t: ExecutionContext): Promise<RtpPeer> {
  const p = await RtpPeer.open();
  t.teardown(() => p.close());
  return p;
}

/** Closes the leg when the test ends. */
export function closing(t: ExecutionContext, leg: SipLeg): SipLeg {
  t.teardown(() => leg.close());
  return leg;
}

/** The port our answer tells the peer to send to. */
export const answeredPort = (sdp: string) => negotiateOffer(sdp).negotiation.remote.port;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves when `cond()` holds, or rejects after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The RTP port of a call's leg, which the test knows to be a SipLeg (throws otherwise). */
export function rtpPort(leg: CallLeg | undefined): number {
  if (!(leg instanceof SipLeg)) throw new Error(`not a SIP leg: ${leg?.kind ?? 'none'}`);
  return leg.port;
}
