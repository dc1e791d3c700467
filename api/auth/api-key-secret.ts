/** API key material: `as_live_` / `as_test_` + 32 base62 characters (~190 bits). */
import { createHash, randomBytes } from 'node:crypto';
import type { Mode } from '../../engine/store/mode.js';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const BODY_LEN = 32;
/** Characters of the body kept in the display prefix (enough to tell keys apart in a list). */
const SHOWN = 4;

export const keyPattern = /^as_(live|test)_[0-9A-Za-z]{32}$/;

/** A scope: `*`, `resource:*` or `resource:action` (e.g. `agents:write`). */
export const scopePattern = /^(\*|[a-z][a-z0-9_]*:([a-z][a-z0-9_]*|\*))$/;

export function generateApiKey(mode: Mode): { key: string; prefix: string; hash: string } {
  // Rejection sampling keeps the alphabet uniform (256 is not a multiple of 62).
  let body = '';
  while (body.length < BODY_LEN) {
    for (const b of randomBytes(BODY_LEN)) {
      if (b < 248 && body.length < BODY_LEN) body += ALPHABET[b % 62];
    }
  }
  const key = `as_${mode}_${body}`;
  return { key, prefix: `${key.slice(0, 8 + SHOWN)}…`, hash: hashApiKey(key) };
}

export const hashApiKey = (key: string): string => createHash('sha256').update(key).digest('hex');
