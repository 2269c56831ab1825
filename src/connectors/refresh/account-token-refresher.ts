import { BeforeApplicationShutdown, Inject, Injectable, Logger, Optional } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { randomUUID } from 'node:crypto';
import { isTransient } from '../../common/database-errors';
import { errorCodeOf } from '../../common/domain-error';
import { sleep } from '../../common/sleep';
import { refreshConfig } from '../../config/configuration';
import { DatabaseNotices } from '../../database/database-notices';
import { AppMetrics } from '../../metrics/app-metrics';
import { OAuthTokenClient, type TokenResponse } from '../../providers/oauth-token.client';
import { ProviderClientsService } from '../../providers/provider-clients.service';
import { ProviderInvalidGrantError, ProviderRefusedError } from '../../providers/provider.errors';
import { SingleFlight } from '../../common/single-flight';
import { ACCOUNT_EVENTS, emitAccountEvent } from '../account-events';
import {
  AccountNeedsReauthError,
  AccountNotFoundError,
  AccountOutsideCallerProvidersError,
  AccountRevokingError,
  NoRefreshTokenError,
  RefreshStillRunningError,
} from '../external-account.errors';
import {
  ExternalAccountsRepository,
  type RefreshRow,
  type TokenColumns,
} from '../external-accounts.repository';
import { outcomeCodeOf, sharedFailure } from './refresh-failures';
import { mergeRefreshed, tokenSetErrors, validFor, type TokenRead, type TokenSet } from '../token-set';
import { TokenStorage } from '../token-storage';
import { RefreshWakes, type WakeTicket } from './refresh-wakes';

/** The tokens a refresh under the lease ends with: its own, or newer ones another writer stored. */
interface Refreshed {
  tokens: TokenSet;
  outcome: 'refreshed' | 'superseded';
}

/** The configured provider a refresh was sent to, once it was. */
interface SentTo {
  provider: string | undefined;
}

/** What a caller needs of the tokens: valid for so long, or newer than the ones it read. */
type Need = { minValiditySeconds: number } | 'newer';

/** A waiter looks again just after the holder's lease ends by the database's clock. */
const LEASE_END_MARGIN_MS = 10;
const STORE_ATTEMPTS = 3;
const STORE_RETRY_MS = 200;

/**
 * The single-flight refresh of an account at its provider. In this process, callers of one
 * account share one promise; across instances, the account's lease (one UPDATE, no lock held
 * across the provider call) elects the one that calls the provider, and the others wait until
 * its version moves, its status changes, or the holder records a failure: woken by the notice the
 * holder's last statement sends (RefreshWakes), at the lease's end, or by a periodic re-read.
 * The new tokens are written with a compare-and-set on `version` before any caller gets them.
 */
@Injectable()
export class AccountTokenRefresher implements BeforeApplicationShutdown {
  private readonly logger = new Logger(AccountTokenRefresher.name);
  private readonly flights = new SingleFlight<string, TokenSet>();
  private readonly wakes: RefreshWakes;
  /** This instance's name in the lease column. */
  readonly owner = `refresher:${randomUUID()}`;

  constructor(
    private readonly accounts: ExternalAccountsRepository,
    private readonly storage: TokenStorage,
    private readonly providers: ProviderClientsService,
    private readonly oauth: OAuthTokenClient,
    private readonly events: EventEmitter2,
    @Inject(refreshConfig.KEY) private readonly config: ConfigType<typeof refreshConfig>,
    notices: DatabaseNotices,
    @Optional() private readonly metrics?: AppMetrics,
  ) {
    this.wakes = new RefreshWakes(notices, config.noticesEnabled);
  }

  /** A refresh in flight finishes before the database closes: the provider may have rotated the token. */
  async beforeApplicationShutdown(): Promise<void> {
    this.wakes.stop();
    await this.flights.drain();
  }

  /**
   * The stored tokens when valid for `minValiditySeconds`, else a refresh's. `providers`: an
   * account of another provider is not found, before anything is opened or refreshed.
   */
  async fresh(
    userId: number,
    id: number,
    minValiditySeconds: number,
    providers?: readonly string[],
  ): Promise<TokenRead> {
    const row = await this.readServable(userId, id, providers);
    const tokens = this.storage.open(row);
    if (validFor(tokens, minValiditySeconds)) return { tokens, provider: row.provider, refreshed: false };
    const fresh = await this.flights.run(`${userId}:${id}`, () =>
      this.coordinate(row, { minValiditySeconds }),
    );
    return { tokens: fresh, provider: row.provider, refreshed: true };
  }

