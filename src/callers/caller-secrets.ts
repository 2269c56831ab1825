import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * `ccs_<prefix>_<secret>`: 8 hex characters that name the secret (stored as they are, shown in
 * lists, never enough to use it), then 32 random bytes in base64url. Only the SHA-256 digest of
 * the whole text is stored.
 */
const SECRET_FORMAT = /^ccs_([0-9a-f]{8})_[A-Za-z0-9_-]{43}$/;

export interface NewCallerSecret {
  secret: string;
  prefix: string;
  digest: string;
}

export function newCallerSecret(): NewCallerSecret {
  const prefix = randomBytes(4).toString('hex');
  const secret = `ccs_${prefix}_${randomBytes(32).toString('base64url')}`;
  return { secret, prefix, digest: digestOf(secret) };
}

/** The lookup prefix of a presented secret; undefined when it does not have the format. */
export function prefixOf(presented: string): string | undefined {
  return SECRET_FORMAT.exec(presented)?.[1];
}

/** SHA-256 of the secret, hex: what the database keeps. */
export function digestOf(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time comparison of two digests (equal lengths by construction). */
export function digestsEqual(presented: string, stored: string): boolean {
  const a = Buffer.from(presented, 'hex');
  const b = Buffer.from(stored, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
