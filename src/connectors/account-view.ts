import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { ExternalAccount } from './external-account.entity';
import { LEGACY_V1_KEY_ID, PLAINTEXT_KEY_ID } from './token-key-id';

export type EncryptionState = 'encrypted' | 'legacy' | 'plaintext';

export class AccountEncryptionView {
  @ApiProperty({ enum: ['encrypted', 'legacy', 'plaintext'] })
  state: EncryptionState;

  @ApiPropertyOptional({ description: 'Key id of the envelope (v2 only)', nullable: true })
  keyId: string | null;
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
  @ApiProperty() createdAt: string;
  @ApiProperty() updatedAt: string;
}

function encryptionOf(tokenKeyId: string): AccountEncryptionView {
  if (tokenKeyId === PLAINTEXT_KEY_ID) return { state: 'plaintext', keyId: null };
  if (tokenKeyId === LEGACY_V1_KEY_ID) return { state: 'legacy', keyId: null };
  return { state: 'encrypted', keyId: tokenKeyId };
}

const iso = (value: Date | null): string | null => (value ? value.toISOString() : null);

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
    createdAt: iso(account.createdAt) as string,
    updatedAt: iso(account.updatedAt) as string,
  };
}
