import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { rotationConfig } from '../config/rotation.config';
import { TokenStorage } from '../connectors/token-storage';
import { EnvelopeService } from '../crypto/envelope.service';
import { errorCodeOf, isTransient } from './error-codes';
import type { KeyRotationJob } from './key-rotation-job.entity';
import { resealRows, type ResealedBatch, type RowCrypto } from './reseal-row';
import { RotationAccountsRepository, type CandidateRow } from './rotation-accounts.repository';
import { RotationJobsRepository } from './rotation-jobs.repository';
import { toRotationJobView, type RotationJobView } from './rotation-job.view';
import { isActive } from './rotation-status';
import { sleep } from './sleep';

export interface RunJobOptions {
  /** Called after every committed batch; awaited, so a slow callback slows the job down. */
  onProgress?: (view: RotationJobView) => void | Promise<void>;
  /** Stops at the next batch boundary and gives the lease up; the job stays resumable. */
  signal?: AbortSignal;
}

interface Step {
  job: KeyRotationJob;
  done: boolean;
}

/** Bounded: rows written by instances still on the old configuration are caught by a later pass. */
const MAX_PASSES = 3;
const MAX_BACKOFF_MS = 30_000;

/**
 * Runs one claimed job batch by batch. Each batch is one transaction that re-checks the lease
 * under the job row's lock, writes the re-sealed rows and advances the cursor, so a batch is
 * either wholly done or not at all; a database outage only delays the job.
 */
@Injectable()
export class RotationJobRunner {
  private readonly logger = new Logger('RotationWorker');
  private readonly crypto: RowCrypto;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly jobs: RotationJobsRepository,
    private readonly accounts: RotationAccountsRepository,
    envelopes: EnvelopeService,
    storage: TokenStorage,
    @Inject(rotationConfig.KEY) private readonly config: ConfigType<typeof rotationConfig>,
  ) {
    this.crypto = {
      inspect: (stored) => envelopes.inspect(stored),
      reseal: (stored, accountId) => envelopes.reseal(stored, accountId),
      openPlaintext: (row) => storage.open(row),
      seal: (accountId, tokens) => envelopes.encryptJsonBlob(tokens, accountId),
    };
  }

  /** Until the job ends, is cancelled, loses its lease, fails for good, or `signal` stops it. */
  async run(claimed: KeyRotationJob, owner: string, options: RunJobOptions = {}): Promise<KeyRotationJob> {
    let job = claimed;
    let outages = 0;
    while (!options.signal?.aborted) {
      let step: Step;
      try {
        step = await this.step(job, owner);
      } catch (error) {
        if (!isTransient(error)) return this.fail(job, owner, error);
        outages += 1;
        const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(outages, 10));
        if (outages === 1) {
          this.logger.warn(`rotation job ${job.id}: batch rolled back (${errorCodeOf(error)}), retrying`);
        }
        await sleep(delay, options.signal);
        continue;
      }
      if (outages > 0) {
        this.logger.log(`rotation job ${job.id}: database reachable again after ${outages} attempts`);
      }
      outages = 0;
      job = step.job;
      if (step.done) return job;
      await options.onProgress?.(toRotationJobView(job));
    }
    return this.release(job, owner);
  }

  private async step(job: KeyRotationJob, owner: string): Promise<Step> {
    const rows = await this.accounts.candidates(job.cursor, job.targetKeyId, job.batchSize);
    if (rows.length === 0) return this.endPass(job, owner);
    return this.commitBatch(job, owner, rows, resealRows(rows, this.crypto));
  }

  private commitBatch(
    job: KeyRotationJob,
    owner: string,
    rows: CandidateRow[],
    batch: ResealedBatch,
  ): Promise<Step> {
    return this.dataSource.transaction(async (manager) => {
      const held = await this.lockHeld(manager, job, owner);
      if ('done' in held) return held;
      const rotated = held.dryRun
        ? batch.resealed.length
        : await this.accounts.writeResealed(manager, batch.resealed, held.targetKeyId);
      const newFailures = await this.jobs.recordFailures(manager, held.id, batch.failures);
      const progress = {
        cursor: rows[rows.length - 1].id,
        scanned: rows.length,
        rotated,
        skipped: batch.resealed.length - rotated,
        newFailures,
      };
      return { job: await this.jobs.advance(manager, held, progress, this.config.leaseSeconds), done: false };
    });
  }

  /** The end of a pass: another pass if rows not known to fail are still off the target key. */
  private endPass(job: KeyRotationJob, owner: string): Promise<Step> {
    return this.dataSource.transaction(async (manager) => {
      const held = await this.lockHeld(manager, job, owner);
      if ('done' in held) return held;
      let errorCode: string | undefined;
      if (!held.dryRun) {
        const { remaining, retryable } = await this.accounts.remaining(manager, held.id, held.targetKeyId);
        if (retryable > 0 && held.pass < MAX_PASSES) {
          return {
            job: await this.jobs.startNextPass(manager, held.id, remaining, this.config.leaseSeconds),
            done: false,
          };
        }
        if (retryable > 0) errorCode = 'ACCOUNTS_REMAINING';
      }
      const status = held.failed > 0 || errorCode ? 'completed_with_errors' : 'completed';
      return { job: await this.jobs.finish(manager, held.id, status, errorCode), done: true };
    });
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

  private async fail(job: KeyRotationJob, owner: string, error: unknown): Promise<KeyRotationJob> {
    const code = errorCodeOf(error);
    this.logger.error(`rotation job ${job.id} failed (${code})`);
    try {
      return await this.dataSource.transaction(async (manager) => {
        const current = await this.jobs.findById(job.id, manager, true);
        if (!current || current.leaseOwner !== owner || !isActive(current.status)) return current ?? job;
        return this.jobs.finish(manager, current.id, 'failed', code);
      });
    } catch (recordError) {
      this.logger.warn(`rotation job ${job.id}: could not record the failure (${errorCodeOf(recordError)})`);
      return job;
    }
  }

  private async release(job: KeyRotationJob, owner: string): Promise<KeyRotationJob> {
    try {
      return (await this.jobs.release(job.id, owner)) ?? job;
    } catch (error) {
      this.logger.warn(`rotation job ${job.id}: lease not released (${errorCodeOf(error)}); it will expire`);
      return job;
    }
  }
}
