import { DomainError } from '../common/domain-error';

/**
 * Messages name the failure, never a key, nonce, ciphertext, tag or plaintext, and the
 * original error is not chained: a JSON or cipher error message can quote the data.
 */
export abstract class EnvelopeError extends DomainError {}

export class EnvelopeUnknownKeyError extends EnvelopeError {
  readonly code = 'ENVELOPE_UNKNOWN_KEY';

  constructor(readonly kid: string) {
    super(`envelope key id ${kid} is not in the key ring`);
  }
}

export class EnvelopeAuthFailedError extends EnvelopeError {
  readonly code = 'ENVELOPE_AUTH_FAILED';

  constructor() {
    super('envelope failed authentication: wrong key, wrong account or altered data');
  }
}

export class EnvelopeMalformedError extends EnvelopeError {
  readonly code = 'ENVELOPE_MALFORMED';

  constructor(reason = 'not an envelope') {
    super(`malformed envelope: ${reason}`);
  }
}

export class EnvelopeUnsupportedFormatError extends EnvelopeError {
  readonly code = 'ENVELOPE_UNSUPPORTED_FORMAT';

  constructor() {
    super('unsupported envelope format');
  }
}

export class EncryptionKeyMissingError extends EnvelopeError {
  readonly code = 'ENCRYPTION_KEY_MISSING';

  constructor() {
    super('cannot seal: no primary encryption key is configured');
  }
}

/** A registry-managed ring whose keys are not loaded yet: nothing is sealed or opened with half a ring. */
export class KeyRingNotLoadedError extends DomainError {
  readonly code = 'KEYS_NOT_LOADED';
  readonly kind = 'unavailable';

  constructor() {
    super('the encryption keys are not loaded yet (key service unavailable); retry later');
  }
}

/** A registry-managed ring with no primary key: nothing can be sealed until one is promoted. */
export class NoPrimaryKeyError extends DomainError {
  readonly code = 'NO_PRIMARY_KEY';
  readonly kind = 'unavailable';

  constructor() {
    super(
      'no primary key: the key registry has none; promote one (keys:promote or POST /admin/keys/:kid/promote)',
    );
  }
}

/** A registry key this process could not unwrap (another root, an altered row): see the start-up log. */
export class KeyNotUnwrappedError extends DomainError {
  readonly code = 'KEYS_NOT_UNWRAPPED';
  readonly kind = 'unavailable';

  constructor(readonly kid: string) {
    super(`registry key ${kid} could not be unwrapped by this instance (see its log for the remedy)`);
  }
}
