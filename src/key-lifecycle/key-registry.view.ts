import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { KeyRing } from '../crypto/key-ring';
import type { RegistryKeyRow } from '../keys/key-registry.repository';
import { KEY_STATES, type KeyState } from '../keys/registry-key.entity';
import { safeToRetire, type KeyUsage } from './key-usage';

/** A registry key as operators see it: state, wrapping and use; never the key or its wrapped blob. */
export class RegistryKeyView {
  @ApiProperty() keyId: string;
  @ApiProperty({ enum: KEY_STATES }) state: KeyState;
  @ApiProperty({ description: 'The KMS key ARN or local root key id that wraps it' }) wrappingKey: string;
  @ApiProperty({ description: 'Accounts sealed with it' }) accounts: number;
  @ApiProperty({ description: 'Provider client secrets sealed with it' }) providerClients: number;
  @ApiProperty({ description: 'Loaded by the instance that answered' }) loaded: boolean;
  @ApiPropertyOptional({ nullable: true, description: 'Why this instance refused to load it' })
  refused: string | null;
  @ApiPropertyOptional({
    nullable: true,
    description:
      'Decrypt-only keys: nothing sealed with it (accounts, client secrets, connect sessions), no legacy v1 row',
  })
  safeToRetire: boolean | null;
  @ApiProperty() createdAt: string;
  @ApiProperty() createdBy: string;
  @ApiPropertyOptional({ nullable: true }) promotedAt: string | null;
  @ApiPropertyOptional({ nullable: true }) promotedBy: string | null;
  @ApiPropertyOptional({ nullable: true }) retiredAt: string | null;
  @ApiPropertyOptional({ nullable: true }) retiredBy: string | null;
  @ApiPropertyOptional({ nullable: true }) rewrappedAt: string | null;
  @ApiPropertyOptional({ nullable: true }) rewrappedBy: string | null;
}

export class RegistryInstanceView {
  @ApiProperty() instanceId: string;
  @ApiProperty() loadedVersion: string;
  @ApiPropertyOptional({ nullable: true }) primaryKeyId: string | null;
}

export class KeyRegistryStatus {
  @ApiProperty({ enum: ['registry'] }) mode: 'registry';
  @ApiProperty({ description: 'The configured wrapping key' }) wrapping: string;
  @ApiProperty() version: string;
  @ApiPropertyOptional({ nullable: true }) primaryKeyId: string | null;
  @ApiProperty({ type: [RegistryKeyView] }) keys: RegistryKeyView[];
  @ApiProperty() legacyV1Accounts: number;
  @ApiProperty() plaintextAccounts: number;
  @ApiProperty() totalAccounts: number;
  @ApiProperty({ type: [RegistryInstanceView], description: 'Live instances and what they loaded' })
  instances: RegistryInstanceView[];
}

export function registryKeyViewOf(
  row: RegistryKeyRow,
  usage: KeyUsage,
  ring: KeyRing,
  refused: ReadonlyMap<string, string>,
): RegistryKeyView {
  return {
    keyId: row.keyId,
    state: row.state,
    wrappingKey: row.wrappingKey,
    accounts: usage.accounts.get(row.keyId)?.accounts ?? 0,
    providerClients: usage.providerClients.get(row.keyId) ?? 0,
    loaded: ring.keyFor(row.keyId) !== undefined,
    refused: refused.get(row.keyId) ?? null,
    safeToRetire: row.state === 'decrypt-only' ? safeToRetire(usage, row.keyId) : null,
    createdAt: row.createdAt.toISOString(),
    createdBy: row.createdBy,
    promotedAt: row.promotedAt?.toISOString() ?? null,
    promotedBy: row.promotedBy,
    retiredAt: row.retiredAt?.toISOString() ?? null,
    retiredBy: row.retiredBy,
    rewrappedAt: row.rewrappedAt?.toISOString() ?? null,
    rewrappedBy: row.rewrappedBy,
  };
}
