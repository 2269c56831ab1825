import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { iso } from '../common/iso-time';
import { ACCOUNT_STATUSES, type AccountStatus, type ExternalAccount } from './external-account.entity';
import { tokenKeyUse } from './token-columns';

export type EncryptionState = 'encrypted' | 'legacy' | 'plaintext' | 'malformed';

export class AccountEncryptionView {
  @ApiProperty({
    enum: ['encrypted', 'legacy', 'plaintext', 'malformed'],
    description: 'legacy: an older envelope (v1 or v2) that the next rotation upgrades',
  })
  state: EncryptionState;

  @ApiPropertyOptional({ description: 'Key id of the envelope (v3 and v2 only)', nullable: true })
  keyId: string | null;
}

/** A disconnect the provider has not answered yet: what the revocation worker will do and when. */
export class AccountRevocationView {
  @ApiProperty({ description: 'Revocation requests sent so far' }) attempts: number;
  @ApiProperty() startedAt: string;
  @ApiProperty({ description: 'When the worker tries again' }) nextAttemptAt: string;
  @ApiProperty({ description: 'When the worker gives up and deletes the account (REVOCATION_MAX_HOURS)' })
  giveUpAt: string;
  @ApiPropertyOptional({ nullable: true, description: "The last attempt's error code" })
  lastError: string | null;
}

/** What callers see of an account: metadata only, never a token. */
export class AccountView {
  @ApiProperty() id: number;
  @ApiProperty() userId: number;
  @ApiProperty() provider: string;
  @ApiPropertyOptional({ nullable: true }) displayName: string | null;
  @ApiPropertyOptional({ nullable: true }) email: string | null;
  @ApiPropertyOptional({ nullable: true }) scopes: string | null;
  @ApiPropertyOptional({ nullable: true }) tokenExpiresAt: string | null;
  @ApiPropertyOptional({ nullable: true }) providerMetadata: Record<string, unknown> | null;
  @ApiProperty({ type: AccountEncryptionView }) encryption: AccountEncryptionView;
  @ApiProperty({ description: 'Incremented by every token write; send it as If-Match' }) version: number;
  @ApiProperty({
    enum: ACCOUNT_STATUSES,
    description:
      'needs_reauth: the provider refused the refresh token; new tokens (PUT) make it active. ' +
      'revoking: disconnected while the provider did not answer; no token is served, and the account is ' +
      'deleted once the revocation succeeds or is given up',
  })
  status: AccountStatus;
  @ApiPropertyOptional({
    nullable: true,
    description: 'Why the status is not active: an OAuth error code, or revoked_by_operator',
  })
  statusReason: string | null;
  @ApiPropertyOptional({ nullable: true }) statusChangedAt: string | null;
  @ApiPropertyOptional({ nullable: true, description: 'Last refresh at the provider by this service' })
  lastRefreshedAt: string | null;
  @ApiPropertyOptional({ type: AccountRevocationView, nullable: true, description: 'While revoking' })
  revocation: AccountRevocationView | null;
  @ApiProperty() createdAt: string;
  @ApiProperty() updatedAt: string;
}

function revocationOf(account: ExternalAccount): AccountRevocationView | null {
  if (account.status !== 'revoking') return null;
  return {
    attempts: account.revocationAttempts ?? 0,
    startedAt: iso(account.revocationStartedAt) as string,
    nextAttemptAt: iso(account.revocationNextAt) as string,
    giveUpAt: iso(account.revocationGiveUpAt) as string,
    lastError: account.revocationError,
  };
}

function encryptionOf(tokenKeyId: string): AccountEncryptionView {
  const use = tokenKeyUse(tokenKeyId);
  if (use.kind === 'key') return { state: use.format === 'v3' ? 'encrypted' : 'legacy', keyId: use.kid };
  return { state: use.kind === 'legacy-v1' ? 'legacy' : use.kind, keyId: null };
}

export function toAccountView(account: ExternalAccount): AccountView {
  return {
    id: account.id,
    userId: account.userId,
    provider: account.provider,
    displayName: account.displayName,
    email: account.email,
    scopes: account.scopes,
    tokenExpiresAt: iso(account.tokenExpiresAt),
    providerMetadata: account.providerMetadata,
    encryption: encryptionOf(account.tokenKeyId),
    version: account.version,
    status: account.status,
    statusReason: account.statusReason,
    statusChangedAt: iso(account.statusChangedAt),
    lastRefreshedAt: iso(account.lastRefreshedAt),
    revocation: revocationOf(account),
    createdAt: iso(account.createdAt) as string,
    updatedAt: iso(account.updatedAt) as string,
  };
}
