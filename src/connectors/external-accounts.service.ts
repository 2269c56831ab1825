import { Injectable } from '@nestjs/common';
import { ExternalAccount } from './external-account.entity';
import { AccountNotFoundError, AccountVersionConflictError } from './external-account.errors';
import {
  ExternalAccountsRepository,
  type AccountProfile,
  type TokenRow,
} from './external-accounts.repository';
import { normalizeTokenSet, type TokenSet } from './token-set';
import { TokenStorage } from './token-storage';

/**
 * Accounts and their tokens for the HTTP routes and for other Nest modules, which import
 * ConnectorsModule and call this service. Every call is scoped by user id, so another user's
 * account is simply not found.
 */
@Injectable()
export class ExternalAccountsService {
  constructor(
    private readonly accounts: ExternalAccountsRepository,
    private readonly storage: TokenStorage,
  ) {}

  /** Allocates the id first so the envelope is bound to it, then stores the row in one INSERT. */
  async createAccount(userId: number, provider: string, tokens: TokenSet, profile: AccountProfile = {}) {
    const normalized = normalizeTokenSet(tokens);
    const id = await this.accounts.allocateId();
    await this.accounts.insert(id, userId, provider, this.storage.seal(userId, id, normalized), profile);
    return this.getAccount(userId, id);
  }

  listAccounts(userId: number): Promise<ExternalAccount[]> {
    return this.accounts.list(userId);
  }

  async getAccount(userId: number, id: number): Promise<ExternalAccount> {
    const account = await this.accounts.findOne(userId, id);
    if (!account) throw new AccountNotFoundError(id);
    return account;
  }

  async getAccountTokens(userId: number, id: number): Promise<TokenSet> {
    return this.storage.open(requireRow(await this.accounts.findTokenRow(userId, id), id));
  }

  /**
   * Re-seals with the primary key (upgrading older envelopes and plaintext rows) and bumps the
   * version. A missing refresh token keeps the stored one. The row is locked from the read to the
   * write, and the write is a compare-and-set on the version read, so no concurrent writer is
   * overwritten with stale data.
   */
  async updateAccountTokens(userId: number, id: number, tokens: TokenSet, expectedVersion?: number) {
    return this.accounts.transaction(async (manager) => {
      const row = requireRow(await this.accounts.findTokenRow(userId, id, manager, true), id);
      if (expectedVersion !== undefined && row.version !== expectedVersion) {
        throw new AccountVersionConflictError(id, expectedVersion, row.version);
      }
      const merged = normalizeTokenSet(tokens);
      if (merged.refresh_token === undefined || merged.refresh_token === null) {
        const previous = this.storage.open(row).refresh_token;
        if (previous) merged.refresh_token = previous;
      }
      if (!(await this.accounts.updateTokens(manager, row, this.storage.seal(userId, id, merged)))) {
        throw new AccountVersionConflictError(id, row.version, row.version + 1);
      }
      return requireRow(await this.accounts.findOne(userId, id, manager), id);
    });
  }

  async deleteAccount(userId: number, id: number): Promise<void> {
    if (!(await this.accounts.delete(userId, id))) throw new AccountNotFoundError(id);
  }
}

function requireRow<T extends ExternalAccount | TokenRow>(row: T | null | undefined, id: number): T {
  if (!row) throw new AccountNotFoundError(id);
  return row;
}
