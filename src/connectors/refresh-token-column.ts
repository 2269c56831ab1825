import type { EnvelopeInfo } from '../crypto/envelope.formats';
import { AccountTokensUnreadableError } from './external-account.errors';

/**
 * A v2 envelope carries the refresh token. One in its own column next to it was written outside
 * this service: reading would ignore it and re-sealing would clear it, so the row is refused.
 */
export function refuseRefreshTokenOutsideEnvelope(
  accountId: number,
  format: EnvelopeInfo['format'],
  refreshToken: string | null,
): void {
  if (format === 'v2' && refreshToken !== null) {
    throw new AccountTokensUnreadableError(accountId, 'REFRESH_TOKEN_OUTSIDE_ENVELOPE');
  }
}
