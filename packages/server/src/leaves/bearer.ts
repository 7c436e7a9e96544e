import { createHash, timingSafeEqual } from 'node:crypto';

/** The token of an `Authorization: Bearer <token>` header, or `undefined`. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer[ \t]+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
}

/** Compares two secrets in constant time (of their digests, so that lengths do not leak either). */
export function sameSecret(offered: string, expected: string): boolean {
  return timingSafeEqual(secretDigest(offered), secretDigest(expected));
}

/** SHA-256 of a secret: what is kept and compared instead of it (API keys, resume tokens). */
export function secretDigest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
