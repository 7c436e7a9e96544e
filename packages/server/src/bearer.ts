import { createHash, timingSafeEqual } from 'node:crypto';

/** The token of an `Authorization: Bearer <token>` header, or `undefined`. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer[ \t]+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
}

/** Compares two secrets in constant time (of their digests, so that lengths do not leak either). */
export function sameSecret(offered: string, expected: string): boolean {
  return timingSafeEqual(digest(offered), digest(expected));
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
