import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { randomUUID } from 'node:crypto';
import { backoffMs } from '../common/backoff';
import { errorCodeOf } from '../common/domain-error';
import { Pacer } from '../common/pacer';
import { sleep } from '../common/sleep';
import { revocationConfig } from '../config/configuration';
import { AccountNotFoundError } from '../connectors/external-account.errors';
import {
  ExternalAccountsRepository,
  type GrantScope,
  type RefreshCandidate,
} from '../connectors/external-accounts.repository';
import { ExternalAccountsService } from '../connectors/external-accounts.service';
import { GrantRevoker } from '../connectors/grant-revoker';
import { JobLeasesRepository } from '../connectors/refresh/job-leases.repository';
import { outcomeCodeOf } from '../connectors/refresh/refresh-failures';
import type { RevocationResult } from '../providers/oauth-token.client';
import { ProviderUnavailableError } from '../providers/provider.errors';
import type { GrantIncidentReport } from './grant-incident.view';
import { GrantIncidentRunningError } from './revocation.errors';

/** The status reason of an account whose grant an operator ended: a later run skips it. */
export const REVOKED_BY_OPERATOR = 'revoked_by_operator';

const BATCH = 100;
const ATTEMPTS = 3;
const RETRY = { firstMs: 1_000, maxMs: 10_000 };
const FAILURES_LISTED = 100;

export interface GrantIncidentOptions {
  /** Stops before the next account once aborted (Ctrl-C): what is done stays done. */
  signal?: AbortSignal;
  /** Starts no account after this time (epoch ms): the admin route answers within a bound. */
  deadline?: number;
  onProgress?: (report: GrantIncidentReport) => void;
}

interface RunLease {
  name: string;
  owner: string;
}

type Ending = 'revoked' | 'notRevocable' | 'failed' | 'gone';

/**
 * Grants believed leaked (a stolen backup): every matching account's grant is revoked at the
 * provider (RFC 7009, at most INCIDENT_REVOKE_PER_MINUTE requests a minute), then the account is
 * marked `needs_reauth` with reason `revoked_by_operator`, emitting `account.needs_reauth`. A
 * provider without a revocation endpoint still gets its accounts marked (not revocable). Account
 * by account, revoke before mark: a run killed midway is finished by the next, which skips the
 * accounts already marked and sends again at most the one in flight (RFC 7009 makes that
 * harmless). One run per provider at a time, by `job_leases['incident-grants:<provider>']`.
 */
@Injectable()
export class GrantIncidentService {
  private readonly logger = new Logger(GrantIncidentService.name);

  constructor(
    private readonly repository: ExternalAccountsRepository,
    private readonly accounts: ExternalAccountsService,
    private readonly revoker: GrantRevoker,
    private readonly leases: JobLeasesRepository,
    @Inject(revocationConfig.KEY) private readonly config: ConfigType<typeof revocationConfig>,
  ) {}

  async run(scope: GrantScope, options: GrantIncidentOptions = {}): Promise<GrantIncidentReport> {
    // Each run its own owner: two runs in one process must not share the lease either.
    const lease = { name: `incident-grants:${scope.provider}`, owner: `incident-grants:${randomUUID()}` };
    if (!(await this.holdLease(lease)))
      throw new GrantIncidentRunningError(scope.provider, this.config.leaseSeconds);
    try {
      return await this.runHeld(scope, lease, options);
    } finally {
      await this.leases.release(lease.name, lease.owner).catch((error: unknown) => {
        this.logger.warn(`incident lease not released (${errorCodeOf(error)}); it will expire`);
      });
    }
  }

