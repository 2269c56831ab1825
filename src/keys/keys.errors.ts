import { DomainError } from '../common/domain-error';

/** The key service (KMS) cannot be reached: a lifecycle action waits for it, reads go on. */
export class KmsUnavailableError extends DomainError {
  readonly code = 'KMS_UNAVAILABLE';
  readonly kind = 'unavailable';

  constructor(readonly reason: string) {
    super(`the key service is unavailable (${reason}); retry once it answers`);
  }
}

/** A wrapped key that does not unwrap to its own key id: moved, altered or wrapped by another root. */
export class RegistryKeyRefusedError extends DomainError {
  readonly code = 'REGISTRY_KEY_REFUSED';
  readonly kind = 'conflict';

  constructor(
    readonly keyId: string,
    readonly reason: string,
  ) {
    super(`registry key ${keyId} was refused (${reason}): it is not loaded and never seals`);
  }
}

export class KeysManagedByEnvironmentError extends DomainError {
  readonly code = 'KEYS_MANAGED_BY_ENVIRONMENT';
  readonly kind = 'conflict';

  constructor() {
    super('keys come from the environment (KEY_WRAPPING is unset): change them there, or run keys:import');
  }
}

export class RegistryKeyNotFoundError extends DomainError {
  readonly code = 'KEY_NOT_FOUND';
  readonly kind = 'not_found';

  constructor(readonly keyId: string) {
    super(`key ${keyId} is not in the registry`);
  }
}

export class KeyInUseError extends DomainError {
  readonly code = 'KEY_IN_USE';
  readonly kind = 'conflict';

  constructor(
    readonly keyId: string,
    readonly accounts: number,
  ) {
    super(
      `key ${keyId} is still used by ${accounts} accounts or provider client secrets: run a rotation to the primary key first`,
    );
  }
}

/** A state change the lifecycle does not allow (promote a retired key, retire the primary...). */
export class KeyStateConflictError extends DomainError {
  readonly code = 'KEY_STATE_CONFLICT';
  readonly kind = 'conflict';

  constructor(message: string) {
    super(message);
  }
}

/** Live instances that have not loaded what an action needs; they would meet an unknown key. */
export class KeyNotLoadedEverywhereError extends DomainError {
  readonly code = 'KEY_NOT_LOADED_EVERYWHERE';
  readonly kind = 'conflict';

  constructor(
    readonly keyId: string,
    readonly laggards: string[],
  ) {
    super(
      `key ${keyId}: ${laggards.length} live instances have not loaded the change yet ` +
        `(${laggards.slice(0, 10).join(', ')}); retry once they have, or stop them`,
    );
  }
}
