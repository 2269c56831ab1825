import { Injectable, Optional } from '@nestjs/common';
import { errorCodeOf } from '../common/domain-error';
import { AppMetrics } from '../metrics/app-metrics';
import { OAuthTokenClient, type RevocationResult } from '../providers/oauth-token.client';
import { ProviderClientsService } from '../providers/provider-clients.service';
import { AccountNotFoundError } from './external-account.errors';
import { ExternalAccountsRepository } from './external-accounts.repository';
import { TokenStorage } from './token-storage';

/** Which account's grant to end. */
export interface RevocableAccount {
  id: number;
  userId: number;
  provider: string;
}

/**
 * Ends one account's grant at its provider (RFC 7009) with the tokens as stored, whatever the
 * account's status: the disconnect, the revocation worker and the incident command share it.
 * A provider that does not answer throws ProviderUnavailableError; tokens that cannot be opened
 * throw as a read would.
 */
@Injectable()
export class GrantRevoker {
  constructor(
    private readonly accounts: ExternalAccountsRepository,
    private readonly storage: TokenStorage,
    private readonly providers: ProviderClientsService,
    private readonly oauth: OAuthTokenClient,
    @Optional() private readonly metrics?: AppMetrics,
  ) {}

  /** False when the provider has no client, or a client without a revocation endpoint. */
  async canRevoke(provider: string): Promise<boolean> {
    const configured = await this.providers.find(provider);
    return Boolean(configured?.revocationUrl);
  }

  /** `not_supported` when the provider cannot revoke (see `canRevoke`): nothing is sent. */
  async revoke(account: RevocableAccount): Promise<RevocationResult> {
    if (!(await this.canRevoke(account.provider))) return { outcome: 'not_supported' };
    const row = await this.accounts.findTokenRow(account.userId, account.id);
    if (!row) throw new AccountNotFoundError(account.id);
    const tokens = this.storage.open(row);
    const client = await this.providers.resolve(account.provider);
    // Counted under the configured client's name, never the text an account was created with.
    const count = (outcome: string) => this.metrics?.revocations.inc({ provider: client.provider, outcome });
    try {
      const result = await this.oauth.revoke(client, {
        accessToken: tokens.access_token,
        refreshToken: tokens.refresh_token,
      });
      count(result.outcome);
      return result;
    } catch (error) {
      count(errorCodeOf(error));
      throw error;
    }
  }
}
