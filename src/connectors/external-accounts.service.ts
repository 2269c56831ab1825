import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { ExternalAccount } from './external-account.entity';
import { AccountNotFoundError, AccountVersionConflictError } from './external-account.errors';
import { normalizeTokenSet, type TokenSet } from './token-set';
import { TokenStorage, type StoredRow } from './token-storage';

export interface AccountProfile {
  displayName?: string | null;
  email?: string | null;
  providerMetadata?: Record<string, unknown> | null;
}

const TOKEN_ROW_COLUMNS = `id, version, scopes, token_expires_at AS "tokenExpiresAt",
  access_token AS "accessToken", refresh_token AS "refreshToken", token_key_id AS "tokenKeyId"`;

type TokenRow = StoredRow & { version: number };

function expiryOf(tokens: TokenSet): Date | null {
  return tokens.expires_at === undefined ? null : new Date(tokens.expires_at * 1000);
}

/**
 * The only writer of token columns. Every query is scoped by user id, so another user's account
 * is simply not found. Other Nest modules import ConnectorsModule and call this service.
 */
@Injectable()
export class ExternalAccountsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly storage: TokenStorage,
  ) {}

  /** Allocates the id first so the envelope is bound to it, then stores the row in one INSERT. */
  async createAccount(userId: number, provider: string, tokens: TokenSet, profile: AccountProfile = {}) {
    const normalized = normalizeTokenSet(tokens);
    const [{ id }] = await this.dataSource.query(
      `SELECT nextval(pg_get_serial_sequence('external_accounts', 'id'))::int AS id`,
    );
    const stored = this.storage.seal(id, normalized);
    await this.dataSource.query(
      `INSERT INTO external_accounts (id, user_id, provider, display_name, email, access_token, refresh_token,
         token_key_id, scopes, token_expires_at, provider_metadata, version)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1)`,
      [
        id,
        userId,
        provider,
        profile.displayName ?? null,
        profile.email ?? null,
        stored.accessToken,
        stored.refreshToken,
        stored.tokenKeyId,
        normalized.scope ?? null,
        expiryOf(normalized),
        profile.providerMetadata ?? null,
      ],
    );
    return this.getAccount(userId, id);
  }

  async listAccounts(userId: number): Promise<ExternalAccount[]> {
    return this.dataSource.getRepository(ExternalAccount).find({ where: { userId }, order: { id: 'ASC' } });
  }

  async getAccount(userId: number, id: number): Promise<ExternalAccount> {
    const account = await this.dataSource.getRepository(ExternalAccount).findOne({ where: { userId, id } });
    if (!account) throw new AccountNotFoundError(id);
    return account;
  }

  async getAccountTokens(userId: number, id: number): Promise<TokenSet> {
    return this.storage.open(await this.readTokenRow(this.dataSource.manager, userId, id));
  }

  /**
   * Re-seals with the primary key (upgrading legacy and plaintext rows) and bumps the version.
   * A missing refresh token keeps the stored one. The write is a compare-and-set on the version
   * read here, so a concurrent writer is never overwritten with stale data.
   */
  async updateAccountTokens(userId: number, id: number, tokens: TokenSet, expectedVersion?: number) {
    return this.dataSource.transaction(async (manager) => {
      const row = await this.readTokenRow(manager, userId, id, true);
      if (expectedVersion !== undefined && row.version !== expectedVersion) {
        throw new AccountVersionConflictError(id, expectedVersion, row.version);
      }
      const merged = normalizeTokenSet(tokens);
      if (merged.refresh_token === undefined || merged.refresh_token === null) {
        const previous = this.storage.open(row).refresh_token;
        if (previous) merged.refresh_token = previous;
      }
      const stored = this.storage.seal(id, merged);
      await manager.query(
        `UPDATE external_accounts
            SET access_token = $1, refresh_token = $2, token_key_id = $3, scopes = COALESCE($4, scopes),
                token_expires_at = $5, version = version + 1, updated_at = CURRENT_TIMESTAMP
          WHERE id = $6 AND user_id = $7`,
        [stored.accessToken, stored.refreshToken, stored.tokenKeyId, merged.scope ?? null, expiryOf(merged), id, userId],
      );
      return manager.getRepository(ExternalAccount).findOneOrFail({ where: { userId, id } });
    });
  }

  async deleteAccount(userId: number, id: number): Promise<void> {
    const [, affected] = await this.dataSource.query(`DELETE FROM external_accounts WHERE id = $1 AND user_id = $2`, [
      id,
      userId,
    ]);
    if (affected === 0) throw new AccountNotFoundError(id);
  }

  private async readTokenRow(manager: EntityManager, userId: number, id: number, lock = false): Promise<TokenRow> {
    const rows: TokenRow[] = await manager.query(
      `SELECT ${TOKEN_ROW_COLUMNS} FROM external_accounts WHERE id = $1 AND user_id = $2${lock ? ' FOR UPDATE' : ''}`,
      [id, userId],
    );
    if (rows.length === 0) throw new AccountNotFoundError(id);
    return rows[0];
  }
}
