import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { databaseErrorCodeOf } from '../common/database-errors';
import { ConnectKeyUsageService } from '../connect/connect-key-usage.service';
import { ExternalAccountsRepository } from '../connectors/external-accounts.repository';
import { KeyRing } from '../crypto/key-ring';
import { ProviderClientsService } from '../providers/provider-clients.service';
import { buildKeyInventory, type KeyInventory } from './key-inventory.view';
import { keyUsageOf, type KeyUsage } from './key-usage';

/**
 * Counts key use across every module that seals a value: accounts, provider client secrets and
 * connect sessions' verifiers. This module sits above all three and asks each for its counts; a
 * new module that seals values adds its count here, so nothing can retire a key it still needs.
 */
@Injectable()
export class KeyUsageService implements OnApplicationBootstrap {
  private readonly logger = new Logger(KeyUsageService.name);

  constructor(
    private readonly accounts: ExternalAccountsRepository,
    private readonly providerClients: ProviderClientsService,
    private readonly connectSessions: ConnectKeyUsageService,
    private readonly ring: KeyRing,
  ) {}

  /**
   * `manager`: inside a transaction, every count runs on its session (the embedded database has
   * one), one after the other: a session runs one statement at a time.
   */
  async usage(manager?: EntityManager): Promise<KeyUsage> {
    if (manager) {
      const accounts = await this.accounts.countByKeyId(manager);
      const providerClients = await this.providerClients.countByKeyId(manager);
      const connectSessions = await this.connectSessions.countByKeyId(manager);
      return keyUsageOf({ accounts, providerClients, connectSessions });
    }
    const [accounts, providerClients, connectSessions] = await Promise.all([
      this.accounts.countByKeyId(),
      this.providerClients.countByKeyId(),
      this.connectSessions.countByKeyId(),
    ]);
    return keyUsageOf({ accounts, providerClients, connectSessions });
  }

  /** The configured keys (env mode) or the loaded ones (registry mode) and what uses each. */
  async inventory(): Promise<KeyInventory> {
    const ring = { primaryKeyId: this.ring.primaryKeyId, previousKeyIds: this.ring.previousKeyIds() };
    return buildKeyInventory(await this.usage(), ring);
  }

  /** Accounts that no configured key can open are worth one loud line at start-up. */
  async onApplicationBootstrap(): Promise<void> {
    // A registry ring still waiting for its keys (KMS unreachable) would call every key unknown;
    // readiness reports that case.
    if (!this.ring.loaded) return;
    let inventory: KeyInventory;
    try {
      inventory = await this.inventory();
    } catch (error) {
      this.logger.warn(`key inventory check at start-up failed (${databaseErrorCodeOf(error)})`);
      return;
    }
    // Keys the registry holds but this instance could not unwrap have their own log line and remedy.
    const unknown = inventory.keys.filter(
      (key) => key.role === 'unknown' && !this.ring.isWithheld(key.keyId),
    );
    const accounts = unknown.reduce((sum, key) => sum + key.accounts, 0);
    if (accounts === 0) return;
    const keyIds = unknown.map((key) => key.keyId);
    this.logger.warn(
      `${accounts} accounts are sealed with key ids no configured key has ` +
        `(${keyIds.slice(0, 5).join(', ')}${keyIds.length > 5 ? ', ...' : ''}): their tokens cannot be read ` +
        (this.ring.managed
          ? 'until the key registry holds a key with that id (keys:import brings an env-mode key in)'
          : 'until that key is added to WORKFLOWS_ARTIFACT_ENC_PREVIOUS_KEYS'),
    );
  }
}
