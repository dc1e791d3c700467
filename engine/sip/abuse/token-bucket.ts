/**
 * A token bucket as plain data: `rate` tokens a second flow in up to `burst`; each admitted
 * request takes one. Refilled lazily from the time of the last take, so an idle source costs
 * nothing and needs no timer.
 */
export interface Bucket {
  tokens: number;
  /** When the tokens were last counted (ms, monotonic). */
  at: number;
}

export interface BucketLimit {
  /** Tokens added per second. */
  rate: number;
  /** Most tokens held: the burst a quiet source may send at once. */
  burst: number;
}

/** A full bucket: a source seen for the first time may burst at once. */
export function fullBucket(limit: BucketLimit, now: number): Bucket {
  return { tokens: limit.burst, at: now };
}

/** Takes one token when there is one; false (and nothing taken) when the bucket is empty. */
export function take(bucket: Bucket, limit: BucketLimit, now: number): boolean {
  const elapsed = Math.max(0, now - bucket.at);
  bucket.tokens = Math.min(limit.burst, bucket.tokens + (elapsed * limit.rate) / 1000);
  bucket.at = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}
