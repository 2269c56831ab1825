import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { backoffMs } from '../common/backoff';
import { revocationConfig } from '../config/configuration';
import { ProviderUnavailableError } from '../providers/provider.errors';
import { ACCOUNT_EVENTS, emitAccountEvent, type DeletedOutcome } from './account-events';
import type { ExternalAccount } from './external-account.entity';
import {
  ExternalAccountsRepository,
  type DueRevocation,
  type RevocationRetry,
} from './external-accounts.repository';
import { outcomeCodeOf } from './refresh/refresh-failures';

/** The longest wait between two attempts, unless REVOCATION_RETRY_SECONDS is longer. */
const MAX_WAIT_SECONDS = 3600;

/**
 * The wait after `attemptsMade` attempts: REVOCATION_RETRY_SECONDS, doubling with each attempt up
 * to an hour, and never shorter than a `Retry-After` the provider sent.
 */
export function retryDelaySeconds(attemptsMade: number, retrySeconds: number, error: unknown): number {
  const limits = { firstMs: retrySeconds * 1000, maxMs: Math.max(retrySeconds, MAX_WAIT_SECONDS) * 1000 };
  const backoff = Math.ceil(backoffMs(attemptsMade, limits) / 1000);
  const stated = error instanceof ProviderUnavailableError ? (error.statedRetryAfterSeconds ?? 0) : 0;
  return Math.max(backoff, stated);
}

/**
 * The accounts whose disconnect waits for an answer from their provider (status `revoking`):
 * how one enters, when it is tried again, and how it leaves (deleted, `account.deleted` with what
 * happened to the grant). The revocation worker drives it; the disconnect puts accounts in.
 */
@Injectable()
export class RevocationQueue {
  private readonly logger = new Logger(RevocationQueue.name);

  constructor(
    private readonly accounts: ExternalAccountsRepository,
    private readonly events: EventEmitter2,
    @Inject(revocationConfig.KEY) private readonly config: ConfigType<typeof revocationConfig>,
  ) {}

  /** After a first attempt without an answer; false when the account was revoking already, or is gone. */
  async enter(account: ExternalAccount, error: unknown): Promise<boolean> {
    const retry = this.retryAfter(1, error);
    const marked = await this.accounts.markRevoking(account.userId, account.id, retry, this.config.maxHours);
    if (marked) {
      this.logger.warn(
        `account ${account.id}: ${account.provider} did not answer the revocation (${retry.error}); ` +
          `revoking, next attempt in ${retry.afterSeconds}s`,
      );
    }
    return marked;
  }

  /** How many accounts wait for their provider to answer a revocation. */
  waiting(): Promise<number> {
    return this.accounts.countRevoking();
  }

  due(limit: number): Promise<DueRevocation[]> {
    return this.accounts.dueRevocations(limit);
  }

  /** One more attempt failed: counted once, and the next one scheduled. */
  async retryLater(row: DueRevocation, error: unknown): Promise<void> {
    const retry = this.retryAfter(row.attempts + 1, error);
    if (await this.accounts.scheduleRevocation(row, retry)) {
      this.logger.warn(
        `account ${row.id}: revocation attempt ${row.attempts + 1} at ${row.provider} failed ` +
          `(${retry.error}); next in ${retry.afterSeconds}s`,
      );
    }
  }

  /**
   * Deletes a revoking account and announces it with `outcome`; undefined when it is gone already
   * (another instance ended it, or a DELETE ?revoke=false), so it is announced once.
   */
  async leave(row: DueRevocation, outcome: DeletedOutcome): Promise<ExternalAccount | undefined> {
    const account = await this.accounts.findOne(row.userId, row.id);
    if (!account || account.status !== 'revoking') return undefined;
    if (!(await this.accounts.deleteRevoking(row.userId, row.id))) return undefined;
    this.logger.log(`account ${row.id} of ${account.provider} deleted (revocation ${outcome})`);
    emitAccountEvent(this.events, this.logger, ACCOUNT_EVENTS.deleted, account, { revocation: outcome });
    return account;
  }

  private retryAfter(attemptsMade: number, error: unknown): RevocationRetry {
    return {
      afterSeconds: retryDelaySeconds(attemptsMade, this.config.retrySeconds, error),
      error: outcomeCodeOf(error),
    };
  }
}
