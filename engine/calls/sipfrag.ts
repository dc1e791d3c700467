/**
 * What a transferee's NOTIFYs say about a REFER (RFC 3515 §2.4.4-§2.4.5): the `message/sipfrag`
 * body (RFC 3420) whose first line is the status line of the transferee's INVITE to the target,
 * the `Event: refer` package and the `Subscription-State` (RFC 6665 §8.2.3). Everything here reads
 * text a peer wrote: nothing throws, anything unreadable is `null`.
 */

/** The status line a sipfrag carries. */
export interface SipfragStatus {
  status: number;
  reason: string;
}

/** A status line has no business being longer (RFC 3261 §7.2: `SIP/2.0 SP 3DIGIT SP reason`). */
const MAX_STATUS_LINE = 512;

/**
 * RFC 3515 §2.4.5: "the body of a NOTIFY MUST begin with a SIP Response Status-Line". Leading
 * blank lines are tolerated (some stacks send one); the rest of the fragment (headers) is ignored.
 * Returns null for anything else (a request line, garbage, an empty body).
 */
export function parseSipfrag(body: string | undefined | null): SipfragStatus | null {
  if (typeof body !== 'string') return null;
  const start = body.search(/[^\r\n]/);
  if (start < 0) return null;
  // Only the first MAX_STATUS_LINE + 1 characters are looked at: a longer line is refused.
  const head = body.slice(start, start + MAX_STATUS_LINE + 1);
  const nl = head.search(/[\r\n]/);
  const line = nl < 0 ? head : head.slice(0, nl);
  if (line.length > MAX_STATUS_LINE) return null;
  const m = /^SIP\/2\.0[ \t]+([1-6]\d\d)(?:[ \t]+([^\r\n]*))?[ \t]*$/i.exec(line);
  if (!m) return null;
  return { status: Number(m[1]), reason: (m[2] ?? '').trim() };
}

/** The parts of `Subscription-State` (RFC 6665 §8.2.3) a transferor acts on. */
export interface SubscriptionState {
  state: 'active' | 'pending' | 'terminated' | 'other';
  /** `reason=` of a terminated subscription (noresource, timeout, rejected...), or null. */
  reason: string | null;
}

/** Reads `Subscription-State`; null when the header is missing or empty. */
export function parseSubscriptionState(value: string | undefined | null): SubscriptionState | null {
  if (typeof value !== 'string') return null;
  const [head, ...params] = value.split(';');
  const name = (head ?? '').trim().toLowerCase();
  if (!name) return null;
  const state = name === 'active' || name === 'pending' || name === 'terminated' ? name : 'other';
  const reasonParam = params.map((p) => p.trim().split('=')).find(([k]) => k?.trim().toLowerCase() === 'reason');
  return { state, reason: reasonParam?.[1]?.trim().toLowerCase() || null };
}

/**
 * True for `Event: refer` (RFC 3515 §2.4.4), with or without the `id` parameter a NOTIFY for a
 * second REFER in the dialog carries (§2.4.6). The package name is compared case-insensitively
 * (RFC 6665 §8.2.1 tokens).
 */
export function isReferEvent(value: string | undefined | null): boolean {
  if (typeof value !== 'string') return false;
  return (value.split(';')[0] ?? '').trim().toLowerCase() === 'refer';
}

/** The REFER's CSeq number an `Event: refer;id=N` names, or null without one. */
export function referEventId(value: string | undefined | null): number | null {
  if (typeof value !== 'string') return null;
  const m = /;\s*id\s*=\s*(\d{1,10})\s*(?:;|$)/i.exec(value);
  return m ? Number(m[1]) : null;
}
