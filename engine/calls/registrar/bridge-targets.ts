/**
 * Which calls to a registered user the engine bridges (registrar/user-bridge.ts) rather than
 * proxies, and the order its bindings are listed in.
 */
import { isWebRtcOffer } from '../../../media/sdp/index.js';
import { mediaOfBinding, type Binding } from './bindings.js';

/**
 * The bindings a call must be bridged to (all of them, newest first), or null when it is proxied
 * as before: the INVITE has no offer (a late offer is the devices' own business) or one we cannot
 * read, or every binding speaks the caller's media (a WebRTC offer and browsers, a plain RTP
 * offer and devices).
 */
export function bridgeTargets(offer: string | undefined, bindings: readonly Binding[]): Binding[] | null {
  if (!offer?.trim() || bindings.length === 0) return null;
  let media: 'webrtc' | 'rtp';
  try {
    media = isWebRtcOffer(offer) ? 'webrtc' : 'rtp';
  } catch {
    // An offer we cannot read is the devices' business, as before: proxied.
    return null;
  }
  if (bindings.every((b) => mediaOfBinding(b) === media)) return null;
  return newestFirst(bindings);
}

/** Bindings, the newest registration first. */
export function newestFirst(bindings: readonly Binding[]): Binding[] {
  return [...bindings].sort((a, b) => b.registeredAt.getTime() - a.registeredAt.getTime());
}
