import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { randomUUID } from 'node:crypto';
import { errorCodeOf } from '../../common/domain-error';
import { sleep } from '../../common/sleep';
import { refreshConfig } from '../../config/configuration';
import { ProviderClientsService } from '../../providers/provider-clients.service';
import { ExternalAccountsRepository } from '../external-accounts.repository';
import { ExternalAccountsService } from '../external-accounts.service';
import { JobLeasesRepository } from './job-leases.repository';

const LEASE_NAME = 'refresh-ahead';
const BATCH = 100;

export interface RefreshAheadRun {
  refreshed: number;
  failed: Record<string, number>;
  deferred: number;
}

/**
 * Refreshes accounts whose access token expires within REFRESH_AHEAD_SECONDS, oldest expiry
 * first, at most REFRESH_AHEAD_PER_PROVIDER_PER_MINUTE a provider, through the same
 * single-flight path as callers. A lease on `job_leases` lets one instance work at a time.
 */
@Injectable()
export class RefreshAheadWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly owner = `refresh-ahead:${randomUUID()}`;
  private readonly logger = new Logger(RefreshAheadWorker.name);
  private readonly stopping = new AbortController();
  private readonly sent = new Map<string, number[]>();
  /** Providers that refused this service's client, until when they are left alone. */
  private readonly misconfigured = new Map<string, number>();
  private loop?: Promise<void>;

  constructor(
    private readonly accounts: ExternalAccountsRepository,
    private readonly service: ExternalAccountsService,
    private readonly providers: ProviderClientsService,
    private readonly leases: JobLeasesRepository,
    @Inject(refreshConfig.KEY) private readonly config: ConfigType<typeof refreshConfig>,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.aheadEnabled) this.loop = this.pollLoop();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    await this.leases.release(LEASE_NAME, this.owner).catch((error: unknown) => {
      this.logger.warn(`refresh-ahead lease not released (${errorCodeOf(error)}); it will expire`);
    });
  }

  /** One pass, when this instance holds (or takes) the lease; undefined when another instance does. */
  async runOnce(): Promise<RefreshAheadRun | undefined> {
    if (!(await this.leases.take(LEASE_NAME, this.owner, this.leaseSeconds()))) return undefined;
    const run: RefreshAheadRun = { refreshed: 0, failed: {}, deferred: 0 };
    const providers = await this.providers.configuredProviders();
    if (providers.length === 0) return run;
    const before = new Date(Date.now() + this.config.aheadSeconds * 1000);
    const backoff = this.config.aheadPollSeconds * 10;
    // A token that lives less than the window would otherwise be refreshed on every pass.
    const rest = Math.ceil(this.config.aheadSeconds / 2);
    const candidates = await this.accounts.refreshAheadCandidates(providers, before, backoff, rest, BATCH);
    for (const account of candidates) {
      if (this.stopping.signal.aborted) break;
      if (this.backingOff(account.provider) || !this.allow(account.provider)) {
        run.deferred += 1;
        continue;
      }
      try {
        await this.service.getFreshTokens(account.userId, account.id, {
          minValiditySeconds: this.config.aheadSeconds,
        });
        run.refreshed += 1;
      } catch (error) {
        const code = errorCodeOf(error);
        run.failed[code] = (run.failed[code] ?? 0) + 1;
        // Every account of the provider would be refused alike: one asks, the others wait.
        if (code === 'PROVIDER_MISCONFIGURED') this.backOff(account.provider);
      }
      await this.leases.take(LEASE_NAME, this.owner, this.leaseSeconds());
    }
    return run;
  }

  /** Each pass after a period, the first one too: the instance finishes starting first. */
  private async pollLoop(): Promise<void> {
    const signal = this.stopping.signal;
    for (;;) {
      await sleep(this.config.aheadPollSeconds * 1000, signal);
      if (signal.aborted) return;
      try {
        const run = await this.runOnce();
        if (run && (run.refreshed > 0 || Object.keys(run.failed).length > 0)) {
          this.logger.log(`refresh-ahead: ${run.refreshed} refreshed, failed ${JSON.stringify(run.failed)}`);
        }
      } catch (error) {
        this.logger.warn(`refresh-ahead pass failed (${errorCodeOf(error)}), will retry`);
      }
    }
  }

  /** As long as an account's own backoff after a failure, and at least five minutes. */
  private backOff(provider: string): void {
    const seconds = Math.max(this.config.aheadPollSeconds * 10, 300);
    this.misconfigured.set(provider, Date.now() + seconds * 1000);
    this.logger.warn(
      `refresh-ahead: ${provider} refused this service's client; its accounts wait ${seconds}s`,
    );
  }

  private backingOff(provider: string): boolean {
    const until = this.misconfigured.get(provider);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.misconfigured.delete(provider);
    return false;
  }

  /** A sliding minute per provider. */
  private allow(provider: string): boolean {
    const now = Date.now();
    const recent = (this.sent.get(provider) ?? []).filter((at) => now - at < 60_000);
    if (recent.length >= this.config.aheadPerProviderPerMinute) {
      this.sent.set(provider, recent);
      return false;
    }
    recent.push(now);
    this.sent.set(provider, recent);
    return true;
  }

  /** Long enough for a pass of provider calls, renewed after each. */
  private leaseSeconds(): number {
    return Math.max(
      this.config.aheadPollSeconds * 3,
      Math.ceil(this.config.providerTimeoutMs / 1000) * 2,
      30,
    );
  }
}
