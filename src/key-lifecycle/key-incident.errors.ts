import { DomainError } from '../common/domain-error';

/**
 * Env mode: the incident re-seals with the configured primary key, so it needs one that is not
 * the leaked key. Says which settings to change; the key ids are one-way, safe to name.
 */
export class IncidentNeedsNewPrimaryError extends DomainError {
  readonly code = 'INCIDENT_NEEDS_NEW_PRIMARY_KEY';
  readonly kind = 'conflict';

  constructor(
    readonly keyId: string,
    primaryKeyId: string | undefined,
  ) {
    super(
      (primaryKeyId === keyId
        ? `key ${keyId} is the primary key (WORKFLOWS_ARTIFACT_ENC_KEY) and keys come from the environment: `
        : `no primary key is configured (WORKFLOWS_ARTIFACT_ENC_KEY is unset): `) +
        'set WORKFLOWS_ARTIFACT_ENC_KEY to a new key (npx connectors keys:generate) and put ' +
        `key ${keyId} in WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS, on every instance, then run the incident again`,
    );
  }
}

/** Env mode: values are sealed under a key this process does not have, so none can be re-sealed. */
export class IncidentKeyNotConfiguredError extends DomainError {
  readonly code = 'INCIDENT_KEY_NOT_CONFIGURED';
  readonly kind = 'conflict';

  constructor(
    readonly keyId: string,
    sealed: number,
  ) {
    super(
      `key ${keyId} is not configured but ${sealed} values are sealed under it: add it to ` +
        'WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS so they can be re-sealed, then run the incident again',
    );
  }
}

/** No incident was started for the key (env mode: and no configured key has its id). */
export class KeyIncidentNotFoundError extends DomainError {
  readonly code = 'KEY_INCIDENT_NOT_FOUND';
  readonly kind = 'not_found';

  constructor(
    readonly keyId: string,
    reason = 'no incident was started for it',
  ) {
    super(`key ${keyId}: ${reason}`);
  }
}
