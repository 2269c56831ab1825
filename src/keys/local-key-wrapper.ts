import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto';
import { keyIdOf } from '../crypto/key-ring';
import { RegistryKeyRefusedError } from './keys.errors';
import { REGISTRY_BINDING_LABEL, type KeyWrapper } from './key-wrapper';

const NONCE = 12;
const TAG = 16;
const KEY = 32;

/** The one-way id of a root key: names it in the registry without revealing it. */
export function localWrappingKeyOf(root: KeyObject): string {
  return `local:${keyIdOf(root)}`;
}

/**
 * AES-256-GCM under a root key, with the key id and the root's id as associated data. The root
 * only wraps data keys; it never seals a token.
 */
export class LocalKeyWrapper implements KeyWrapper {
  readonly wrappingKey: string;

  constructor(private readonly root: KeyObject) {
    this.wrappingKey = localWrappingKeyOf(root);
  }

  async generate(): Promise<Buffer> {
    return randomBytes(KEY);
  }

  async wrap(keyId: string, plaintext: Buffer): Promise<{ wrapped: Buffer; wrappingKey: string }> {
    const nonce = randomBytes(NONCE);
    const cipher = createCipheriv('aes-256-gcm', this.root, nonce, { authTagLength: TAG });
    cipher.setAAD(this.associatedData(keyId));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { wrapped: Buffer.concat([nonce, ct, cipher.getAuthTag()]), wrappingKey: this.wrappingKey };
  }

  accepts(wrappingKey: string): boolean {
    return wrappingKey === this.wrappingKey;
  }

  async unwrap(keyId: string, wrapped: Buffer, wrappingKey: string): Promise<Buffer> {
    if (!this.accepts(wrappingKey)) throw new RegistryKeyRefusedError(keyId, 'wrapped by another root key');
    if (wrapped.length !== NONCE + KEY + TAG)
      throw new RegistryKeyRefusedError(keyId, 'malformed wrapped key');
    const decipher = createDecipheriv('aes-256-gcm', this.root, wrapped.subarray(0, NONCE), {
      authTagLength: TAG,
    });
    decipher.setAAD(this.associatedData(keyId));
    decipher.setAuthTag(wrapped.subarray(NONCE + KEY));
    const head = decipher.update(wrapped.subarray(NONCE, NONCE + KEY));
    try {
      return Buffer.concat([head, decipher.final()]);
    } catch {
      // Only a tag that does not verify throws here; the unauthenticated output is wiped.
      head.fill(0);
      throw new RegistryKeyRefusedError(keyId, 'does not unwrap under its key id');
    }
  }

  close(): void {}

  private associatedData(keyId: string): Buffer {
    return Buffer.from(`${REGISTRY_BINDING_LABEL}\0${keyId}\0${this.wrappingKey}`, 'utf8');
  }
}
