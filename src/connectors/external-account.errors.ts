import { DomainError } from '../common/domain-error';

export class AccountNotFoundError extends DomainError {
  readonly code = 'ACCOUNT_NOT_FOUND';
  readonly kind = 'not_found';

  constructor(readonly accountId: number) {
    super(`Account ${accountId} was not found`);
  }
}

/**
 * The account exists, but of a provider the caller is not limited to: answered exactly as an
 * account that does not exist, and recorded in the token-read trail as what it is.
 */
export class AccountOutsideCallerProvidersError extends AccountNotFoundError {
  constructor(
    accountId: number,
    readonly provider: string,
  ) {
    super(accountId);
  }
}

export class AccountVersionConflictError extends DomainError {
  readonly code = 'ACCOUNT_VERSION_CONFLICT';
  readonly kind = 'precondition_failed';

  constructor(
    readonly accountId: number,
    readonly expectedVersion: number,
    readonly currentVersion: number,
  ) {
    super(
      `Account ${accountId} is at version ${currentVersion}, not ${expectedVersion}; nothing was written`,
    );
  }
}

/** The stored tokens cannot be opened: corrupt, tampered, or sealed with a key not configured. */
export class AccountTokensUnreadableError extends DomainError {
  readonly code = 'ACCOUNT_TOKENS_UNREADABLE';
  readonly kind = 'integrity';

  constructor(
    readonly accountId: number,
    readonly reason: string,
  ) {
    super(`Tokens of account ${accountId} cannot be read (${reason})`);
  }
}

export class PlaintextTokensRefusedError extends DomainError {
  readonly code = 'PLAINTEXT_TOKENS_REFUSED';
  readonly kind = 'integrity';

  constructor(readonly accountId: number) {
    super(`Account ${accountId} holds unencrypted tokens, refused because encryption is required`);
  }
}

/** The provider refused the refresh token: new tokens (a PUT after re-authorization) are needed. */
export class AccountNeedsReauthError extends DomainError {
  readonly code = 'ACCOUNT_NEEDS_REAUTH';
  readonly kind = 'conflict';

  constructor(
    readonly accountId: number,
    readonly reason: string | null,
  ) {
    super(`Account ${accountId} needs to be authorized again (${reason ?? 'invalid_grant'})`);
  }
}

export class NoRefreshTokenError extends DomainError {
  readonly code = 'NO_REFRESH_TOKEN';
  readonly kind = 'conflict';

  constructor(readonly accountId: number) {
    super(`Account ${accountId} has no refresh token stored`);
  }
}

/** Another caller's refresh of the account did not end within REFRESH_WAIT_MS. */
export class RefreshStillRunningError extends DomainError {
  readonly code = 'REFRESH_IN_PROGRESS';
  readonly kind = 'unavailable';
  readonly retryAfterSeconds = 1;

  constructor(readonly accountId: number) {
    super(`A refresh of account ${accountId} is still running; try again shortly`);
  }
}

/**
 * The account was disconnected while its provider did not answer the revocation: it serves no
 * token and takes no new one until the revocation worker has revoked and deleted it.
 */
export class AccountRevokingError extends DomainError {
  readonly code = 'ACCOUNT_REVOKING';
  readonly kind = 'conflict';

  constructor(readonly accountId: number) {
    super(`Account ${accountId} is being disconnected (its revocation at the provider is pending)`);
  }
}
