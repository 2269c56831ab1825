import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { ACCOUNT_EVENTS, type AccountEvent } from '../../src/connectors/account-events';
import { ExternalAccountsService } from '../../src/connectors/external-accounts.service';
import type { TokenSet } from '../../src/connectors/token-set';

/** One message for the account's owner: reconnect this account. */
export interface ReauthNotice {
  userId: number;
  accountId: number;
  provider: string;
  reason: string | null;
}

/**
 * What another module does with the connectors service: it asks for tokens valid for the next
 * minute (refreshed at the provider once if needed, whoever else asks), and hears when an
 * account needs its owner to authorize it again.
 */
@Injectable()
export class ReauthNotifierService {
  private readonly logger = new Logger(ReauthNotifierService.name);
  readonly notices: ReauthNotice[] = [];

  constructor(private readonly accounts: ExternalAccountsService) {}

  /** Tokens for a call to the provider's API on the user's behalf. */
  tokensForApiCall(userId: number, accountId: number): Promise<TokenSet> {
    return this.accounts.getFreshTokens(userId, accountId, { minValiditySeconds: 60 });
  }

  @OnEvent(ACCOUNT_EVENTS.needsReauth)
  onNeedsReauth(event: AccountEvent): void {
    const notice = {
      userId: event.userId,
      accountId: event.accountId,
      provider: event.provider,
      reason: event.account.statusReason,
    };
    this.notices.push(notice);
    this.logger.log(
      `asking user ${notice.userId} to reconnect ${notice.provider} account ${notice.accountId}`,
    );
  }
}
