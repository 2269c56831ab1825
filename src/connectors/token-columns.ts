import type { EnvelopeInfo } from '../crypto/envelope.codec';
import { AccountTokensUnreadableError } from './external-account.errors';

/**
 * The values of `external_accounts.token_key_id`, which the database derives from `access_token`
 * (migration DeriveTokenKeyId): a key id (16 hex characters) for a v3 envelope, `v2:<key id>`
 * for a v2 envelope, or one of the words below. Rotation moves every row to the primary key id.
 */
export const LEGACY_V1_KEY_ID = 'legacy-v1';
export const PLAINTEXT_KEY_ID = 'plaintext';
export const MALFORMED_KEY_ID = 'malformed';
const V2_PREFIX = 'v2:';

export type TokenKeyUse =
  | { kind: 'key'; kid: string; format: 'v3' | 'v2' }
  | { kind: 'legacy-v1' }
  | { kind: 'plaintext' }
  | { kind: 'malformed' };

/** What a row needs to be read, from its `token_key_id` alone. */
export function tokenKeyUse(tokenKeyId: string): TokenKeyUse {
  if (tokenKeyId === PLAINTEXT_KEY_ID) return { kind: 'plaintext' };
  if (tokenKeyId === LEGACY_V1_KEY_ID) return { kind: 'legacy-v1' };
  if (tokenKeyId === MALFORMED_KEY_ID) return { kind: 'malformed' };
  if (tokenKeyId.startsWith(V2_PREFIX))
    return { kind: 'key', kid: tokenKeyId.slice(V2_PREFIX.length), format: 'v2' };
  return { kind: 'key', kid: tokenKeyId, format: 'v3' };
}

/**
 * An envelope carries the refresh token. One in its own column next to a v3 or v2 envelope was
 * written outside this service: reading would ignore it and re-sealing would clear it, so the
 * row is refused. (The original service's v1 rows keep that column NULL as well.)
 */
export function refuseRefreshTokenOutsideEnvelope(
  accountId: number,
  format: EnvelopeInfo['format'],
  refreshToken: string | null,
): void {
  if ((format === 'v3' || format === 'v2') && refreshToken !== null) {
    throw new AccountTokensUnreadableError(accountId, 'REFRESH_TOKEN_OUTSIDE_ENVELOPE');
  }
}

/** Joins a batch of envelopes into one text parameter: base64, hex and JSON punctuation never hold it. */
export const ENVELOPE_SEPARATOR = '\n';
