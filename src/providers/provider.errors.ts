import { DomainError } from '../common/domain-error';
import { ENDPOINT_URL_RULE } from './endpoint-url';

export class ProviderNotConfiguredError extends DomainError {
  readonly code = 'PROVIDER_NOT_CONFIGURED';
  readonly kind = 'conflict';

  constructor(readonly provider: string) {
    super(`No OAuth client is configured for provider ${provider}`);
  }
}

export class ProviderClientNotFoundError extends DomainError {
  readonly code = 'PROVIDER_CLIENT_NOT_FOUND';
  readonly kind = 'not_found';

  constructor(readonly provider: string) {
    super(`No OAuth client is configured for provider ${provider}`);
  }
}

/** Unreachable, timed out, or a 5xx: nothing was learnt about the tokens, which stay as they were. */
export class ProviderUnavailableError extends DomainError {
  readonly code = 'PROVIDER_UNAVAILABLE';
  readonly kind = 'bad_gateway';

  constructor(
    readonly provider: string,
    readonly reason: string,
    readonly retryAfterSeconds = 30,
    action = 'refresh the tokens',
    /** The provider's own `Retry-After`, when it sent one: a wait it asked for, not our default. */
    readonly statedRetryAfterSeconds?: number,
  ) {
    super(`Provider ${provider} could not ${action} (${reason}); try again later`);
  }
}

/** The provider answered with an OAuth error other than invalid_grant (say, invalid_client). */
export class ProviderRefusedError extends DomainError {
  readonly code = 'PROVIDER_REFUSED';
  readonly kind = 'bad_gateway';

  constructor(
    readonly provider: string,
    readonly oauthError: string,
    request = 'refresh request',
  ) {
    super(`Provider ${provider} refused the ${request} (${oauthError})`);
  }
}

/**
 * The provider refused this service's client (`invalid_client`, `unauthorized_client`): the
 * platform's configuration is at fault, not the user's grant, so the account stays active.
 */
export class ProviderMisconfiguredError extends DomainError {
  readonly code = 'PROVIDER_MISCONFIGURED';
  readonly kind = 'bad_gateway';

  constructor(
    readonly provider: string,
    readonly oauthError: string,
    request = 'refresh request',
  ) {
    super(
      `Provider ${provider} refused this service's client in the ${request} (${oauthError}); its client configuration must be fixed`,
    );
  }
}

/**
 * The provider answered `invalid_grant`: the refresh token is spent, revoked or expired. Not
 * shown to callers as such: the account service re-reads the account first.
 */
export class ProviderInvalidGrantError extends DomainError {
  readonly code = 'PROVIDER_INVALID_GRANT';
  readonly kind = 'conflict';

  constructor(readonly provider: string) {
    super(`Provider ${provider} refused the refresh token (invalid_grant)`);
  }
}

/** A provider client the admin API refuses: a URL that breaks the endpoint rule. */
export class ProviderClientInvalidError extends DomainError {
  readonly code = 'PROVIDER_CLIENT_INVALID';
  readonly kind = 'invalid';

  constructor(readonly field: string) {
    super(`${field} ${ENDPOINT_URL_RULE}`);
  }
}

/** The provider's metadata could not be read: unreachable, timed out or a 5xx. Nothing was stored. */
export class ProviderMetadataUnavailableError extends DomainError {
  readonly code = 'PROVIDER_METADATA_UNAVAILABLE';
  readonly kind = 'bad_gateway';

  constructor(readonly provider: string) {
    super(`The metadata of provider ${provider} could not be read at its issuer; try again later`);
  }
}

/** The provider's metadata was read but cannot be used; the reason is ours, never its text. */
export class ProviderMetadataInvalidError extends DomainError {
  readonly code = 'PROVIDER_METADATA_INVALID';
  readonly kind = 'invalid';

  constructor(
    readonly provider: string,
    readonly reason: string,
  ) {
    super(`The metadata of provider ${provider} cannot be used: ${reason}`);
  }
}
