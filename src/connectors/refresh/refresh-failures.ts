import { errorCodeOf, type DomainError } from '../../common/domain-error';
import {
  ProviderMisconfiguredError,
  ProviderNotConfiguredError,
  ProviderRefusedError,
  ProviderUnavailableError,
} from '../../providers/provider.errors';
import { AccountNeedsReauthError, NoRefreshTokenError } from '../external-account.errors';
import type { RefreshRow } from '../external-accounts.repository';

/** A failure another instance recorded on the account, shared with the callers that waited on it. */
export function sharedFailure(row: RefreshRow): DomainError {
  const [code, detail] = (row.refreshError ?? '').split(':');
  if (code === 'NO_REFRESH_TOKEN') return new NoRefreshTokenError(row.id);
  if (code === 'ACCOUNT_NEEDS_REAUTH') return new AccountNeedsReauthError(row.id, row.statusReason);
  if (code === 'PROVIDER_NOT_CONFIGURED') return new ProviderNotConfiguredError(row.provider);
  if (code === 'PROVIDER_REFUSED') return new ProviderRefusedError(row.provider, detail ?? 'unknown');
  if (code === 'PROVIDER_MISCONFIGURED')
    return new ProviderMisconfiguredError(row.provider, detail ?? 'invalid_client');
  return new ProviderUnavailableError(row.provider, detail ?? (code || 'UNKNOWN'));
}

/** How a failed refresh is recorded on the account (`refresh_error`): a code, at most an OAuth error code. */
export function outcomeCodeOf(error: unknown): string {
  if (error instanceof ProviderRefusedError) return `PROVIDER_REFUSED:${error.oauthError}`;
  if (error instanceof ProviderMisconfiguredError) return `PROVIDER_MISCONFIGURED:${error.oauthError}`;
  if (error instanceof ProviderUnavailableError) return `PROVIDER_UNAVAILABLE:${error.reason}`;
  return errorCodeOf(error);
}
