/**
 * Password hashing with scrypt (node:crypto). Stored as `scrypt$N$r$p$salt$hash` (base64url),
 * so the cost can rise later without breaking existing hashes.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** N=2^15, r=8, p=1: ~50 ms on this class of machine, 32 MiB of memory (OWASP's minimum is 2^17 for 1 iteration of r=8 p=1 with 64MiB; we keep 2^15 so logins stay fast on 2 cores). */
const PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_LEN = 32;

function derive(password: string, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, KEY_LEN, { ...opts, maxmem: 128 * opts.N! * opts.r! * 2 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, PARAMS);
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [alg, n, r, p, salt, hash] = stored.split('$');
  if (alg !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await derive(password, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p) });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash to compare against when the user does not exist, so timing does not reveal it. */
export const dummyHash = hashPassword('no-such-user-password');

const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
/** 24 characters of a 56-character alphabet: ~139 bits, and no look-alikes (0/O, 1/l/I). */
const GENERATED_LENGTH = 24;

/** A random password for accounts made by the admin command. */
export function generatePassword(): string {
  let out = '';
  // Rejection sampling keeps the alphabet uniform (256 is not a multiple of 56).
  const limit = 256 - (256 % PASSWORD_ALPHABET.length);
  while (out.length < GENERATED_LENGTH) {
    for (const b of randomBytes(GENERATED_LENGTH)) {
      if (b < limit && out.length < GENERATED_LENGTH) out += PASSWORD_ALPHABET[b % PASSWORD_ALPHABET.length];
    }
  }
  return out;
}