  /** Refreshes now, or joins the refresh already in flight, whose result is as new. */
  async refresh(userId: number, id: number, providers?: readonly string[]): Promise<TokenRead> {
    const row = await this.readServable(userId, id, providers);
    const tokens = await this.flights.run(`${userId}:${id}`, () => this.coordinate(row, 'newer'));
    return { tokens, provider: row.provider, refreshed: true };
  }

  /**
   * The first row was read before any ticket was taken, so a holder's refresh is waited on only
   * after a re-read under a ticket: a notice can then land at any point and still wake the wait.
   */
  private async coordinate(first: RefreshRow, need: Need): Promise<TokenSet> {
    const deadline = Date.now() + this.config.waitMs;
    const failureSeen = first.refreshErrorAt?.getTime() ?? null;
    let row = first;
    let ticket: WakeTicket | undefined;
    try {
      for (;;) {
        if (row.status === 'revoking') throw new AccountRevokingError(row.id);
        if (row.version !== first.version) return this.satisfiedBy(row, need);
        if (row.status === 'needs_reauth') throw new AccountNeedsReauthError(row.id, row.statusReason);
        if (row.refreshError && (row.refreshErrorAt?.getTime() ?? null) !== failureSeen)
          throw sharedFailure(row);
        if (
          !row.leaseActive &&
          (await this.accounts.takeRefreshLease(row, this.owner, this.config.leaseSeconds))
        ) {
          return this.refreshHeld(row);
        }
        if (Date.now() >= deadline) throw new RefreshStillRunningError(row.id);
        await ticket?.wait(this.pause(row, deadline));
        ticket?.close();
        ticket = this.wakes.ticket(row.id);
        row = await this.read(row.userId, row.id);
      }
    } finally {
      ticket?.close();
    }
  }

  /**
   * How long to wait for news before reading the row again: until the holder's lease ends at
   * most, and otherwise a long fallback while notices arrive, a short jittered poll while not.
   */
  private pause(row: RefreshRow, deadline: number): number {
    const { pollMs, noticeFallbackMs } = this.config;
    const poll = this.wakes.live ? noticeFallbackMs : pollMs + Math.floor(Math.random() * pollMs);
    const leaseEnd = row.leaseRemainingMs === null ? poll : row.leaseRemainingMs + LEASE_END_MARGIN_MS;
    return Math.max(0, Math.min(poll, leaseEnd, deadline - Date.now()));
  }

  /** Someone else wrote new tokens meanwhile: theirs are the answer. */
  private satisfiedBy(row: RefreshRow, need: Need): TokenSet {
    const tokens = this.storage.open(row);
    if (need !== 'newer' && !validFor(tokens, need.minValiditySeconds)) {
      this.logger.warn(`account ${row.id}: the tokens written meanwhile expire within the asked validity`);
    }
    return tokens;
  }

  /**
   * Runs with this instance holding the lease; every way out gives it up. Only a refresh sent to
   * a provider is counted: one refused before (no client, no refresh token) asked nothing of it.
   */
  private async refreshHeld(row: RefreshRow): Promise<TokenSet> {
    const sent: SentTo = { provider: undefined };
    try {
      const { tokens, outcome } = await this.refreshUnderLease(row, sent);
      this.count(sent, outcome);
      return tokens;
    } catch (error) {
      this.count(sent, error instanceof AccountNeedsReauthError ? 'needs_reauth' : errorCodeOf(error));
      throw error;
    }
  }

  /** The provider label is the name of a configured client, never the text an account was created with. */
  private count(sent: SentTo, outcome: string): void {
    if (sent.provider === undefined) return;
    this.metrics?.tokenRefreshes.inc({ provider: sent.provider, outcome });
  }

  private async refreshUnderLease(row: RefreshRow, sent: SentTo): Promise<Refreshed> {
    try {
      const stored = this.storage.open(row);
      if (!stored.refresh_token) throw new NoRefreshTokenError(row.id);
      const client = await this.providers.resolve(row.provider);
      sent.provider = client.provider;
      let response: TokenResponse;
      try {
        response = await this.oauth.refresh(client, stored.refresh_token);
      } catch (error) {
        if (error instanceof ProviderInvalidGrantError) return await this.onInvalidGrant(row);
        throw error;
      }
      return await this.store(row, mergeRefreshed(stored, response));
    } catch (error) {
      await this.release(row, error);
      throw error;
    }
  }

