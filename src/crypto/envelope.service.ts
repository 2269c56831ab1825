import { aesGcmOpen, aesGcmSeal, tryAesGcmOpen } from './aead';
import { formatV2 } from './envelope-v2.layout';
import { inspectEnvelope, parseEnvelope, ParsedEnvelope } from './envelope.codec';
import {
  EncryptionKeyMissingError,
  EnvelopeAuthFailedError,
  EnvelopeMalformedError,
  EnvelopeUnknownKeyError,
} from './envelope.errors';
import { EnvelopeInfo, FORMAT_V2 } from './envelope.formats';
import { KeyRing } from './key-ring';
import { NoncePool } from './nonce-pool';

/** The account id the envelope belongs to. */
export type EnvelopeBinding = string | number;

const AAD_LABEL = 'connectors-backend/external_accounts';
const V2_AAD_PREFIX = `${AAD_LABEL}\0${FORMAT_V2}\0`;
// The Python service sealed v1 envelopes without associated data.
const V1_AAD = Buffer.alloc(0);

/**
 * Seals and opens token envelopes with the ring's keys. A plain class, provided by CryptoModule
 * with a factory: the rotation's worker threads load it without loading Nest.
 */
export class EnvelopeService {
  readonly encryptionEnabled: boolean;
  readonly primaryKeyId: string | undefined;
  readonly #nonces = new NoncePool();

  constructor(private readonly ring: KeyRing) {
    this.encryptionEnabled = ring.primary !== undefined;
    this.primaryKeyId = ring.primaryKeyId;
  }

  encryptJsonBlob(value: unknown, binding: EnvelopeBinding): string {
    const json: string | undefined = JSON.stringify(value);
    if (json === undefined) {
      throw new TypeError('value has no JSON representation');
    }
    return this.sealBytes(Buffer.from(json, 'utf8'), binding);
  }

  decryptJsonBlob<T = unknown>(stored: string, binding: EnvelopeBinding): T {
    const text = this.openBytes(stored, binding).toString('utf8');
    try {
      return JSON.parse(text) as T;
    } catch {
      // The SyntaxError quotes the plaintext, so it is replaced, not chained.
      throw new EnvelopeMalformedError('plaintext is not JSON');
    }
  }

  sealBytes(plaintext: Buffer, binding: EnvelopeBinding): string {
    const aad = v2AssociatedData(binding);
    const primary = this.ring.primary;
    if (primary === undefined) {
      throw new EncryptionKeyMissingError();
    }
    const nonce = this.#nonces.next();
    const { ct, tag } = aesGcmSeal(primary.key, nonce, plaintext, aad);
    return formatV2(primary.kid, nonce, ct, tag);
  }

  openBytes(stored: string, binding: EnvelopeBinding): Buffer {
    const aad = v2AssociatedData(binding);
    const envelope = parseEnvelope(stored);
    return envelope.format === 'v2' ? this.openV2(envelope, aad) : this.openV1(envelope);
  }

  /** Re-seals with the primary key; the plaintext bytes are kept exactly as they were. */
  reseal(stored: string, binding: EnvelopeBinding): string {
    return this.sealBytes(this.openBytes(stored, binding), binding);
  }

  /** Tells the format and key id without decrypting; throws only for an unknown `_enc`. */
  inspect(stored: string | null | undefined): EnvelopeInfo {
    return inspectEnvelope(stored);
  }

  private openV2(envelope: ParsedEnvelope & { format: 'v2' }, aad: Buffer): Buffer {
    const key = this.ring.keyFor(envelope.kid);
    if (key === undefined) {
      throw new EnvelopeUnknownKeyError(envelope.kid);
    }
    return aesGcmOpen(key, envelope.nonce, envelope.ct, envelope.tag, aad);
  }

  private openV1(envelope: ParsedEnvelope): Buffer {
    for (const key of this.ring.decryptionKeys()) {
      const plaintext = tryAesGcmOpen(key, envelope.nonce, envelope.ct, envelope.tag, V1_AAD);
      if (plaintext !== undefined) {
        return plaintext;
      }
    }
    throw new EnvelopeAuthFailedError();
  }
}

function v2AssociatedData(binding: EnvelopeBinding): Buffer {
  const valid =
    typeof binding === 'number'
      ? Number.isSafeInteger(binding)
      : typeof binding === 'string' && binding.length > 0;
  if (!valid) {
    throw new TypeError('binding must be a non-empty string or a safe integer');
  }
  return Buffer.from(V2_AAD_PREFIX + binding, 'utf8');
}
