import { randomBytes } from 'node:crypto';
import { NONCE_BYTES } from './aead';

const NONCES_PER_BATCH = 256;

/**
 * One CSPRNG call per nonce costs more than sealing a small token set, so random bytes are
 * drawn in batches. Each slice is handed out once, and a batch is never refilled in place,
 * so a nonce already handed out never changes.
 */
export class NoncePool {
  #batch = Buffer.alloc(0);
  #offset = 0;

  next(): Buffer {
    if (this.#offset === this.#batch.length) {
      this.#batch = randomBytes(NONCE_BYTES * NONCES_PER_BATCH);
      this.#offset = 0;
    }
    const start = this.#offset;
    this.#offset += NONCE_BYTES;
    return this.#batch.subarray(start, this.#offset);
  }
}
