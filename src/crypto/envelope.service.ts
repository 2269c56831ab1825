import { aesGcmOpen, aesGcmSeal, tryAesGcmOpen } from './aead';
import {
  EnvelopeInfo,
  FORMAT_V2,
  FORMAT_V3,
  formatEnvelope,
  inspectEnvelope,
  parseEnvelope,
  ParsedEnvelope,
} from './envelope.codec';
import {
  EncryptionKeyMissingError,
  EnvelopeAuthFailedError,
  EnvelopeMalformedError,
  EnvelopeUnknownKeyError,
  KeyNotUnwrappedError,
  KeyRingNotLoadedError,
  NoPrimaryKeyError,
} from './envelope.errors';
import { jsonText } from './json-text';
import { KeyRing } from './key-ring';
import { NoncePool } from './nonce-pool';

/** The account an envelope belongs to: a copy under another account or another user fails to open. */
export interface AccountBinding {
  userId: number;
  accountId: number;
}

/** A provider client's secret, bound to the provider name: a copy under another provider fails to open. */
export interface ProviderClientBinding {
  provider: string;
}

/** A connect session's PKCE verifier, bound to the session id: a copy in another session fails to open. */
export interface ConnectSessionBinding {
  connectSession: string;
}

/** What an envelope is bound to; each kind has its own label, so no envelope opens as another kind. */
export type EnvelopeBinding = AccountBinding | ProviderClientBinding | ConnectSessionBinding;

const AAD_LABEL = 'connectors-backend/external_accounts';
const PROVIDER_AAD_LABEL = 'connectors-backend/provider_clients';
const V3_AAD_PREFIX = `${AAD_LABEL}\0${FORMAT_V3}\0`;
const V2_AAD_PREFIX = `${AAD_LABEL}\0${FORMAT_V2}\0`;
const PROVIDER_V3_AAD_PREFIX = `${PROVIDER_AAD_LABEL}\0${FORMAT_V3}\0`;
const CONNECT_V3_AAD_PREFIX = `connectors-backend/connect_sessions\0${FORMAT_V3}\0`;
// The Python service sealed v1 envelopes without associated data.
const V1_AAD = Buffer.alloc(0);

/**
 * Seals and opens token envelopes with the ring's keys. A plain class, provided by CryptoModule
 * with a factory: the rotation's worker threads load it without loading Nest.
 */
export class EnvelopeService {
  readonly #nonces = new NoncePool();

  constructor(private readonly ring: KeyRing) {}

  /** A registry-managed ring always seals: without a primary a write is refused, never plaintext. */
  get encryptionEnabled(): boolean {
    return this.ring.managed || this.ring.primary !== undefined;
  }

  get primaryKeyId(): string | undefined {
    return this.ring.primaryKeyId;
  }

  encryptJsonBlob(value: unknown, binding: EnvelopeBinding): string {
    const json = jsonText(value);
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
    const aad = v3AssociatedData(binding);
    if (!this.ring.loaded) throw new KeyRingNotLoadedError();
    const primary = this.ring.primary;
    if (primary === undefined) {
      if (!this.ring.managed) throw new EncryptionKeyMissingError();
      const withheld = this.ring.withheldPrimaryKeyId;
      throw withheld ? new KeyNotUnwrappedError(withheld) : new NoPrimaryKeyError();
    }
    const nonce = this.#nonces.next();
    const { ct, tag } = aesGcmSeal(primary.key, nonce, plaintext, aad);
    return formatEnvelope(FORMAT_V3, primary.kid, nonce, ct, tag);
  }

  openBytes(stored: string, binding: EnvelopeBinding): Buffer {
    const envelope = parseEnvelope(stored);
    if (!this.ring.loaded) throw new KeyRingNotLoadedError();
    if (envelope.format === 'v1') return this.openV1(envelope);
    const aad = envelope.format === 'v3' ? v3AssociatedData(binding) : v2AssociatedData(binding);
    return this.openKeyed(envelope, aad);
  }

  /** Re-seals with the primary key as v3; the plaintext bytes are kept exactly as they were. */
  reseal(stored: string, binding: EnvelopeBinding): string {
    return this.sealBytes(this.openBytes(stored, binding), binding);
  }

  /** Tells the format and key id without decrypting; throws only for an unknown `_enc`. */
  inspect(stored: string | null | undefined): EnvelopeInfo {
    return inspectEnvelope(stored);
  }

  private openKeyed(envelope: ParsedEnvelope & { kid: string }, aad: Buffer): Buffer {
    const key = this.ring.keyFor(envelope.kid);
    if (key === undefined) {
      if (this.ring.isWithheld(envelope.kid)) throw new KeyNotUnwrappedError(envelope.kid);
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

function v3AssociatedData(binding: EnvelopeBinding): Buffer {
  if ('connectSession' in binding) {
    const id = binding.connectSession;
    if (typeof id !== 'string' || id.length === 0 || id.includes('\0'))
      throw new TypeError('binding connectSession must be a non-empty id');
    return Buffer.from(CONNECT_V3_AAD_PREFIX + id, 'utf8');
  }
  if ('provider' in binding) {
    if (
      typeof binding.provider !== 'string' ||
      binding.provider.length === 0 ||
      binding.provider.includes('\0')
    )
      throw new TypeError('binding provider must be a non-empty name');
    return Buffer.from(PROVIDER_V3_AAD_PREFIX + binding.provider, 'utf8');
  }
  const { userId, accountId } = binding;
  requireId(userId, 'userId');
  requireId(accountId, 'accountId');
  return Buffer.from(`${V3_AAD_PREFIX}${userId}\0${accountId}`, 'utf8');
}

function v2AssociatedData(binding: EnvelopeBinding): Buffer {
  // v2 envelopes predate provider clients: one bound to a provider is no v2 envelope.
  if ('provider' in binding || 'connectSession' in binding) throw new EnvelopeAuthFailedError();
  const { accountId } = binding;
  requireId(accountId, 'accountId');
  return Buffer.from(V2_AAD_PREFIX + accountId, 'utf8');
}

function requireId(value: number, name: string): void {
  if (!Number.isSafeInteger(value)) throw new TypeError(`binding ${name} must be a safe integer`);
}