  private async runHeld(scope: GrantScope, lease: RunLease, options: GrantIncidentOptions) {
    const { matched, marked } = await this.repository.countGrantScope(scope, REVOKED_BY_OPERATOR);
    const report: GrantIncidentReport = {
      provider: scope.provider,
      userId: scope.userId ?? null,
      accountId: scope.accountId ?? null,
      matched,
      alreadyDone: marked,
      revoked: 0,
      notRevocable: 0,
      failed: 0,
      remaining: matched - marked,
      complete: false,
      failures: [],
    };
    this.logger.log(`incident:grants ${scope.provider}: ${matched} accounts match, ${marked} done before`);
    const pacer = Pacer.perMinute(this.config.incidentPerMinute);
    // Decided once: a run sends nothing (and waits for no slot) when the provider cannot revoke.
    const revocable = await this.revoker.canRevoke(scope.provider);
    let cursor = 0;
    for (;;) {
      const batch = await this.repository.unmarkedInGrantScope(scope, REVOKED_BY_OPERATOR, cursor, BATCH);
      if (batch.length === 0 || this.stopped(options)) break;
      for (const account of batch) {
        if (this.stopped(options)) break;
        if (!(await this.holdLease(lease)))
          throw new GrantIncidentRunningError(scope.provider, this.config.leaseSeconds);
        cursor = account.id;
        const ending = revocable
          ? await this.end(account, pacer, lease, options.signal, report)
          : await this.markNotRevocable(account);
        if (ending !== 'gone') report[ending] += 1;
        options.onProgress?.(report);
      }
    }
    const after = await this.repository.countGrantScope(scope, REVOKED_BY_OPERATOR);
    report.remaining = after.matched - after.marked;
    report.complete = report.remaining === 0;
    this.logger.log(
      `incident:grants ${scope.provider}: revoked ${report.revoked}, not revocable ${report.notRevocable}, ` +
        `failed ${report.failed}, remaining ${report.remaining}`,
    );
    return report;
  }

  private stopped(options: GrantIncidentOptions): boolean {
    return (
      options.signal?.aborted === true || (options.deadline !== undefined && Date.now() >= options.deadline)
    );
  }

  /** Revoked (or not revocable), then marked; a failure leaves the account untouched for the next run. */
  private async end(
    account: RefreshCandidate,
    pacer: Pacer,
    lease: RunLease,
    signal: AbortSignal | undefined,
    report: GrantIncidentReport,
  ): Promise<Ending> {
    let result: RevocationResult;
    try {
      result = await this.revokeWithRetries(account, pacer, lease, signal);
    } catch (error) {
      if (error instanceof AccountNotFoundError) return 'gone';
      return this.failed(account, outcomeCodeOf(error), report);
    }
    if (result.outcome === 'refused') return this.failed(account, `PROVIDER_REFUSED:${result.code}`, report);
    await this.accounts.markNeedsReauth(account.userId, account.id, REVOKED_BY_OPERATOR);
    return result.outcome === 'revoked' ? 'revoked' : 'notRevocable';
  }

  private async markNotRevocable(account: RefreshCandidate): Promise<Ending> {
    await this.accounts.markNeedsReauth(account.userId, account.id, REVOKED_BY_OPERATOR);
    return 'notRevocable';
  }

  private failed(account: RefreshCandidate, code: string, report: GrantIncidentReport): Ending {
    this.logger.warn(`incident:grants: account ${account.id} of ${account.provider} not revoked (${code})`);
    if (report.failures.length < FAILURES_LISTED) report.failures.push({ accountId: account.id, code });
    return 'failed';
  }

  /** A provider that does not answer is asked again, as long as its Retry-After within a bound, renewing the lease. */
  private async revokeWithRetries(
    account: RefreshCandidate,
    pacer: Pacer,
    lease: RunLease,
    signal: AbortSignal | undefined,
  ): Promise<RevocationResult> {
    for (let attempt = 1; ; attempt += 1) {
      await pacer.take(signal);
      try {
        return await this.revoker.revoke(account);
      } catch (error) {
        if (!(error instanceof ProviderUnavailableError) || attempt >= ATTEMPTS || signal?.aborted)
          throw error;
        const stated = (error.statedRetryAfterSeconds ?? 0) * 1000;
        // Never longer than half the lease, which is renewed after the wait.
        const waitMs = Math.min(
          Math.max(backoffMs(attempt, RETRY), stated),
          (this.config.leaseSeconds * 1000) / 2,
        );
        await sleep(waitMs, signal);
        await this.holdLease(lease);
      }
    }
  }

  private holdLease(lease: RunLease): Promise<boolean> {
    return this.leases.take(lease.name, lease.owner, this.config.leaseSeconds);
  }
}
