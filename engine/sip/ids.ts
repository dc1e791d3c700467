/**
 * Identifiers the stack generates: branches (§8.1.1.7), tags (§19.3), Call-IDs (§8.1.1.4) and
 * initial CSeq numbers (§8.1.1.5). All come from the OS random source.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { MAGIC_COOKIE } from './message/via.js';

/** §8.1.1.7: "The branch ID inserted by an element compliant with this specification MUST always begin with the characters "z9hG4bK"". */
export function newBranch(): string {
  return `${MAGIC_COOKIE}${randomBytes(12).toString('base64url')}`;
}

/** §19.3: a tag "MUST be globally unique and cryptographically random with at least 32 bits of randomness". 13 chars of base62: ~77 bits. */
export function newTag(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(13);
  let s = '';
  for (const b of bytes) s += alphabet[b % 62];
  return s;
}

/** §8.1.1.4: Call-IDs "MUST be ... globally unique"; a UUID is. */
export function newCallId(): string {
  return randomUUID();
}

/** §8.1.1.5: an initial CSeq "MUST be less than 2**31"; half that range leaves room to count up. */
export function initialCSeq(): number {
  return randomInt(1, 2 ** 30);
}
