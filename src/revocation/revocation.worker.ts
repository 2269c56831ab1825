import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { randomUUID } from 'node:crypto';
import { AdminAuditService } from '../audit/admin-audit.service';
import { databaseErrorCodeOf } from '../common/database-errors';
import { errorCodeOf } from '../common/domain-error';
import { sleep } from '../common/sleep';
import { revocationConfig } from '../config/configuration';
import type { DeletedOutcome } from '../connectors/account-events';
import { AccountNotFoundError } from '../connectors/external-account.errors';
import type { DueRevocation } from '../connectors/external-accounts.repository';
import { GrantRevoker } from '../connectors/grant-revoker';
import { JobLeasesRepository } from '../connectors/refresh/job-leases.repository';
import { RevocationQueue } from '../connectors/revocation-queue';

const LEASE_NAME = 'revocation';
const BATCH = 50;
const PROVIDER_LABEL = /^[a-z][a-z0-9_-]{1,63}$/;

/**
 * What one pass did: accounts ended per outcome, attempts that failed again (`retrying`), and
 * accounts left for the next pass because their provider did not answer earlier in this one.
 */
export type RevocationRun = Partial<Record<DeletedOutcome | 'retrying' | 'deferred', number>>;

/** The audit status of each end: what the grant's end amounts to, as an HTTP status would say it. */
const AUDIT_STATUS: Record<DeletedOutcome, number> = {
  revoked: 200,
  not_supported: 200,
  skipped: 200,
  refused: 502,
  abandoned: 504,
};

/**
 * Tries again the revocations of disconnected accounts whose provider did not answer (status
 * `revoking`), with a doubling wait, until the provider answers or REVOCATION_MAX_HOURS passes;
 * then deletes the account, emits `account.deleted` with the outcome and records it in the audit
 * trail (`revocation_abandoned` when given up). One instance at a time holds
 * `job_leases['revocation']`, renewed before each account; a killed holder is replaced once its
 * lease expires, and sends the request again: revocation is idempotent at the provider.
 */
@Injectable()
export class RevocationWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly owner = `revocation:${randomUUID()}`;
  private readonly logger = new Logger(RevocationWorker.name);
  private readonly stopping = new AbortController();
  private loop?: Promise<void>;

  constructor(
    private readonly queue: RevocationQueue,
    private readonly revoker: GrantRevoker,
    private readonly leases: JobLeasesRepository,
    private readonly audit: AdminAuditService,
    @Inject(revocationConfig.KEY) private readonly config: ConfigType<typeof revocationConfig>,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.workerEnabled) this.loop = this.pollLoop();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    await this.leases.release(LEASE_NAME, this.owner).catch((error: unknown) => {
      this.logger.warn(`revocation lease not released (${errorCodeOf(error)}); it will expire`);
    });
  }

  /** One pass over the accounts due, when this instance holds (or takes) the lease; undefined otherwise. */
  async runOnce(): Promise<RevocationRun | undefined> {
    if (!(await this.holdLease())) return undefined;
    const run: RevocationRun = {};
    // A provider that did not answer is asked once a pass: its other accounts would each wait
    // for the same timeout, and hold up the accounts of providers that answer.
    const silent = new Set<string>();
    for (const row of await this.queue.due(BATCH)) {
      if (this.stopping.signal.aborted || !(await this.holdLease())) break;
      const outcome = silent.has(row.provider) ? 'deferred' : await this.attempt(row);
      if (outcome === 'retrying') silent.add(row.provider);
      if (outcome !== undefined) run[outcome] = (run[outcome] ?? 0) + 1;
    }
    return run;
  }

  private holdLease(): Promise<boolean> {
    return this.leases.take(LEASE_NAME, this.owner, this.config.leaseSeconds);
  }

  /** Undefined when the account was ended elsewhere meanwhile. */
  private async attempt(row: DueRevocation): Promise<DeletedOutcome | 'retrying' | undefined> {
    if (row.expired) return this.end(row, 'abandoned');
    try {
      const result = await this.revoker.revoke(row);
      return await this.end(row, result.outcome, result.outcome === 'refused' ? result.code : undefined);
    } catch (error) {
      if (error instanceof AccountNotFoundError) return undefined;
      await this.queue.retryLater(row, error);
      return 'retrying';
    }
  }

  private async end(row: DueRevocation, outcome: DeletedOutcome, code?: string) {
    if (!(await this.queue.leave(row, outcome))) return undefined;
    if (code !== undefined) this.logger.warn(`${row.provider} refused to revoke account ${row.id} (${code})`);
    await this.record(row, outcome);
    return outcome;
  }

  /**
   * `revocation_<outcome>:<provider> account <id>`, written at once (the row is gone already); a
   * trail that cannot be written now takes it into its buffer and retries.
   */
  private async record(row: DueRevocation, outcome: DeletedOutcome): Promise<void> {
    const provider = PROVIDER_LABEL.test(row.provider) ? row.provider : 'unknown';
    const statusCode = AUDIT_STATUS[outcome];
    const event = {
      action: `revocation_${outcome}:${provider} account ${row.id}`,
      outcome: statusCode < 400 ? ('allowed' as const) : ('failed' as const),
      statusCode,
      actor: 'revocation-worker',
      clientAddress: null,
      requestId: null,
    };
    try {
      await this.audit.write(event);
    } catch (error) {
      this.logger.warn(`revocation audit event buffered (${databaseErrorCodeOf(error)})`);
      this.audit.record(event);
    }
  }

  /** Each pass after a period, the first one too: the instance finishes starting first. */
  private async pollLoop(): Promise<void> {
    const signal = this.stopping.signal;
    for (;;) {
      await sleep(this.config.pollSeconds * 1000, signal);
      if (signal.aborted) return;
      try {
        const run = await this.runOnce();
        if (run && Object.keys(run).length > 0) this.logger.log(`revocation: ${JSON.stringify(run)}`);
      } catch (error) {
        this.logger.warn(`revocation pass failed (${databaseErrorCodeOf(error)}), will retry`);
      }
    }
  }
}
