import type { Logger } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import type { PreparedBatch } from './batch-read-ahead';
import { isActive, type KeyRotationJob, type PartitionWork } from './key-rotation-job.entity';
import type { ExternalAccountsRepository } from '../connectors/external-accounts.repository';
import type { RotationJobsRepository } from './rotation-jobs.repository';
import type { ResealSecretsResult } from '../providers/provider-clients.service';

/** Re-seals the provider client secrets not on the target key, in the given transaction. */
export type ProviderSecretsResealer = (
  manager: EntityManager,
  targetKeyId: string,
) => Promise<ResealSecretsResult>;

/**
 * Where a worker stands after a transaction: `continue` with the partition (a batch committed,
 * or its cursor moved and the batch is read again); its partition `done`; the partition `lost`
 * to another worker (the job goes on: others may be free); `cancel` asked for; the job `ended`.
 */
export type StepOutcome = 'continue' | 'done' | 'lost' | 'cancel' | 'ended';

export interface Step {
  work: PartitionWork;
  outcome: StepOutcome;
}

/** Bounded: rows written by instances still on the old configuration are caught by a later pass. */
const MAX_PASSES = 3;

/**
 * The transactions of a worker on one partition, each under the partition row's lock: one per
 * batch, which re-checks the lease, writes the re-sealed rows with one compare-and-set statement
 * and advances the partition's cursor, so a batch is either wholly done or not at all; and one
 * at the end of the partition, which also ends the pass when it was the last one open. Batches
 * never lock the job row, so workers on other partitions never wait on each other; what writes
 * the job row locks it first.
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

  commitBatch(work: PartitionWork, owner: string, batch: PreparedBatch): Promise<Step> {
    return this.dataSource.transaction(async (manager) => {
      const held = await this.lockHeld(manager, work, owner);
      if ('outcome' in held) return held;
      const { sealed } = batch;
      const rotated = held.dryRun ? sealed.ids.length : await this.accounts.writeResealed(manager, sealed);
      const newFailures = await this.jobs.recordFailures(manager, held.jobId, sealed.failures);
      const progress = {
        cursor: batch.lastId,
        scanned: batch.scanned,
        rotated,
        skipped: sealed.ids.length - rotated,
        newFailures,
      };
      const advanced = await this.jobs.advance(manager, held, progress, this.leaseSeconds);
      return { work: advanced, outcome: 'continue' };
    });
  }

  /**
   * Every account of the partition was read. The job row is locked first, so partitions ending
   * at once end one after the other and the last one sees every other one done: it ends the
   * pass, with another pass if rows not known to fail are still off the target key.
   */
  endPartition(work: PartitionWork, owner: string): Promise<Step> {
    return this.dataSource.transaction(async (manager) => {
      const job = await this.jobs.lockJob(manager, work.jobId);
      const held = await this.lockHeld(manager, work, owner);
      if ('outcome' in held) return held;
      await this.jobs.endPartition(manager, held);
      const done: Step = { work: { ...held, done: true, leaseOwner: null }, outcome: 'done' };
      if ((await this.jobs.openPartitions(manager, held.jobId)) > 0) return done;
      return this.endPass(manager, job as KeyRotationJob, done);
    });
  }

  /** A job asked to stop: cancelled by the first worker that sees it, under the job row's lock. */
  cancel(work: PartitionWork): Promise<Step> {
    return this.dataSource.transaction(async (manager) => {
      const job = await this.jobs.lockJob(manager, work.jobId);
      if (job?.status === 'cancelling') await this.jobs.finish(manager, job.id, 'cancelled');
      return { work, outcome: 'ended' };
    });
  }

  private async endPass(manager: EntityManager, job: KeyRotationJob, done: Step): Promise<Step> {
    let errorCode: string | undefined;
    if (!job.dryRun) {
      const { remaining, retryable } = await this.accounts.remainingOffKey(manager, job.id, job.targetKeyId);
      if (retryable > 0 && job.pass < MAX_PASSES) {
        await this.jobs.startNextPass(manager, job.id, remaining);
        return done;
      }
      if (retryable > 0) errorCode = 'ACCOUNTS_REMAINING';
      errorCode ??= await this.resealSecrets(manager, job);
    }
    const failed = (await this.jobs.findById(job.id, manager))?.failed ?? 0;
    const status = failed > 0 || errorCode ? 'completed_with_errors' : 'completed';
    await this.jobs.finish(manager, job.id, status, errorCode);
    return { ...done, outcome: 'ended' };
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
   * Locks the partition row and returns it when its job is running, this worker still holds it,
   * and it is where this batch was read from. Otherwise nothing is written: an ended job ends
   * the run, a lost lease (or a partition another worker finished) sends this worker elsewhere,
   * a cancel is handed to `cancel`, and a moved cursor (a commit reported failed that had in fact
   * succeeded) makes the batch be read again from the recorded position.
   */
  private async lockHeld(
    manager: EntityManager,
    work: PartitionWork,
    owner: string,
  ): Promise<PartitionWork | Step> {
    const current = await this.jobs.lockPartition(manager, work);
    const where = `rotation job ${work.jobId} partition ${work.part}`;
    if (!current || !isActive(current.status)) {
      this.logger.warn(`${where}: the job is ${current?.status ?? 'gone'}: stopping`);
      return { work: current ?? work, outcome: 'ended' };
    }
    if (current.leaseOwner !== owner || current.done || current.pass !== work.pass) {
      const holder = current.done ? 'done' : `leased by ${current.leaseOwner ?? 'nobody'}`;
      this.logger.warn(`${where} is ${holder}: leaving it`);
      return { work: current, outcome: 'lost' };
    }
    if (current.status === 'cancelling') return { work: current, outcome: 'cancel' };
    if (current.cursor !== work.cursor) return { work: current, outcome: 'continue' };
    return current;
  }
}
