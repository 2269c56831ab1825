import { createCipheriv, createDecipheriv, KeyObject } from 'node:crypto';
import { EnvelopeAuthFailedError, EnvelopeMalformedError } from './envelope.errors';

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

const ALGORITHM = 'aes-256-gcm';
const GCM_OPTIONS = { authTagLength: TAG_BYTES };

export interface SealedBytes {
  ct: Buffer;
  tag: Buffer;
}

export function aesGcmSeal(key: KeyObject, nonce: Buffer, plaintext: Buffer, aad: Buffer): SealedBytes {
  requireLength(nonce, NONCE_BYTES, 'nonce');
  const cipher = createCipheriv(ALGORITHM, key, nonce, GCM_OPTIONS);
  cipher.setAAD(aad);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  const ct = tail.length === 0 ? head : Buffer.concat([head, tail]);
  return { ct, tag: cipher.getAuthTag() };
}

export function aesGcmOpen(key: KeyObject, nonce: Buffer, ct: Buffer, tag: Buffer, aad: Buffer): Buffer {
  const plaintext = tryAesGcmOpen(key, nonce, ct, tag, aad);
  if (plaintext === undefined) {
    throw new EnvelopeAuthFailedError();
  }
  return plaintext;
}

/** Returns undefined when the tag does not verify, so trying several keys costs no exceptions. */
export function tryAesGcmOpen(
  key: KeyObject,
  nonce: Buffer,
  ct: Buffer,
  tag: Buffer,
  aad: Buffer,
): Buffer | undefined {
  requireLength(nonce, NONCE_BYTES, 'nonce');
  requireLength(tag, TAG_BYTES, 'tag');
  const decipher = createDecipheriv(ALGORITHM, key, nonce, GCM_OPTIONS);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const head = decipher.update(ct);
  let tail: Buffer;
  try {
    tail = decipher.final();
  } catch {
    // final() throws only when the tag does not verify; the unauthenticated output is wiped.
    head.fill(0);
    return undefined;
  }
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
}

function requireLength(value: Buffer, bytes: number, field: string): void {
  if (value.length !== bytes) {
    throw new EnvelopeMalformedError(`${field} must be ${bytes} bytes`);
  }
}
