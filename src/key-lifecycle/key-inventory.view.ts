import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { safeToRetire, type KeyUsage } from './key-usage';

export type KeyRole = 'primary' | 'previous' | 'unknown';

export class KeyUsageView {
  @ApiProperty() keyId: string;
  @ApiProperty({
    enum: ['primary', 'previous', 'unknown'],
    description: 'unknown: no configured key, unreadable',
  })
  role: KeyRole;
  @ApiProperty({ description: 'Accounts whose envelope needs this key, in either format' }) accounts: number;
  @ApiProperty({ description: 'Of those, v2 envelopes: bound to the account only, upgraded by rotation' })
  v2Accounts: number;
  @ApiPropertyOptional({
    nullable: true,
    description: 'Previous keys only: no account uses it and no legacy v1 account remains',
  })
  safeToRetire: boolean | null;
}

export class ProviderSecretUsageView {
  @ApiProperty({ description: 'Key id of the sealed client secrets, or "plaintext"' }) keyId: string;
  @ApiProperty({ enum: ['primary', 'previous', 'unknown'] }) role: KeyRole;
  @ApiProperty() clients: number;
}

export class ConnectSessionUsageView {
  @ApiProperty() keyId: string;
  @ApiProperty() sessions: number;
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
  @ApiProperty({ description: 'Text that claims to be an envelope but is none: cannot be read' })
  malformedAccounts: number;
  @ApiProperty({ description: 'Accounts under a key id no configured key has: cannot be read' })
  unknownKeyAccounts: number;
  @ApiProperty() totalAccounts: number;
  @ApiProperty({ description: 'v3 envelopes under the primary key: nothing left to rotate' })
  accountsOnPrimary: number;
  @ApiProperty({ description: 'Accounts a rotation would process (everything not on the primary key)' })
  accountsToRotate: number;
  @ApiProperty({
    type: [String],
    description:
      'What needs an operator: plaintext accounts under encryption, damaged or unreadable accounts',
  })
  warnings: string[];
  @ApiProperty({ type: [ProviderSecretUsageView], description: 'Provider client secrets per key id' })
  providerClients: ProviderSecretUsageView[];
  @ApiProperty({ description: 'Provider client secrets not on the primary key; the rotation re-seals them' })
  providerClientsToRotate: number;
  @ApiProperty({
    type: [ConnectSessionUsageView],
    description: 'PKCE verifiers of running connect sessions per key id; they end with their session',
  })
  connectSessions: ConnectSessionUsageView[];
}

export interface ConfiguredKeys {
  primaryKeyId: string | undefined;
  previousKeyIds: string[];
}

/** The inventory of the configured keys, from the one key-usage count. */
export function buildKeyInventory(usage: KeyUsage, ring: ConfiguredKeys): KeyInventory {
  const { accounts, totalAccounts } = usage;
  const view = (keyId: string, role: KeyRole, retire: boolean | null = null): KeyUsageView => ({
    keyId,
    role,
    ...(accounts.get(keyId) ?? { accounts: 0, v2Accounts: 0 }),
    safeToRetire: retire,
  });
  const keys: KeyUsageView[] = ring.primaryKeyId ? [view(ring.primaryKeyId, 'primary')] : [];
  for (const keyId of ring.previousKeyIds) keys.push(view(keyId, 'previous', safeToRetire(usage, keyId)));
  const configured = new Set([ring.primaryKeyId, ...ring.previousKeyIds]);
  const unknown = [...accounts.keys()]
    .filter((keyId) => !configured.has(keyId))
    .map((keyId) => view(keyId, 'unknown'))
    .sort((a, b) => b.accounts - a.accounts || a.keyId.localeCompare(b.keyId));
  keys.push(...unknown);
  const onPrimary = ring.primaryKeyId ? accounts.get(ring.primaryKeyId) : undefined;
  const accountsOnPrimary = onPrimary ? onPrimary.accounts - onPrimary.v2Accounts : 0;
  const unknownKeyAccounts = unknown.reduce((sum, entry) => sum + entry.accounts, 0);
  const secrets = [...usage.providerClients];
  return {
    primaryKeyId: ring.primaryKeyId ?? null,
    keys,
    legacyV1Accounts: usage.legacyV1,
    plaintextAccounts: usage.plaintext,
    malformedAccounts: usage.malformed,
    unknownKeyAccounts,
    totalAccounts,
    accountsOnPrimary,
    accountsToRotate: totalAccounts - accountsOnPrimary,
    warnings: warningsOf(ring, usage.plaintext, usage.malformed, unknownKeyAccounts),
    providerClients: secrets.map(([keyId, clients]) => ({
      keyId,
      clients,
      role: keyId === ring.primaryKeyId ? 'primary' : configured.has(keyId) ? 'previous' : 'unknown',
    })),
    providerClientsToRotate: secrets
      .filter(([keyId]) => keyId !== ring.primaryKeyId)
      .reduce((sum, [, clients]) => sum + clients, 0),
    connectSessions: [...usage.connectSessions].map(([keyId, sessions]) => ({ keyId, sessions })),
  };
}

function warningsOf(
  ring: ConfiguredKeys,
  plaintext: number,
  malformed: number,
  unknownKey: number,
): string[] {
  const warnings: string[] = [];
  if (ring.primaryKeyId && plaintext > 0) {
    warnings.push(
      `${plaintext} accounts are stored in plaintext although a key is configured: run a rotation to seal ` +
        'them, then set CONNECTORS_REQUIRE_TOKEN_ENCRYPTION=true',
    );
  } else if (plaintext > 0) {
    warnings.push(
      `${plaintext} accounts are stored in plaintext and no key is configured: set WORKFLOWS_ARTIFACT_ENC_KEY ` +
        '(npx connectors keys:generate), then run a rotation to seal them',
    );
  }
  if (malformed > 0) {
    warnings.push(`${malformed} accounts hold damaged envelope text: their tokens cannot be read`);
  }
  if (unknownKey > 0) {
    warnings.push(
      `${unknownKey} accounts use key ids no configured key has: their tokens cannot be read until that key ` +
        'is configured',
    );
  }
  return warnings;
}