  private async store(row: RefreshRow, tokens: TokenSet): Promise<Refreshed> {
    if (tokenSetErrors(tokens, 'response').length > 0)
      throw new ProviderRefusedError(row.provider, 'invalid_response');
    if (await this.storeWithRetries(row, this.storage.seal(row.userId, row.id, tokens))) {
      this.logger.log(`account ${row.id}: tokens refreshed at ${row.provider}`);
      await this.publish(ACCOUNT_EVENTS.tokensRefreshed, row);
      return { tokens, outcome: 'refreshed' };
    }
    // New tokens were written (PUT) while the provider answered: they are the newer intent. Or the
    // account was disconnected meanwhile and is being revoked: it serves nothing.
    const current = await this.read(row.userId, row.id);
    if (current.status === 'revoking') throw new AccountRevokingError(row.id);
    this.logger.warn(`account ${row.id}: tokens written during the refresh are kept`);
    await this.accounts.releaseRefreshLease(row, this.owner, 'SUPERSEDED');
    return { tokens: this.storage.open(current), outcome: 'superseded' };
  }

  /**
   * The provider may have rotated the refresh token already: losing this write would lose the
   * grant, so a transient database error is retried while the lease is still ours.
   */
  private async storeWithRetries(row: RefreshRow, columns: TokenColumns): Promise<boolean> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.accounts.storeRefreshed(row, columns);
      } catch (error) {
        if (!isTransient(error) || attempt >= STORE_ATTEMPTS) throw error;
        this.logger.warn(
          `account ${row.id}: storing refreshed tokens failed (${errorCodeOf(error)}), retrying`,
        );
        await sleep(STORE_RETRY_MS * attempt);
      }
    }
  }

  /** Another instance may have refreshed with a newer refresh token: only an unchanged row is marked. */
  private async onInvalidGrant(row: RefreshRow): Promise<Refreshed> {
    const current = await this.read(row.userId, row.id);
    if (current.status === 'revoking') throw new AccountRevokingError(row.id);
    if (current.version !== row.version) {
      await this.accounts.releaseRefreshLease(row, this.owner, 'SUPERSEDED');
      return { tokens: this.storage.open(current), outcome: 'superseded' };
    }
    if (await this.accounts.markNeedsReauth(row, 'invalid_grant')) {
      this.logger.warn(
        `account ${row.id}: ${row.provider} refused the refresh token; needs re-authorization`,
      );
      await this.publish(ACCOUNT_EVENTS.needsReauth, row);
    }
    throw new AccountNeedsReauthError(row.id, 'invalid_grant');
  }

  private async release(row: RefreshRow, error: unknown): Promise<void> {
    try {
      await this.accounts.releaseRefreshLease(row, this.owner, outcomeCodeOf(error));
    } catch (releaseError) {
      this.logger.warn(
        `account ${row.id}: refresh lease not released (${errorCodeOf(releaseError)}); it will expire`,
      );
    }
  }

  /** After the change is stored: a failure to tell is logged, never the caller's error. */
  private async publish(name: string, row: RefreshRow): Promise<void> {
    try {
      const account = await this.accounts.findOne(row.userId, row.id);
      if (account) emitAccountEvent(this.events, this.logger, name, account);
    } catch (error) {
      this.logger.warn(`account ${row.id}: ${name} not emitted (${errorCodeOf(error)})`);
    }
  }

  private async read(userId: number, id: number, providers?: readonly string[]): Promise<RefreshRow> {
    const row = await this.accounts.findRefreshRow(userId, id);
    if (!row) throw new AccountNotFoundError(id);
    if (providers && !providers.includes(row.provider))
      throw new AccountOutsideCallerProvidersError(id, row.provider);
    return row;
  }

  /** The first read of a caller: a revoking account serves no token, stored or refreshed. */
  private async readServable(userId: number, id: number, providers?: readonly string[]): Promise<RefreshRow> {
    const row = await this.read(userId, id, providers);
    if (row.status === 'revoking') throw new AccountRevokingError(id);
    return row;
  }
}
