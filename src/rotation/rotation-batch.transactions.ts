import type { Logger } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import type { PreparedBatch } from './batch-read-ahead';
import type { KeyRotationJob } from './key-rotation-job.entity';
import type { ExternalAccountsRepository } from '../connectors/external-accounts.repository';
import type { RotationJobsRepository } from './rotation-jobs.repository';
import type { ResealSecretsResult } from '../providers/provider-clients.service';

/** Re-seals the provider client secrets not on the target key, in the given transaction. */
export type ProviderSecretsResealer = (
  manager: EntityManager,
  targetKeyId: string,
) => Promise<ResealSecretsResult>;

export interface Step {
  job: KeyRotationJob;
  done: boolean;
}

/** Bounded: rows written by instances still on the old configuration are caught by a later pass. */
const MAX_PASSES = 3;

/**
 * The transactions of a run, each under the job row's lock: one per batch, which re-checks the
 * lease, writes the re-sealed rows with one compare-and-set statement and advances the cursor,
 * so a batch is either wholly done or not at all; and one at the end of each pass.
 */
export class RotationBatchTransactions {
  constructor(
    private readonly dataSource: DataSource,
    private readonly jobs: RotationJobsRepository,
    private readonly accounts: ExternalAccountsRepository,
    private readonly leaseSeconds: number,
    private readonly logger: Logger,
    private readonly resealProviderSecrets: ProviderSecretsResealer,
  ) {}

  commitBatch(job: KeyRotationJob, owner: string, batch: PreparedBatch): Promise<Step> {
    return this.dataSource.transaction(async (manager) => {
      const held = await this.lockHeld(manager, job, owner);
      if ('done' in held) return held;
      const { sealed } = batch;
      const rotated = held.dryRun ? sealed.ids.length : await this.accounts.writeResealed(manager, sealed);
      const newFailures = await this.jobs.recordFailures(manager, held.id, sealed.failures);
      const progress = {
        cursor: batch.lastId,
        scanned: batch.scanned,
        rotated,
        skipped: sealed.ids.length - rotated,
        newFailures,
      };
      return { job: await this.jobs.advance(manager, held, progress, this.leaseSeconds), done: false };
    });
  }

  /** The end of a pass: another pass if rows not known to fail are still off the target key. */
  endPass(job: KeyRotationJob, owner: string): Promise<Step> {
    return this.dataSource.transaction(async (manager) => {
      const held = await this.lockHeld(manager, job, owner);
      if ('done' in held) return held;
      let errorCode: string | undefined;
      if (!held.dryRun) {
        const { remaining, retryable } = await this.accounts.remainingOffKey(
          manager,
          held.id,
          held.targetKeyId,
        );
        if (retryable > 0 && held.pass < MAX_PASSES) {
          return {
            job: await this.jobs.startNextPass(manager, held.id, remaining, this.leaseSeconds),
            done: false,
          };
        }
        if (retryable > 0) errorCode = 'ACCOUNTS_REMAINING';
        errorCode ??= await this.resealSecrets(manager, held);
      }
      const status = held.failed > 0 || errorCode ? 'completed_with_errors' : 'completed';
      return { job: await this.jobs.finish(manager, held.id, status, errorCode), done: true };
    });
  }

  /** The provider client secrets go with the last pass; one that cannot be opened fails the job's outcome. */
  private async resealSecrets(manager: EntityManager, job: KeyRotationJob): Promise<string | undefined> {
    const { rotated, failed } = await this.resealProviderSecrets(manager, job.targetKeyId);
    if (rotated > 0) this.logger.log(`rotation job ${job.id}: ${rotated} provider client secrets re-sealed`);
    if (failed.length === 0) return undefined;
    const reasons = failed.map(({ provider, reason }) => `${provider} (${reason})`).join(', ');
    this.logger.warn(`rotation job ${job.id}: provider client secrets not re-sealed: ${reasons}`);
    return 'PROVIDER_CLIENTS_REMAINING';
  }

  /**
   * Locks the job row and returns it when this worker still holds it, it is running and it is
   * where this batch was read from. A cancelled job is finished here; a lost lease ends this
   * worker's run; a moved cursor (a commit reported failed that had in fact succeeded) makes the
   * batch be read again from the recorded position. Nothing is written in those cases.
   */
  private async lockHeld(
    manager: EntityManager,
    job: KeyRotationJob,
    owner: string,
  ): Promise<KeyRotationJob | Step> {
    const current = await this.jobs.findById(job.id, manager, true);
    if (
      !current ||
      current.leaseOwner !== owner ||
      (current.status !== 'running' && current.status !== 'cancelling')
    ) {
      const holder = current?.leaseOwner ?? 'nobody';
      this.logger.warn(
        `rotation job ${job.id} is ${current?.status ?? 'gone'}, leased by ${holder}: stopping`,
      );
      return { job: current ?? job, done: true };
    }
    if (current.status === 'cancelling') {
      return { job: await this.jobs.finish(manager, current.id, 'cancelled'), done: true };
    }
    if (current.cursor !== job.cursor || current.pass !== job.pass) return { job: current, done: false };
    return current;
  }
}
