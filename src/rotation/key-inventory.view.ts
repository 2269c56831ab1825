import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { LEGACY_V1_KEY_ID, PLAINTEXT_KEY_ID } from '../connectors/token-key-id';
import type { KeyIdCount } from './rotation-accounts.repository';

export type KeyRole = 'primary' | 'previous' | 'unknown';

export class KeyUsageView {
  @ApiProperty() keyId: string;
  @ApiProperty({
    enum: ['primary', 'previous', 'unknown'],
    description: 'unknown: no configured key, unreadable',
  })
  role: KeyRole;
  @ApiProperty() accounts: number;
  @ApiPropertyOptional({
    nullable: true,
    description: 'Previous keys only: no account uses it and no legacy v1 account remains',
  })
  safeToRetire: boolean | null;
}

/** Accounts per key id, from the indexed column alone: nothing is decrypted. */
export class KeyInventory {
  @ApiPropertyOptional({ nullable: true }) primaryKeyId: string | null;
  @ApiProperty({
    type: [KeyUsageView],
    description: 'Primary, previous keys in configuration order, then unknown',
  })
  keys: KeyUsageView[];
  @ApiProperty({ description: 'Legacy v1 envelopes: no key id, may need any previous key' })
  legacyV1Accounts: number;
  @ApiProperty() plaintextAccounts: number;
  @ApiProperty({ description: 'Accounts under a key id no configured key has: cannot be read' })
  unknownKeyAccounts: number;
  @ApiProperty() totalAccounts: number;
  @ApiProperty() accountsOnPrimary: number;
  @ApiProperty({ description: 'Accounts a rotation would process (everything not on the primary key)' })
  accountsToRotate: number;
}

export interface ConfiguredKeys {
  primaryKeyId: string | undefined;
  previousKeyIds: string[];
}

export function buildKeyInventory(counts: KeyIdCount[], ring: ConfiguredKeys): KeyInventory {
  const byKeyId = new Map(counts.map(({ keyId, accounts }) => [keyId, accounts]));
  const accountsOf = (keyId: string) => byKeyId.get(keyId) ?? 0;
  const legacyV1Accounts = accountsOf(LEGACY_V1_KEY_ID);
  const configured = new Set([ring.primaryKeyId, ...ring.previousKeyIds, LEGACY_V1_KEY_ID, PLAINTEXT_KEY_ID]);
  const keys: KeyUsageView[] = [];
  if (ring.primaryKeyId) {
    keys.push({
      keyId: ring.primaryKeyId,
      role: 'primary',
      accounts: accountsOf(ring.primaryKeyId),
      safeToRetire: null,
    });
  }
  for (const keyId of ring.previousKeyIds) {
    const accounts = accountsOf(keyId);
    keys.push({ keyId, role: 'previous', accounts, safeToRetire: accounts === 0 && legacyV1Accounts === 0 });
  }
  const unknown = counts
    .filter(({ keyId }) => !configured.has(keyId))
    .sort((a, b) => b.accounts - a.accounts || a.keyId.localeCompare(b.keyId))
    .map(({ keyId, accounts }): KeyUsageView => ({ keyId, role: 'unknown', accounts, safeToRetire: null }));
  keys.push(...unknown);
  const totalAccounts = counts.reduce((sum, { accounts }) => sum + accounts, 0);
  const accountsOnPrimary = ring.primaryKeyId ? accountsOf(ring.primaryKeyId) : 0;
  return {
    primaryKeyId: ring.primaryKeyId ?? null,
    keys,
    legacyV1Accounts,
    plaintextAccounts: accountsOf(PLAINTEXT_KEY_ID),
    unknownKeyAccounts: unknown.reduce((sum, { accounts }) => sum + accounts, 0),
    totalAccounts,
    accountsOnPrimary,
    accountsToRotate: totalAccounts - accountsOnPrimary,
  };
}
