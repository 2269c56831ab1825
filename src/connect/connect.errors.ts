import { DomainError } from '../common/domain-error';

/** PUBLIC_BASE_URL is unset: no redirect URI, so no flow. */
export class ConnectNotConfiguredError extends DomainError {
  readonly code = 'CONNECT_NOT_CONFIGURED';
  readonly kind = 'conflict';

  constructor() {
    super('The connect flow is off: PUBLIC_BASE_URL is not set');
  }
}

/** Not in CONNECT_ENABLED_PROVIDERS. */
export class ConnectProviderDisabledError extends DomainError {
  readonly code = 'CONNECT_PROVIDER_DISABLED';
  readonly kind = 'conflict';

  constructor(readonly provider: string) {
    super(`Provider ${provider} is not enabled for connecting (CONNECT_ENABLED_PROVIDERS)`);
  }
}

/** The provider's client has no authorize endpoint. */
export class ConnectProviderIncompleteError extends DomainError {
  readonly code = 'CONNECT_PROVIDER_INCOMPLETE';
  readonly kind = 'conflict';

  constructor(readonly provider: string) {
    super(`Provider ${provider} has no authorizationUrl (set it, or an issuer to discover it)`);
  }
}

export class ConnectReturnToRefusedError extends DomainError {
  readonly code = 'CONNECT_RETURN_TO_REFUSED';
  readonly kind = 'invalid';

  constructor() {
    super('returnTo must be an absolute URL on one of the origins of CONNECT_RETURN_ORIGINS');
  }
}

/** The account to reconnect belongs to another provider. */
export class ConnectAccountProviderMismatchError extends DomainError {
  readonly code = 'CONNECT_ACCOUNT_PROVIDER_MISMATCH';
  readonly kind = 'conflict';

  constructor(readonly accountId: number) {
    super(`Account ${accountId} is not an account of this provider`);
  }
}

export class ConnectSessionNotFoundError extends DomainError {
  readonly code = 'CONNECT_SESSION_NOT_FOUND';
  readonly kind = 'not_found';

  constructor() {
    super('No such connect session');
  }
}
