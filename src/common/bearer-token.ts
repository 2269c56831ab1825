import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerTokenOf(request: Request): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : undefined;
}

/** Constant-time equality over fixed-length digests, so neither content nor length leaks. */
export function secretsEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** A short, stable, non-reversible name for a secret, for audit trails. */
export function fingerprintOf(secret: string): string {
  return createHash('sha256')
    .update('connectors-backend/actor/v1\0')
    .update(secret)
    .digest('hex')
    .slice(0, 16);
}
