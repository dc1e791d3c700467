/**
 * The one signing scheme of every request the engine sends to a customer's URL (tool webhooks
 * and event webhooks):
 *
 *   X-AgentStudio-Timestamp: <Unix seconds>
 *   X-AgentStudio-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 *
 * A receiver recomputes the HMAC over the raw body bytes with its secret, compares in constant
 * time, and rejects timestamps far from its clock (a replayed request carries an old one).
 */
import { createHmac } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-AgentStudio-Signature';
export const TIMESTAMP_HEADER = 'X-AgentStudio-Timestamp';

/** `sha256=<hex>` of `<timestamp>.<body>`. */
export function signPayload(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The timestamp and signature headers of `body` signed now. */
export function signatureHeaders(secret: string, body: string, nowMs = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  return { [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: signPayload(secret, timestamp, body) };
}
