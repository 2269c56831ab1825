import { Injectable, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { ProviderUnavailableError } from '../providers/provider.errors';
import { ACCOUNT_EVENTS, emitAccountEvent, type DisconnectOutcome } from './account-events';
import { AccountTokenRefresher } from './refresh/account-token-refresher';
import { ExternalAccount, type AccountStatus } from './external-account.entity';
import {
  AccountNotFoundError,
  AccountOutsideCallerProvidersError,
  AccountRevokingError,
  AccountVersionConflictError,
} from './external-account.errors';
import {
  ExternalAccountsRepository,
  type AccountProfile,
  type AccountTokenRow,
} from './external-accounts.repository';
import { GrantRevoker } from './grant-revoker';
import { RevocationQueue } from './revocation-queue';
import { normalizeTokenSet, type TokenRead, type TokenSet } from './token-set';
import { TokenStorage } from './token-storage';

/**
 * Which accounts a call may reach: those of these providers only (all when undefined). An
 * account of another provider is not found, as another user's account is.
 */
export interface ProviderLimit {
  providers?: readonly string[];
}

/**
 * Accounts and their tokens for the HTTP routes and for other Nest modules, which import
 * ConnectorsModule and call this service. Every call is scoped by user id, so another user's
 * account is simply not found; the routes also pass their caller's provider limit.
 */
@Injectable()
export class ExternalAccountsService {
  private readonly logger = new Logger(ExternalAccountsService.name);

  constructor(
    private readonly accounts: ExternalAccountsRepository,
    private readonly storage: TokenStorage,
    private readonly refresher: AccountTokenRefresher,
    private readonly events: EventEmitter2,
    private readonly revoker: GrantRevoker,
    private readonly revocations: RevocationQueue,
  ) {}

  /** Allocates the id first so the envelope is bound to it, then stores the row in one INSERT. */
  async createAccount(userId: number, provider: string, tokens: TokenSet, profile: AccountProfile = {}) {
    const normalized = normalizeTokenSet(tokens);
    const id = await this.accounts.allocateId();
    await this.accounts.insert(id, userId, provider, this.storage.seal(userId, id, normalized), profile);
    const account = await this.getAccount(userId, id);
    emitAccountEvent(this.events, this.logger, ACCOUNT_EVENTS.created, account);
    return account;
  }

  listAccounts(
    userId: number,
    status?: AccountStatus,
    limit: ProviderLimit = {},
  ): Promise<ExternalAccount[]> {
    return this.accounts.list(userId, status, limit.providers);
  }

  async getAccount(userId: number, id: number, limit: ProviderLimit = {}): Promise<ExternalAccount> {
    return requireRow(await this.accounts.findOne(userId, id), id, limit);
  }

  /** The stored tokens; a revoking account serves none (409 ACCOUNT_REVOKING). */
  async getAccountTokens(userId: number, id: number): Promise<TokenSet> {
    return (await this.readTokens(userId, id)).tokens;
  }

  /**
   * What the token routes answer: the tokens (refreshed first, as `getFreshTokens` does, when
   * `minValiditySeconds` is given), with the account's provider and whether a refresh made them.
   */
  async readTokens(
    userId: number,
    id: number,
    options: { minValiditySeconds?: number } & ProviderLimit = {},
  ): Promise<TokenRead> {
    if (options.minValiditySeconds !== undefined)
      return this.refresher.fresh(userId, id, options.minValiditySeconds, options.providers);
    const row = servable(await this.accounts.findTokenRow(userId, id), id, options);
    return { tokens: this.storage.open(row), provider: row.provider, refreshed: false };
  }

  /**
   * The stored tokens when the access token stays valid for `minValiditySeconds` more (or has no
   * known expiry), else new ones from the provider, stored before they are returned. One refresh
   * per account at a time, across callers and instances; the others wait for it and share its outcome.
   */
  async getFreshTokens(
    userId: number,
    id: number,
    options: { minValiditySeconds?: number } = {},
  ): Promise<TokenSet> {
    return (await this.readTokens(userId, id, options)).tokens;
  }

  /** Refreshes at the provider now (or joins the refresh in flight) and returns the new tokens. */
  async refreshTokens(userId: number, id: number): Promise<TokenSet> {
    return (await this.refreshTokenRead(userId, id)).tokens;
  }

  /** `refreshTokens` as the refresh route answers it: with the account's provider. */
  refreshTokenRead(userId: number, id: number, limit: ProviderLimit = {}): Promise<TokenRead> {
    return this.refresher.refresh(userId, id, limit.providers);
  }

  /**
   * Re-seals with the primary key (upgrading older envelopes and plaintext rows) and bumps the
   * version. A missing refresh token keeps the stored one. The row is locked from the read to the
   * write, and the write is a compare-and-set on the version read, so no concurrent writer is
   * overwritten with stale data. Ends a needs_reauth state; refused for a revoking account.
   */
  async updateAccountTokens(
    userId: number,
    id: number,
    tokens: TokenSet,
    expectedVersion?: number,
    limit: ProviderLimit = {},
  ) {
    const account = await this.writeTokens(userId, id, tokens, expectedVersion, limit);
    emitAccountEvent(this.events, this.logger, ACCOUNT_EVENTS.tokensUpdated, account);
    return account;
  }

  /**
   * The tokens of a completed reconnect: written as any token write (which ends needs_reauth),
   * announced as `account.reconnected`. The account keeps its id and its recorded profile.
   */
  async reconnectAccount(userId: number, id: number, tokens: TokenSet) {
    const account = await this.writeTokens(userId, id, tokens);
    emitAccountEvent(this.events, this.logger, ACCOUNT_EVENTS.reconnected, account);
    return account;
  }

  private writeTokens(
    userId: number,
    id: number,
    tokens: TokenSet,
    expectedVersion?: number,
    limit: ProviderLimit = {},
  ) {
    return this.accounts.transaction(async (manager) => {
      const row = servable(await this.accounts.findTokenRow(userId, id, manager, true), id, limit);
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

  /**
   * Marks the account `needs_reauth` with `reason` (a code of this service, such as
   * `revoked_by_operator`) and emits `account.needs_reauth` once, when this call changed it.
   * A revoking account is left as it is. Its tokens are kept; new ones (PUT, a reconnect) end it.
   */
  async markNeedsReauth(userId: number, id: number, reason: string): Promise<boolean> {
    if (!(await this.accounts.markNeedsReauthFor(userId, id, reason))) return false;
    const account = await this.accounts.findOne(userId, id);
    if (account) emitAccountEvent(this.events, this.logger, ACCOUNT_EVENTS.needsReauth, account);
    return true;
  }

  /**
   * Disconnects: revokes the grant at the provider first (RFC 7009), then deletes the row. With
   * `revoke: false` the provider is not asked (for grants known to be dead), whatever the account's
   * status. A provider that does not answer leaves the account `revoking` (`pending`): it serves no
   * token and the revocation worker tries again, then deletes it; asking again answers `pending`.
   * `account.deleted` carries the outcome, once the row is deleted.
   */
  async deleteAccount(
    userId: number,
    id: number,
    options: { revoke?: boolean } & ProviderLimit = {},
  ): Promise<{ id: number; revocation: DisconnectOutcome }> {
    const account = await this.getAccount(userId, id, options);
    if (options.revoke === false) return this.deleteNow(account, 'skipped');
    if (account.status === 'revoking') return { id, revocation: 'pending' };
    let result: Awaited<ReturnType<GrantRevoker['revoke']>>;
    try {
      result = await this.revoker.revoke(account);
    } catch (error) {
      if (!(error instanceof ProviderUnavailableError)) throw error;
      return this.pending(account, error);
    }
    if (result.outcome === 'refused')
      this.logger.warn(`${account.provider} refused to revoke account ${account.id} (${result.code})`);
    return this.deleteNow(account, result.outcome);
  }

  private async deleteNow(account: ExternalAccount, revocation: Exclude<DisconnectOutcome, 'pending'>) {
    const { id, userId } = account;
    if (!(await this.accounts.delete(userId, id))) throw new AccountNotFoundError(id);
    this.logger.log(`account ${id} of ${account.provider} deleted (revocation ${revocation})`);
    emitAccountEvent(this.events, this.logger, ACCOUNT_EVENTS.deleted, account, { revocation });
    return { id, revocation };
  }

  /** Two disconnects at once both find the provider down: one marks the account, both answer pending. */
  private async pending(account: ExternalAccount, error: ProviderUnavailableError) {
    if (!(await this.revocations.enter(account, error))) {
      const current = await this.getAccount(account.userId, account.id);
      if (current.status !== 'revoking') throw error;
    }
    return { id: account.id, revocation: 'pending' as const };
  }
}

/** A row a token read or write may use: found, within the limit, and not being revoked. */
function servable(row: AccountTokenRow | undefined, id: number, limit: ProviderLimit = {}): AccountTokenRow {
  const found = requireRow(row, id, limit);
  if (found.status === 'revoking') throw new AccountRevokingError(id);
  return found;
}

/** The row, or not found: absent, or of a provider outside the limit. */
function requireRow<T extends { provider: string }>(
  row: T | null | undefined,
  id: number,
  limit: ProviderLimit = {},
): T {
  if (!row) throw new AccountNotFoundError(id);
  if (limit.providers && !limit.providers.includes(row.provider))
    throw new AccountOutsideCallerProvidersError(id, row.provider);
  return row;
}
